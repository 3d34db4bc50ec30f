"""A turn that fails because a store is down: tried again before the user's next message,
never after it replied; an unreadable inbox record stops neither the upkeep nor the outbox;
an inline 503 and Chattigo's redeliveries racing the upkeep still process a message once."""

import asyncio
import contextlib
import uuid
from typing import Any, AsyncIterator, List

import httpx
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.dedup import MemoryDedupStore
from rasa_chattigo.delivery import INBOX, OUTBOX, Inbox, Intake, MemoryStore, Record, open_store
from rasa_chattigo.inbound import InboundMessage
from rasa_chattigo.outbound import SendContext, build_requests
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

from conftest import DID, channel_settings, serve_sanic

Sanic.test_mode = True
WEBHOOK = "/webhooks/chattigo/webhook"
TOKEN = "review-webhook-token-0123456789abcdef"
AUTH = {"X-Webhook-Token": TOKEN}


def make_app(channel: ChattigoInput, on_new_message: Any) -> Sanic:
    app = Sanic(f"review_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


def body(user: str, text: str, wamid: str) -> Any:
    return build_cloud_webhook("text", did=DID, msisdn=user, text=text, message_id=wamid)


async def test_a_message_retried_later_is_not_overtaken_by_the_users_next_message():
    from rasa.core.lock_store import LockError

    handled: List[str] = []
    failed_once: List[str] = []

    async def bot(message: Any) -> None:
        if message.text == "first" and not failed_once:
            failed_once.append(message.text)
            raise LockError("Could not acquire lock")  # a "passing" failure
        handled.append(message.text)

    channel = ChattigoInput.from_credentials(channel_settings(
        webhook_token=TOKEN, inbox_store="memory", delivery_lease_seconds=0.3))
    user = "5491100000101"
    async with serve_sanic(make_app(channel, bot)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            assert (await http.post(WEBHOOK, json=body(user, "first", "wamid.R1"))).status_code \
                == 200
            assert (await http.post(WEBHOOK, json=body(user, "second", "wamid.R2"))).status_code \
                == 200
            for _ in range(300):
                if len(handled) == 2:
                    break
                await asyncio.sleep(0.01)
    assert handled == ["first", "second"]


async def test_replies_are_not_sent_again_when_the_turn_fails_after_sending(sandbox):
    from sqlalchemy.exc import OperationalError

    turns: List[str] = []

    async def bot(message: Any) -> None:
        turns.append(message.message_id)
        await message.output_channel.send_text_message(message.sender_id, "respuesta")
        # e.g. the tracker save failing for this tracker every time (statement timeout,
        # MySQL max_allowed_packet), or a Redis lock-store blip in the lock's cleanup
        raise OperationalError("UPDATE events ...", {}, Exception("canceling statement due "
                                                                  "to statement timeout"))

    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, webhook_token=TOKEN, inbox_store="memory",
        delivery_lease_seconds=0.3))
    user = "5491100000102"
    async with serve_sanic(make_app(channel, bot)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            assert (await http.post(WEBHOOK, json=body(user, "hola", "wamid.R3"))).status_code \
                == 200
            await asyncio.sleep(1.2)  # about 4 upkeep rounds
    await channel.client.aclose()
    replies = [m.payload["content"] for m in sandbox.state.select(direction="out", msisdn=user)]
    print("turns:", len(turns), "replies:", replies)
    assert replies == ["respuesta"]  # once, and no fallback reply after it


async def test_an_unreadable_inbox_record_does_not_stop_the_outbox(sandbox, caplog):
    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, webhook_token=TOKEN, inbox_store="memory",
        delivery_lease_seconds=0.3))
    store = channel.delivery.store
    # left by a later version of the package (a field this one does not know), then rolled back
    await store.put(Record(INBOX, f"{DID}:wamid.bad", "u1", {
        "sender_id": "u1", "message": {"message_id": "wamid.bad", "sender_id": "u1",
                                       "text": "x", "business_number": DID, "kind": "text",
                                       "metadata": {}, "new_field": 1}}, owner="gone"))
    user = "5491100000103"
    context = SendContext(did=DID, msisdn=user, bot_name="Aynux",
                          channel=channel.settings.channel, text_limit=4096)
    [text] = build_requests({"text": "kept reply"}, context, channel.settings)
    await store.put(Record(OUTBOX, text.message_id, user, {
        "did": DID, "path": text.path, "json": text.json, "kind": text.kind,
        "recipient": text.recipient, "message_id": text.message_id}, owner="gone"))

    async def bot(message: Any) -> None:
        pass

    async with serve_sanic(make_app(channel, bot)):
        await asyncio.sleep(1.0)
    await channel.client.aclose()
    assert [r.key for r in await store.records(OUTBOX)] == []  # delivered
    assert [r.key for r in await store.records(INBOX)] == [f"{DID}:wamid.bad"]  # left alone
    unreadable = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(unreadable) == 1  # logged once, not at every round
    assert not [r for r in caplog.records if "upkeep failed a round" in r.getMessage()]


async def test_inline_503_then_redeliveries_racing_the_upkeep_process_the_message_once():
    from rasa.core.lock_store import LockError

    calls: List[str] = []
    done: List[str] = []

    async def bot(message: Any) -> None:
        calls.append(message.message_id)
        if len(calls) == 1:
            raise LockError("Could not acquire lock")
        await asyncio.sleep(0.15)  # a slow turn, spanning upkeep rounds and redeliveries
        done.append(message.message_id)

    channel = ChattigoInput.from_credentials(channel_settings(
        webhook_token=TOKEN, inbox_store="memory", delivery_lease_seconds=0.3, ack="inline"))
    user = "5491100000104"
    statuses = []
    async with serve_sanic(make_app(channel, bot)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            statuses.append((await http.post(WEBHOOK, json=body(user, "hola", "wamid.R5")))
                            .status_code)
            answers = await asyncio.gather(*[
                http.post(WEBHOOK, json=body(user, "hola", "wamid.R5")) for _ in range(8)])
            statuses += [a.status_code for a in answers]
            for _ in range(100):
                await asyncio.sleep(0.05)
                statuses.append((await http.post(
                    WEBHOOK, json=body(user, "hola", "wamid.R5"))).status_code)
                if done and not channel.dispatcher.pending:
                    break
            assert await channel.delivery.store.records(INBOX) == []
    assert statuses[0] == 503
    assert done == ["wamid.R5"]
    assert len(calls) == 2


async def test_the_hour_of_retries_counts_from_when_the_message_was_kept_across_a_restart(
        monkeypatch):
    monkeypatch.setattr("rasa_chattigo.delivery._intake.RETRY_FOR_SECONDS", 0.2)
    store, dedup = MemoryStore(), MemoryDedupStore(ttl_seconds=60)
    message = InboundMessage(sender_id="u", text="hola", message_id="wamid.R4",
                             business_number=DID, kind="text", metadata={})
    first = Intake(dedup, Inbox(store, "owner-1"))
    assert await first.accept("k", "u", message)
    assert first.may_retry("k")
    await first.abandon()  # a restart: released, kept
    await store.retire("owner-1")
    await asyncio.sleep(0.3)
    second = Intake(dedup, Inbox(store, "owner-2"))
    [kept] = await second.resume()
    assert (kept.key, kept.message) == ("k", message)
    assert not second.may_retry("k")  # kept 0.3 s ago: the bound is not started again


async def test_a_turn_cut_short_by_shutdown_after_it_replied_is_not_kept_to_run_again(sandbox):
    replied = asyncio.Event()

    async def bot_still_thinking_after_its_reply(message: Any) -> None:
        await message.output_channel.send_text_message(message.sender_id, "respuesta")
        replied.set()
        await asyncio.sleep(60)  # e.g. its next action, or the tracker save

    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, webhook_token=TOKEN, inbox_store="memory"))
    async with serve_sanic(make_app(channel, bot_still_thinking_after_its_reply)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            await http.post(WEBHOOK, json=body("5491100000104", "hola", "wamid.R6"))
            await replied.wait()
            assert await channel.dispatcher.drain(0.1) == 1  # the shutdown grace runs out
            assert await channel.delivery.intake.abandon() == []
            assert await channel.delivery.store.records(INBOX) == []
    await channel.client.aclose()


class BotHoldingItsTurn:
    """A bot that sends `response`, then holds its turn open (its next prediction, the tracker
    save) until `release` is set; `replied` is set once the response went out."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.replied, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, message: Any) -> None:
        await message.output_channel.send_response(message.sender_id, self.response)
        self.replied.set()
        await self.release.wait()


@contextlib.asynccontextmanager
async def turn_held_open(sandbox: Any, tmp_path: Any, bot: BotHoldingItsTurn, user: str,
                         wamid: str) -> AsyncIterator[ChattigoInput]:
    """A channel with a SQLite inbox whose bot got one message and replied, its turn held
    open; afterwards the turn ends and every message is finished."""
    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, webhook_token=TOKEN, inbox_path=str(tmp_path / "inbox.db")))
    async with serve_sanic(make_app(channel, bot)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            await http.post(WEBHOOK, json=body(user, "hola", wamid))
            await asyncio.wait_for(bot.replied.wait(), 10)
            yield channel
            bot.release.set()
            assert await channel.dispatcher.drain(5) == 0
    await channel.client.aclose()


async def test_a_turn_that_replied_is_settled_before_it_ends_so_a_crash_cannot_repeat_it(
        sandbox, tmp_path):
    bot = BotHoldingItsTurn({"text": "respuesta"})
    async with turn_held_open(sandbox, tmp_path, bot, "5491100000105", "wamid.R7") as channel:
        # a kill -9 now leaves nothing for the next start or another instance to repeat
        assert await channel.delivery.store.records(INBOX) == []
        assert await channel.dedup.state(f"{DID}:wamid.R7") == "done"
    replies = [m.payload["content"] for m in sandbox.state.select(direction="out",
                                                                  msisdn="5491100000105")]
    assert replies == ["respuesta"]


async def test_a_turn_that_handed_off_stays_kept_until_its_pause_is_recorded(sandbox, tmp_path):
    bot = BotHoldingItsTurn({"text": "Te paso con una persona", "custom": {"type": "transfer"}})
    async with turn_held_open(sandbox, tmp_path, bot, "5491100000106", "wamid.R8") as channel:
        # a kill -9 now: the next start runs the turn again, and the pause is recorded
        assert [r.key for r in await channel.delivery.store.records(INBOX)] == [
            f"{DID}:wamid.R8"]
    left = open_store(f"sqlite:///{tmp_path / 'inbox.db'}")  # once the pause is recorded
    assert await left.records(INBOX) == []
    await left.aclose()
