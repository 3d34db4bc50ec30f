"""The webhook front's link and both of its ends' bookkeeping, over a real socket pair: the
relay in `rasa run` and the handover in the front (with a real intake in memory)."""

import asyncio
import socket
from typing import AsyncIterator, Tuple

import pytest

from rasa_chattigo.dedup import MemoryDedupStore
from rasa_chattigo.delivery import Inbox, Intake, MemoryStore
from rasa_chattigo.delivery._records import INBOX
from rasa_chattigo.errors import ProcessingFailed
from rasa_chattigo.front._front import front_store_url
from rasa_chattigo.front._link import Link, LinkClosed
from rasa_chattigo.front._relay import Relay
from rasa_chattigo.front._serve import Handover
from rasa_chattigo.inbound import InboundMessage
from rasa_chattigo.settings import parse_settings

MESSAGE = InboundMessage(sender_id="549264000001", text="hola", message_id="wamid.1",
                         business_number="5492644710400", kind="text", metadata={"a": [1]})


@pytest.fixture
async def pair() -> AsyncIterator[Tuple[Link, Link]]:
    ours, theirs = socket.socketpair()
    left, right = await Link.open(ours), await Link.open(theirs)
    yield left, right
    await left.close()
    await right.close()


async def test_an_operation_crosses_the_link_as_sent(pair: Tuple[Link, Link]) -> None:
    left, right = pair
    left.send("message", key="k", message={"text": "¿qué tal? 👋"})
    assert await right.receive() == {"op": "message", "key": "k",
                                     "message": {"text": "¿qué tal? 👋"}}


async def test_a_closed_end_reads_as_none_on_the_other(pair: Tuple[Link, Link]) -> None:
    left, right = pair
    await left.close()
    assert await right.receive() is None
    assert right.closed


@pytest.mark.parametrize("line", [b"not json\n", b"[1, 2]\n", b'{"key": "no op"}\n'])
async def test_a_line_that_is_not_an_operation_breaks_the_link(line: bytes) -> None:
    ours, theirs = socket.socketpair()
    link = await Link.open(ours)
    theirs.sendall(line)
    with pytest.raises(LinkClosed):
        await link.receive()
    theirs.close()
    await link.close()


async def test_the_relay_reports_each_outcome_once(pair: Tuple[Link, Link]) -> None:
    left, right = pair
    relay = Relay()
    relay.connect(left)
    assert relay.take("k1", kept_at=0.0)
    await relay.done("k1")
    await relay.done("k1")  # on its first reply, then at the end of the turn
    assert relay.take("k2", kept_at=0.0)
    await relay.retry_later("k2")
    left.send("end")
    assert [await right.receive() for _ in range(3)] == [
        {"op": "done", "key": "k1"}, {"op": "retry", "key": "k2"}, {"op": "end"}]


async def test_a_message_passed_on_again_while_it_runs_is_not_run_twice() -> None:
    relay = Relay()
    assert relay.take("k", kept_at=0.0)
    assert not relay.take("k", kept_at=0.0)


async def test_a_handled_message_passed_on_again_is_reported_done_not_run(
    pair: Tuple[Link, Link],
) -> None:
    left, right = pair
    relay = Relay()
    relay.connect(left)
    relay.take("k", kept_at=0.0)
    await relay.done("k")
    assert not relay.take("k", kept_at=0.0)  # a front that started again passes it on
    assert [await right.receive() for _ in range(2)] == [{"op": "done", "key": "k"}] * 2


async def test_outcomes_wait_for_the_next_front(pair: Tuple[Link, Link]) -> None:
    left, right = pair
    relay = Relay()
    relay.take("k", kept_at=0.0)
    await relay.stopped("k")  # no front running
    relay.connect(left)
    assert await right.receive() == {"op": "stopped", "key": "k"}


async def test_a_message_kept_over_an_hour_ago_is_not_retried() -> None:
    now = [10_000.0]
    relay = Relay(clock=lambda: now[0])
    relay.take("young", kept_at=now[0] - 60)
    relay.take("old", kept_at=now[0] - 3601)
    assert (relay.may_retry("young"), relay.may_retry("old")) == (True, False)


@pytest.fixture
def intake() -> Intake:
    return Intake(MemoryDedupStore(ttl_seconds=60), Inbox(MemoryStore(), "front-1"))


async def accepted(handover: Handover, intake: Intake, key: str) -> "asyncio.Future[None]":
    assert await intake.accept(key, MESSAGE.sender_id, MESSAGE)
    return handover.pass_on(key, MESSAGE.sender_id, MESSAGE, kept_at=1.5)


async def test_the_handover_passes_the_whole_message_on(pair: Tuple[Link, Link],
                                                        intake: Intake) -> None:
    left, right = pair
    handover = Handover(left, intake)
    await accepted(handover, intake, "k")
    received = await right.receive()
    assert received == {"op": "message", "key": "k", "sender_id": MESSAGE.sender_id,
                        "message": {**MESSAGE.__dict__}, "kept_at": 1.5}
    assert InboundMessage(**received["message"]) == MESSAGE
    assert handover.pending == 1


async def test_done_forgets_the_copy_and_answers_an_inline_webhook(
    pair: Tuple[Link, Link], intake: Intake,
) -> None:
    handover = Handover(pair[0], intake)
    done = await accepted(handover, intake, "k")
    assert [r.key for r in await intake.inbox.store.records(INBOX)] == ["k"]
    await handover.settle({"op": "done", "key": "k"})
    assert done.result() is None
    assert await intake.inbox.store.records(INBOX) == []
    assert (handover.pending, await intake.dedup.state("k")) == (0, "done")


async def test_retry_releases_the_claim_and_keeps_the_copy(pair: Tuple[Link, Link],
                                                          intake: Intake) -> None:
    handover = Handover(pair[0], intake)
    done = await accepted(handover, intake, "k")
    await handover.settle({"op": "retry", "key": "k"})
    with pytest.raises(ProcessingFailed):
        done.result()
    assert [r.key for r in await intake.inbox.store.records(INBOX)] == ["k"]
    assert await intake.dedup.claim("k")  # released: the next upkeep round claims it again


async def test_stopped_keeps_the_copy_for_the_next_start(pair: Tuple[Link, Link],
                                                        intake: Intake) -> None:
    handover = Handover(pair[0], intake)
    done = await accepted(handover, intake, "k")
    await handover.settle({"op": "stopped", "key": "k"})
    assert done.cancelled()
    assert [r.key for r in await intake.inbox.store.records(INBOX)] == ["k"]


async def test_done_for_a_message_an_earlier_front_kept_forgets_its_copy(
    pair: Tuple[Link, Link], intake: Intake,
) -> None:
    await intake.inbox.keep("old", MESSAGE.sender_id, MESSAGE)  # an earlier front's, not claimed
    assert [r.key for r in await intake.inbox.store.records(INBOX)] == ["old"]
    await Handover(pair[0], intake).settle({"op": "done", "key": "old"})
    assert await intake.inbox.store.records(INBOX) == []


async def test_the_handover_stops_accepting_once_closed_or_cut_off(
    pair: Tuple[Link, Link], intake: Intake,
) -> None:
    left, right = pair
    handover = Handover(left, intake)
    assert handover.accepting
    handover.close()
    assert not handover.accepting
    other = Handover(right, intake)
    await left.close()
    assert await right.receive() is None
    assert not other.accepting


@pytest.mark.parametrize(("settings", "url"), [
    ({"inbox_path": "/data/inbox.db"}, "sqlite:////data/inbox-front.db"),
    ({"inbox_path": "/data/inbox"}, "sqlite:////data/inbox-front.db"),
    ({"inbox_store": "memory"}, "memory"),
    ({"inbox_store": "redis://127.0.0.1:6379/0"}, "redis://127.0.0.1:6379/0"),
])
def test_the_front_keeps_a_sqlite_inbox_of_its_own_and_shares_the_others(settings, url) -> None:
    parsed = parse_settings({"did": "5492644710400", "username": "u", "password": "p",
                             **settings})
    assert front_store_url(parsed) == url
