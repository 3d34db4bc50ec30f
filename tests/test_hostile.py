"""Hostile conditions: fuzzed webhook bodies and triple redeliveries through a real Sanic server."""

import asyncio
import copy
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

import aiohttp
import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook, new_wamid

from conftest import (
    DID,
    Collector,
    channel_settings,
    requires_redis,
    serve_sanic,
)

Sanic.test_mode = True

INBOUND = Path(__file__).parent / "fixtures" / "inbound"
SEEDS = [json.loads(path.read_text()) for path in sorted(INBOUND.glob("*.json"))]
FIXTURE_DID = "5491140001234"  # the business number of most inbound fixtures
WEBHOOK = "/webhooks/chattigo/webhook"
TOKEN = "hostile-fuzz-token-0123456789"
MAX_BODY = 64 * 1024
EXAMPLES = 10_000
# 403: a mutated display_phone_number / did names a business number this channel does not
# serve; the channel refuses it (no credentials for it) rather than answering for someone else.
ALLOWED = {200, 400, 401, 403, 413}
SUMMARY_KEYS = {"status", "messages", "duplicates", "statuses", "ignored", "problems"}
REDIS_URL = "redis://127.0.0.1:6379/0"
USERS = [f"54926440{n:05d}" for n in range(20)]
PER_USER = 10

_fresh = itertools.count(1)
_DEEP = re.compile(r'"\\u0000deep:(\d+)"')


def make_app(channel: ChattigoInput, on_new_message: Any, name: str) -> Sanic:
    app = Sanic(f"hostile_{name}_{id(channel)}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


# --- fuzzing -----------------------------------------------------------------------------

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.text(st.characters(blacklist_categories=()), max_size=30),
)
# two levels of containers, not st.recursive: as hostile for the parser, a lot cheaper to draw
json_containers = st.lists(json_leaves, max_size=4) | st.dictionaries(
    st.text(max_size=8), json_leaves, max_size=4)
json_values = json_leaves | json_containers | st.lists(json_containers, max_size=3) \
    | st.dictionaries(st.text(max_size=8), json_containers, max_size=3)
huge_strings = st.builds(lambda char, n: char * n, st.sampled_from(["A", "ñ", "😀", "\u202e"]),
                         st.integers(2_000, 40_000))
MUTATIONS = ["delete", "retype", "wrap_list", "wrap_object", "huge", "unicode", "deep",
             "duplicate_list", "empty"]


def _slots(node: Any, out: List[Tuple[Any, Any]]) -> List[Tuple[Any, Any]]:
    """Every (container, key) pair under `node`: the places a mutation can hit."""
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        items = []
    for key, value in items:
        out.append((node, key))
        _slots(value, out)
    return out


def _refresh_ids(node: Any) -> None:
    """Gives every message a never-seen id of fixed width (the draws must not depend on it)."""
    if isinstance(node, dict):
        if "msisdn" in node and "id" in node:
            node["id"] = 10**9 + next(_fresh)
        if isinstance(node.get("messages"), list):
            for message in node["messages"]:
                if isinstance(message, dict) and "id" in message:
                    message["id"] = f"wamid.fuzz.{next(_fresh):08d}"
        for value in node.values():
            _refresh_ids(value)
    elif isinstance(node, list):
        for value in node:
            _refresh_ids(value)


def _mutate(draw: Any, body: Any) -> Any:
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(body, [])
        if not slots:
            return body
        parent, key = slots[draw(st.integers(0, len(slots) - 1))]
        value = parent[key]
        operation = draw(st.sampled_from(MUTATIONS))
        if operation == "delete":
            del parent[key]
        elif operation == "retype":
            parent[key] = draw(json_values)
        elif operation == "wrap_list":
            parent[key] = [value]
        elif operation == "wrap_object":
            parent[key] = {"value": value}
        elif operation == "huge":
            parent[key] = draw(huge_strings)
        elif operation == "unicode":
            parent[key] = draw(st.text(st.characters(blacklist_categories=()), min_size=1))
        elif operation == "deep":
            # within what Python's json can parse; deeper has its own test below
            parent[key] = f"\u0000deep:{draw(st.integers(1, 400))}"
        elif operation == "duplicate_list" and isinstance(value, list):
            parent[key] = value + value
        elif operation == "empty":
            parent[key] = type(value)() if isinstance(value, (str, list, dict)) else None
    return body


def _serialize(draw: Any, body: Any) -> bytes:
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    text = _DEEP.sub(lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def webhook_bodies(draw: Any) -> Tuple[str, bytes]:
    """(kind, raw body): mutated real fixtures mostly, plus the plainly hostile."""
    kind = draw(st.sampled_from(["mutated"] * 6 + ["seed", "truncated", "duplicated",
                                                   "arbitrary", "random", "oversized"]))
    if kind == "random":
        return kind, draw(st.binary(max_size=4096))
    if kind == "arbitrary":
        return kind, _serialize(draw, draw(json_values))
    body = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    if draw(st.integers(0, 9)) < 8:  # else it stays another business's webhook: 403
        body = json.loads(json.dumps(body).replace(f'"{FIXTURE_DID}"', f'"{DID}"'))
    if draw(st.integers(0, 9)) < 7:
        _refresh_ids(body)
    if kind == "mutated":
        body = _mutate(draw, body)
    elif kind == "duplicated":
        for parent, key in _slots(body, []):
            if key in ("messages", "entry", "changes") and isinstance(parent[key], list):
                parent[key] = parent[key] * draw(st.integers(2, 3))
    elif kind == "oversized":
        body["padding"] = "x" * (MAX_BODY + draw(st.integers(-64, 4096)))
    raw = _serialize(draw, body)
    if kind == "truncated":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    return kind, raw


def credentials_for(how: str) -> Dict[str, Any]:
    """Query params and headers carrying the token as Chattigo (or an intruder) would."""
    if how == "query":
        return {"params": {"token": TOKEN}}
    if how == "header":
        return {"headers": {"X-Webhook-Token": TOKEN}}
    if how == "bearer":
        return {"headers": {"Authorization": f"Bearer {TOKEN}"}}
    if how == "wrong":
        return {"params": {"token": TOKEN[:-1] + "X"}, "headers": {"X-Webhook-Token": "nope"}}
    return {"params": {"token": ""}} if how == "empty" else {}


auth_modes = st.sampled_from(["query"] * 5 + ["header", "bearer", "missing", "wrong", "empty"])
content_types = st.sampled_from(["application/json", "text/plain", None,
                                 "application/x-www-form-urlencoded", "multipart/form-data"])


@dataclass(frozen=True)
class Answer:
    """One webhook answer, read in full."""

    status: int
    content_type: str
    text: str
    grew: int  # how many messages the bot received while it was being handled


def _problem(answer: Answer, raw: bytes, how: str) -> str:
    """What is wrong with one answer, or "" when it is right."""
    if answer.status not in ALLOWED:
        return f"status {answer.status} not allowed"
    if answer.content_type != "application/json":
        return f"answer is {answer.content_type}, not JSON"
    try:
        payload = json.loads(answer.text)
    except ValueError:
        return "answer is not valid JSON"
    if TOKEN in answer.text:
        return "answer repeats the token"
    if answer.status != 200 and not (payload.get("status") == "error" and payload.get("reason")):
        return "error answer without a reason"
    if len(raw) > MAX_BODY:
        return "" if answer.status == 413 else "oversized body not refused with 413"
    if how not in ("query", "header", "bearer"):
        return "" if answer.status == 401 else "missing or wrong token not refused with 401"
    if answer.status in (401, 413):
        return "authorized body within the limit refused"
    if answer.status != 200:
        return ""
    if set(payload) != SUMMARY_KEYS or payload["status"] != "ok":
        return f"200 summary has keys {sorted(payload)}"
    if payload["messages"] != answer.grew:
        return f"answered {payload['messages']} messages, the bot got {answer.grew}"
    return ""


def test_ten_thousand_hostile_bodies_get_a_clean_answer_and_the_server_keeps_serving():
    collector = Collector()
    # inline: the bot has every accepted message before the answer, so the count is exact and
    # a crash while handing a message over shows as a 503 instead of vanishing in a log
    channel = ChattigoInput.from_credentials(channel_settings(
        ack="inline", webhook_token=TOKEN, max_body_bytes=MAX_BODY))
    loop = asyncio.new_event_loop()
    server = serve_sanic(make_app(channel, collector, "fuzz"))
    url = loop.run_until_complete(server.__aenter__())
    # aiohttp, not httpx: httpx 0.28 spends ~2 ms of client CPU per request, aiohttp ~0.4 ms
    http = loop.run_until_complete(_session())
    tally: Counter = Counter()
    by_kind: Counter = Counter()
    bad: List[str] = []

    async def deliver(raw: bytes, how: str, content_type: Any) -> Answer:
        before = len(collector.messages)
        kwargs = credentials_for(how)
        headers = dict(kwargs.pop("headers", {}))
        if content_type:
            headers["Content-Type"] = content_type
        async with http.post(url + WEBHOOK, data=raw, headers=headers, **kwargs) as answer:
            text = await answer.text(errors="replace")
            return Answer(answer.status, answer.content_type, text,
                          len(collector.messages) - before)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(body=webhook_bodies(), how=auth_modes, content_type=content_types)
    def fuzz(body: Tuple[str, bytes], how: str, content_type: Any) -> None:
        kind, raw = body
        answer = loop.run_until_complete(deliver(raw, how, content_type))
        tally[answer.status] += 1
        by_kind[f"{kind}:{answer.status}"] += 1
        problem = _problem(answer, raw, how)
        if problem:
            bad.append(f"{problem}: {kind} {how} {raw[:160]!r} -> {answer.text[:160]}")

    try:
        fuzz()
        final = build_cloud_webhook("text", did=DID, msisdn=USERS[0], text="¿sigues ahí?")
        last = loop.run_until_complete(deliver(json.dumps(final).encode(), "query", None))
    finally:
        loop.run_until_complete(http.close())
        loop.run_until_complete(server.__aexit__(None, None, None))
        loop.close()
    print(f"\nfuzz status tally ({sum(tally.values())} bodies): {dict(sorted(tally.items()))}")
    print("by kind:status:", dict(sorted(by_kind.items())))
    assert bad == [], f"{len(bad)} bad answers, the first ones:\n" + "\n".join(bad[:10])
    assert sum(tally.values()) >= EXAMPLES
    assert (last.status, json.loads(last.text)["messages"], last.grew) == (200, 1, 1)
    assert collector.messages[-1].text == "¿sigues ahí?"


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))


@pytest.mark.parametrize("depth", [1_000, 5_000, 30_000])
async def test_a_body_nested_deeper_than_the_recursion_limit_gets_400(collector, depth):
    channel = ChattigoInput.from_credentials(channel_settings(max_body_bytes=MAX_BODY))
    async with serve_sanic(make_app(channel, collector, "deep")) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post(WEBHOOK, content=b"[" * depth + b"]" * depth)
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"


# --- redelivery --------------------------------------------------------------------------

STORES = [pytest.param("memory", id="memory"),
          pytest.param(REDIS_URL, id="redis", marks=requires_redis)]


class Replier:
    """Stands in for Rasa: records each message and answers it through the real output channel."""

    def __init__(self) -> None:
        self.seen: List[Tuple[str, str]] = []

    async def __call__(self, message: Any) -> None:
        self.seen.append((message.sender_id, message.text))
        await message.output_channel.send_response(message.sender_id,
                                                   {"text": f"eco: {message.text}"})


def conversation() -> Dict[str, List[Tuple[str, Dict[str, Any]]]]:
    """20 users x 10 texts, each a real Cloud API webhook with its own wamid."""
    return {user: [(f"{user[-2:]}-{i}", build_cloud_webhook(
        "text", did=DID, msisdn=user, text=f"{user[-2:]}-{i}", message_id=new_wamid(user)))
        for i in range(PER_USER)] for user in USERS}


def wamid_of(body: Dict[str, Any]) -> str:
    return body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]


def replies_to(sandbox: Sandbox, user: str) -> List[str]:
    return [m.payload["content"] for m in sandbox.state.select(direction="out", msisdn=user)]


async def until(condition: Any, what: str) -> None:
    """Waits for `condition()`; a generous bound only turns a hang into a failure."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def deliver_three_times(urls: List[str], talk: Dict[str, Any], sandbox: Sandbox,
                              channels: List[ChattigoInput]) -> List[Dict[str, Any]]:
    """Every message 3 times to every url: even ones all at once, odd ones again after the reply.

    Users talk in parallel; each user's messages go in order. Returns every answer's JSON.
    """
    answers: List[Any] = []
    async with httpx.AsyncClient(timeout=30) as http:

        async def post(url: str, body: Dict[str, Any]) -> None:
            answer = await http.post(url + WEBHOOK, json=body)
            answers.append((answer.status_code, answer.json()))

        async def user_talks(user: str, messages: List[Tuple[str, Dict[str, Any]]]) -> None:
            for i, (text, body) in enumerate(messages):
                if i % 2 == 0:
                    await asyncio.gather(*(post(url, body) for url in urls * 3))
                    continue
                await asyncio.gather(*(post(url, body) for url in urls))
                await until(lambda: f"eco: {text}" in replies_to(sandbox, user), f"reply to {text}")
                await asyncio.gather(*(post(url, body) for url in urls * 2))

        await asyncio.gather(*(user_talks(user, messages) for user, messages in talk.items()))
    await until(lambda: all(c.dispatcher.pending == 0 for c in channels), "dispatchers drained")
    assert {status for status, _ in answers} == {200}
    return [payload for _, payload in answers]


def duplicate_replies(sandbox: Sandbox) -> int:
    counts = Counter(m.payload["content"] for m in sandbox.state.select(direction="out"))
    return sum(n - 1 for n in counts.values())


def assert_each_message_answered_once(sandbox: Sandbox, replier: Replier, talk: Dict[str, Any],
                                      answers: List[Dict[str, Any]], redeliveries: int) -> None:
    """No reply went out twice and Rasa saw each message once.

    The webhook answers counted each message once and `redeliveries` duplicates of it.
    """
    assert duplicate_replies(sandbox) == 0
    assert (sum(a["messages"] for a in answers), sum(a["duplicates"] for a in answers)) == (
        len(USERS) * PER_USER, redeliveries * len(USERS) * PER_USER)
    assert sorted(replier.seen) == sorted((u, t) for u, m in talk.items() for t, _ in m)


def forget(talk: Dict[str, Any]) -> None:
    """Deletes this conversation's dedup keys from Redis, so runs leave nothing behind."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    keys = [f"rasa_chattigo:dedup:{DID}:{wamid_of(body)}"
            for messages in talk.values() for _, body in messages]
    client.delete(*keys)
    client.close()


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("ack", ["background", "inline"])
async def test_a_message_delivered_three_times_is_answered_once_and_in_order(
        ack, store, sandbox):
    talk, replier = conversation(), Replier()
    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, ack=ack, dedup_store=store, dedup_ttl_seconds=600))
    try:
        async with serve_sanic(make_app(channel, replier, "redelivery")) as url:
            answers = await deliver_three_times([url], talk, sandbox, [channel])
    finally:
        if store != "memory":
            forget(talk)
    print(f"\nredelivery ack={ack} store={store.split(':')[0]}: "
          f"{len(sandbox.state.select(direction='out'))} replies, "
          f"{duplicate_replies(sandbox)} duplicate(s)")
    assert_each_message_answered_once(sandbox, replier, talk, answers, redeliveries=2)
    for user, messages in talk.items():
        assert replies_to(sandbox, user) == [f"eco: {text}" for text, _ in messages]


@requires_redis
@pytest.mark.parametrize("ack", ["background", "inline"])
async def test_two_instances_sharing_redis_answer_each_message_once(ack, sandbox):
    talk, replier = conversation(), Replier()
    channels = [ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, ack=ack, dedup_store=REDIS_URL, dedup_ttl_seconds=600))
        for _ in range(2)]
    try:
        async with serve_sanic(make_app(channels[0], replier, "one")) as one, \
                serve_sanic(make_app(channels[1], replier, "two")) as two:
            answers = await deliver_three_times([one, two], talk, sandbox, channels)
    finally:
        forget(talk)
    shuffled = [user for user, messages in talk.items()
                if replies_to(sandbox, user) != [f"eco: {text}" for text, _ in messages]]
    print(f"\ntwo instances ack={ack}: {len(sandbox.state.select(direction='out'))} "
          f"replies, {duplicate_replies(sandbox)} duplicate(s), "
          f"{len(shuffled)} user(s) answered out of order")
    assert_each_message_answered_once(sandbox, replier, talk, answers, redeliveries=5)
    assert sorted(m.payload["content"] for m in sandbox.state.select(direction="out")) == \
        sorted(f"eco: {t}" for m in talk.values() for t, _ in m)
