"""What the bot says reaches the sandbox phone once and in order, even when Chattigo fails."""

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, List, Set, Tuple

import httpx
import pytest

from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.sandbox import RecordedMessage, Sandbox

from conftest import DID, PASSWORD, USER, channel_settings, load_fixture

KINDS = load_fixture("delivery", "kinds")["cases"]
PROSE = load_fixture("outbound", "prose_10000")["text"]


@asynccontextmanager
async def chattigo_channel(sandbox: Sandbox, **settings: Any) -> AsyncIterator[ChattigoInput]:
    """The channel as Rasa builds it from credentials.yml, pointed at the sandbox; closed after."""
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url, **settings))
    try:
        yield channel
    finally:
        await channel.delivery.outbox.stop()
        await channel.client.aclose()


@asynccontextmanager
async def output_channel(sandbox: Sandbox, **settings: Any) -> AsyncIterator[ChattigoOutput]:
    """The output channel Rasa gets from `get_output_channel()`, pointed at the sandbox."""
    async with chattigo_channel(sandbox, **settings) as channel:
        output = channel.get_output_channel()
        assert isinstance(output, ChattigoOutput)
        yield output


async def call(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> Any:
    """One request to the sandbox's own endpoints, checked for success."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        answer = await http.request(method, path, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.002)


def sent(sandbox: Sandbox, msisdn: str = USER) -> List[RecordedMessage]:
    return sandbox.state.select(direction="out", did=DID, msisdn=msisdn)


def without_id(payload: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "id"}


def assert_split_at_whitespace(original: str, parts: List[str]) -> None:
    """`parts` are `original` in order, with nothing but whitespace dropped between them."""
    position = 0
    for index, part in enumerate(parts):
        gap_end = position
        while index and gap_end < len(original) and original[gap_end].isspace():
            gap_end += 1
        assert original[gap_end:gap_end + len(part)] == part, f"part {index} differs"
        position = gap_end + len(part)
    assert original[position:].strip() == ""


@pytest.mark.parametrize(("settings", "limit", "count"),
                         [({}, 3000, 4), ({"max_text_length": 4096}, 4096, 3)],
                         ids=["chattigo-3000", "whatsapp-4096"])
async def test_a_10000_character_answer_arrives_split_at_max_text_length_in_order(
        sandbox, settings, limit, count):
    async with output_channel(sandbox, **settings) as output:
        await output.send_response(USER, {"text": PROSE})

    parts = [message.payload["content"] for message in sent(sandbox)]
    assert len(PROSE) == 10_000
    assert len(parts) == count
    assert all(0 < len(part) <= limit for part in parts)
    assert_split_at_whitespace(PROSE, parts)


@pytest.mark.parametrize("case", KINDS, ids=[case["name"] for case in KINDS])
async def test_each_response_kind_arrives_as_sent(sandbox, case):
    async with output_channel(sandbox, **case["settings"]) as output:
        await output.send_response(USER, case["response"])

    recorded = sandbox.state.select(direction="out")
    assert [(m.did, m.msisdn, m.kind, without_id(m.payload)) for m in recorded] == [
        (DID, expected["msisdn"], expected["kind"], expected["payload"])
        for expected in case["arrives"]
    ]
    assert sandbox.state.stats.rejected == 0
    for message in recorded:
        if "id" in message.payload:  # Chattigo's own format: our id is the one recorded
            assert message.payload["id"] == message.message_id != ""
    assert len({m.message_id for m in recorded}) == len(recorded)


@pytest.mark.parametrize(
    "case", [c for c in KINDS if any("phone" in a for a in c["arrives"])],
    ids=lambda case: case["name"],
)
async def test_the_conversation_view_shows_what_the_phone_shows(sandbox, case):
    async with output_channel(sandbox, **case["settings"]) as output:
        await output.send_response(USER, case["response"])

    view = await call(sandbox, "GET", f"/sandbox/conversations/{DID}/{USER}")
    assert [(m["direction"], m["text"]) for m in view["messages"]] == [
        ("out", expected["phone"]) for expected in case["arrives"]
    ]


async def test_native_buttons_go_to_the_cloud_api_path(sandbox):
    paths: List[str] = []

    async def remember(request: httpx.Request) -> None:
        paths.append(request.url.path)

    async with chattigo_channel(sandbox, buttons="native", cloud_api_version="v15.0") as channel:
        channel.client.http.event_hooks["request"].append(remember)
        output = channel.get_output_channel()
        for case in (c for c in KINDS if c["name"].startswith("native_")):
            await output.send_response(USER, case["response"])

    assert paths == ["/login", f"/v15.0/{DID}/messages", f"/v15.0/{DID}/messages"]
    assert sandbox.state.stats.accepted == 2
    assert [m.message_id.startswith("wamid.") for m in sent(sandbox)] == [True, True]


async def test_a_proactive_message_reaches_a_user_who_never_wrote(sandbox):
    newcomer = "5491100000000"
    async with output_channel(sandbox) as output:
        await output.send_response(newcomer, {"text": "Tu turno quedó confirmado."})

    [message] = sandbox.state.messages
    assert (message.direction, message.did, message.msisdn, message.payload["content"]) == (
        "out", DID, newcomer, "Tu turno quedó confirmado.")


# --- when every retry fails -------------------------------------------------------------------


@pytest.fixture
def issued_tokens(sandbox, monkeypatch) -> List[str]:
    """Every token the sandbox hands out, to prove none of them reaches a log."""
    tokens: List[str] = []
    issue = sandbox.tokens.issue

    def recording(username: str) -> str:
        tokens.append(issue(username))
        return tokens[-1]

    monkeypatch.setattr(sandbox.tokens, "issue", recording)
    return tokens


async def test_a_reply_that_cannot_be_delivered_now_is_kept_and_sent_later_in_order(
    sandbox, issued_tokens, caplog
):
    caplog.set_level(logging.DEBUG)
    async with output_channel(sandbox, max_attempts=3, backoff_seconds=0.001,
                              outbox_backoff_seconds=0.01) as output:
        # One fault more than the attempts: the outbox's first retry meets it.
        await call(sandbox, "POST", "/sandbox/faults", json={"mode": "500", "count": 4})
        await output.send_response(USER, {"text": "Este mensaje llega después"})  # no raise

        kept = [r for r in caplog.records if r.name == "rasa_chattigo.delivery._outbox"]
        assert [r.levelno for r in kept] == [logging.WARNING]
        assert USER in kept[0].getMessage()
        assert "Chattigo answered HTTP 500: injected fault: internal server error" in (
            kept[0].getMessage())
        assert sent(sandbox) == []

        await output.send_response(USER, {"text": "Este también, en orden"})
        await wait_until(lambda: len(sent(sandbox)) == 2)

    assert [m.payload["content"] for m in sent(sandbox)] == [
        "Este mensaje llega después", "Este también, en orden"]
    assert sandbox.state.stats.faults_injected == 4
    assert sandbox.state.stats.logins == 1
    assert len(issued_tokens) == 1
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert PASSWORD not in logged
    assert issued_tokens[0] not in logged


# --- the headline resilience test -------------------------------------------------------------

USERS = 20
REPLIES_PER_USER = 10
TOTAL = USERS * REPLIES_PER_USER
EXPIRE_AT = (60, 130)  # accepted sends after which all tokens are revoked

# Why these settings make the test deterministic and quick:
# - A stall holds the request 1.0 s and never answers; the client gives up after 0.3 s, far
#   above a local answer (a few ms) and far below the stall, so a stall is always a timeout
#   and a timeout is never a send the sandbox accepted (no duplicate ids).
# - Backoff 0.01 s and Retry-After 0.05 s keep ~90 faults cheap; the run takes ~2-4 s.
# - A reply is lost only if all of its attempts fail: 0.3 ** 15 * 200 = 3e-6 per run.
RESILIENCE = {"timeout": 0.3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05,
              "max_attempts": 15}
FAULTS = {"rate": 0.3, "modes": ["500", "429", "stall"], "seed": 20240611,
          "retry_after": 0.05, "stall_seconds": 1.0}


def user_number(index: int) -> str:
    return f"54911{index:08d}"


def reply_text(user: int, number: int) -> str:
    return f"Usuario {user}, respuesta {number + 1} de {REPLIES_PER_USER}"


class Conversations:
    """Twenty users, each answered ten times in turn, as Rasa answers one message after another."""

    def __init__(self, output: ChattigoOutput) -> None:
        self.output = output
        self.in_flight: Set[Tuple[int, int]] = set()

    async def user(self, index: int) -> None:
        for number in range(REPLIES_PER_USER):
            self.in_flight.add((index, number))
            await self.output.send_response(user_number(index), {"text": reply_text(index, number)})
            self.in_flight.discard((index, number))

    async def run(self) -> None:
        await asyncio.gather(*(self.user(index) for index in range(USERS)))


async def expire_tokens_twice(sandbox: Sandbox, talk: Conversations) -> List[int]:
    """Revokes every token twice mid-run; returns how many sends were accepted at each expiry."""
    stats = sandbox.state.stats
    accepted_then = []
    for threshold in EXPIRE_AT:
        await wait_until(lambda: stats.accepted >= threshold)
        if accepted_then:
            await wait_until(lambda: stats.logins >= 2)  # the first expiry was noticed
        await call(sandbox, "POST", "/sandbox/tokens/expire")
        accepted_then.append(stats.accepted)
    return accepted_then


async def abandoned_stalls_ended() -> None:
    """Waits out the stalls the client gave up on: the sandbox still holds them, and a handler
    left pending when the test's event loop closes is reported as a destroyed task."""
    def stalled() -> bool:
        return any(getattr(task.get_coro(), "__qualname__", "") == "RequestHandler._handle_request"
                   for task in asyncio.all_tasks() if not task.done())

    await asyncio.wait_for(wait_until(lambda: not stalled()), FAULTS["stall_seconds"] + 5)


async def test_200_replies_arrive_exactly_once_in_order_despite_faults_and_expiries(
    sandbox, caplog
):
    async with chattigo_channel(sandbox, **RESILIENCE) as channel:
        await call(sandbox, "POST", "/sandbox/faults", json=FAULTS)
        talk = Conversations(channel.get_output_channel())
        expiries = asyncio.create_task(expire_tokens_twice(sandbox, talk))
        await talk.run()
        await asyncio.wait({expiries}, timeout=5)
        expiries.cancel()  # only if a lost reply kept it waiting: the asserts below say more
        await call(sandbox, "DELETE", "/sandbox/faults")
        await abandoned_stalls_ended()

    stats = sandbox.state.stats
    recorded = sandbox.state.select(direction="out")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    retried = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert all(why in retried for why in ("HTTP 500", "HTTP 429", "ReadTimeout"))
    for index in range(USERS):
        assert [m.payload["content"] for m in sent(sandbox, user_number(index))] == [
            reply_text(index, number) for number in range(REPLIES_PER_USER)
        ]
    assert len(recorded) == len({m.message_id for m in recorded}) == TOTAL
    assert (stats.accepted, stats.duplicate_ids, stats.rejected) == (TOTAL, 0, 0)
    accepted_at_expiry = expiries.result()
    # One login to start, and exactly one more for each expiry that still had sends to come.
    expected_logins = 1 + sum(1 for accepted in accepted_at_expiry if accepted < TOTAL)
    assert stats.logins == channel.client.logins == expected_logins
    assert expected_logins == 1 + len(EXPIRE_AT)  # both expiries really happened mid-run


async def test_a_fresh_token_revoked_during_a_retry_is_renewed_again(sandbox):
    async with output_channel(sandbox, max_attempts=3) as output:
        await output.send_response(USER, {"text": "Primera"})
        await call(sandbox, "POST", "/sandbox/tokens/expire")
        await call(sandbox, "POST", "/sandbox/faults",
                   json={"mode": "429", "count": 1, "retry_after": 0.5})
        # The old token is refused (401), a new login follows, the retry meets the 429 and
        # waits 0.5 s; the new token is revoked during that wait.
        second = asyncio.create_task(output.send_response(USER, {"text": "Segunda"}))
        await wait_until(lambda: sandbox.state.stats.faults_injected == 1)
        await call(sandbox, "POST", "/sandbox/tokens/expire")
        await second

    assert [m.payload["content"] for m in sent(sandbox)] == ["Primera", "Segunda"]
    assert sandbox.state.stats.logins == 3
