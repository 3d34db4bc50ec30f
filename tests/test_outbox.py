"""The outbox against the real sandbox: replies Chattigo refused are kept, retried in order."""

import asyncio
import time
from pathlib import Path
from typing import Any, List

import pytest

from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.cli import main
from rasa_chattigo.delivery import GIVEN_UP, KEPT, OUTBOX, PENDING, REFUSED, SENT, Record
from rasa_chattigo.outbound import OutboundRequest, SendContext, build_requests
from rasa_chattigo.sandbox import Sandbox

from conftest import DID, USER, channel_settings, one_user_sandbox

OTHER_USER = "5492644000777"


def make_channel(sandbox: Sandbox, tmp_path: Path, **settings: Any) -> ChattigoInput:
    return ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, inbox_path=str(tmp_path / "inbox.db"), max_attempts=2,
        backoff_seconds=0.01, outbox_backoff_seconds=0.05, outbox_max_backoff_seconds=0.2,
        **settings))


def output_of(channel: ChattigoInput) -> ChattigoOutput:
    output = channel.get_output_channel()
    assert isinstance(output, ChattigoOutput)
    return output


async def cli(*args: str) -> int:
    """`rasa-chattigo ARGS` (it runs its own event loop, so in a thread here)."""
    return await asyncio.get_running_loop().run_in_executor(None, main, list(args))


def texts_sent(sandbox: Sandbox, msisdn: str = USER) -> List[str]:
    return [m.payload["content"] for m in sandbox.state.select(direction="out", did=DID,
                                                               msisdn=msisdn)]


async def kept(channel: ChattigoInput) -> List[Record]:
    return await channel.delivery.store.records(OUTBOX)


async def until(condition: Any) -> None:
    while not await condition():
        await asyncio.sleep(0.01)


async def test_replies_refused_during_an_outage_are_delivered_after_it_in_order(tmp_path):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path)
        output = output_of(channel)
        sandbox.faults.configure({"mode": "500", "count": 1_000_000})  # down until cleared
        for n in range(4):
            await output.send_response(USER, {"text": f"respuesta {n}"})

        async def all_kept() -> bool:
            return len(await kept(channel)) == 4 and all(r.attempts >= 2 for r in
                                                         (await kept(channel))[:1])
        await until(all_kept)
        assert texts_sent(sandbox) == []
        sandbox.faults.clear()

        async def outbox_empty() -> bool:
            return not await kept(channel)
        await until(outbox_empty)
        assert texts_sent(sandbox) == [f"respuesta {n}" for n in range(4)]
        await channel.delivery.outbox.stop()
        await channel.client.aclose()


async def test_a_long_retry_after_is_honoured_without_holding_up_other_users(tmp_path):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path)
        output = output_of(channel)
        sandbox.faults.configure({"mode": "429", "count": 1, "retry_after": 60})
        before = time.time()
        await output.send_response(USER, {"text": "espera"})
        await output.send_response(OTHER_USER, {"text": "pasa"})
        [record] = await kept(channel)
        assert (record.conversation, record.state) == (USER, PENDING)
        assert record.next_at - before >= 60
        assert texts_sent(sandbox, OTHER_USER) == ["pasa"]
        assert texts_sent(sandbox) == []
        await channel.delivery.outbox.stop()
        await channel.client.aclose()


async def test_a_reply_older_than_the_max_age_is_given_up_and_managed_by_the_cli(
        tmp_path, capsys, caplog):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path, outbox_max_age_seconds=0.2)
        sandbox.faults.configure({"mode": "500", "count": 1_000_000})
        await output_of(channel).send_response(USER, {"text": "tarde"})

        async def given_up() -> bool:
            return [r.state for r in await kept(channel)] == [GIVEN_UP]
        await until(given_up)
        [record] = await kept(channel)
        await channel.delivery.outbox.stop()
        await channel.client.aclose()
    assert f"Reply {record.key} to {USER} given up" in caplog.text
    store = ["--store", f"sqlite:///{tmp_path / 'inbox.db'}"]
    assert await cli("outbox", "list", *store) == 0
    assert record.key in capsys.readouterr().out
    assert await cli("outbox", "retry", "--given-up", *store) == 0
    assert "1 reply(ies) queued" in capsys.readouterr().out
    assert await cli("outbox", "drop", record.key, *store) == 0
    assert await cli("outbox", "list", *store) == 0
    assert capsys.readouterr().out.endswith("The outbox is empty.\n")


async def test_a_retried_reply_is_taken_up_by_a_running_instance(tmp_path, capsys):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path, outbox_max_age_seconds=0.2)
        sandbox.faults.configure({"mode": "500", "count": 1_000_000})
        await output_of(channel).send_response(USER, {"text": "otra vez"})

        async def given_up() -> bool:
            return [r.state for r in await kept(channel)] == [GIVEN_UP]
        await until(given_up)
        sandbox.faults.clear()
        store = ["--store", f"sqlite:///{tmp_path / 'inbox.db'}"]
        assert await cli("outbox", "retry", "--given-up", *store) == 0
        assert await channel.delivery.outbox.adopt() == 1  # what the upkeep does periodically

        async def delivered() -> bool:
            return not await kept(channel)
        await until(delivered)
        assert texts_sent(sandbox) == ["otra vez"]
        await channel.delivery.outbox.stop()
        await channel.client.aclose()


@pytest.mark.parametrize("args,error", [
    (["outbox", "retry"], "name reply ids, or --given-up"),
    (["outbox", "drop", "no-such-id"], "not in the outbox: no-such-id"),
])
def test_the_cli_refuses_what_it_cannot_do(tmp_path, capsys, args, error):
    assert main([*args, "--store", f"sqlite:///{tmp_path / 'inbox.db'}"]) == 1
    assert error in capsys.readouterr().err


async def test_send_says_whether_a_reply_went_out_was_kept_or_was_refused(tmp_path):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path)
        outbox = channel.delivery.outbox
        told: List[str] = []

        async def delivered(did: str, conversation: str, request: OutboundRequest) -> None:
            told.append(f"{conversation}: {request.kind}")
        outbox.delivered = delivered
        context = SendContext(did=DID, msisdn=USER, bot_name="Aynux",
                              channel=channel.settings.channel, text_limit=4096)
        [text] = build_requests({"text": "hola"}, context, channel.settings)
        assert await outbox.send(DID, USER, text) == SENT
        refused = OutboundRequest(text.path, {**text.json, "channel": None}, USER, "m-2")
        assert await outbox.send(DID, USER, refused) == REFUSED  # Chattigo answers 400
        sandbox.faults.configure({"mode": "500", "count": 1_000_000})
        [transfer] = build_requests({"custom": {"type": "transfer"}}, context, channel.settings)
        assert transfer.kind == "transfer"
        assert await outbox.send(DID, USER, transfer) == KEPT
        assert told == []
        sandbox.faults.clear()

        async def heard() -> bool:
            return told == [f"{USER}: transfer"]
        await until(heard)
        await outbox.stop()
        await channel.client.aclose()


async def test_replies_queued_behind_a_late_hand_off_are_given_up_not_sent_after_it(tmp_path):
    async with one_user_sandbox() as sandbox:
        channel = make_channel(sandbox, tmp_path)
        output = output_of(channel)
        sandbox.faults.configure({"mode": "500", "count": 1_000_000})
        await output.send_response(USER, {"text": "Te paso con una persona",
                                          "custom": {"type": "transfer"}})
        await output.send_response(USER, {"text": "¿Algo más?"})  # the bot, not paused yet
        assert [r.body["kind"] for r in await kept(channel)] == ["message", "transfer",
                                                                 "message"]
        sandbox.faults.clear()

        async def settled() -> bool:
            return [r.state for r in await kept(channel)] == [GIVEN_UP]
        await until(settled)
        sent = [m.payload for m in sandbox.state.select(direction="out", did=DID, msisdn=USER)]
        assert [(m["type"], m.get("content")) for m in sent] == [
            ("text", "Te paso con una persona"), ("transfer", sent[1].get("content"))]
        [late] = await kept(channel)
        assert late.body["json"]["content"] == "¿Algo más?"
        assert late.error == "the chat went to an agent before it could go"
        await channel.delivery.outbox.stop()
        await channel.client.aclose()
