"""Channel-only costs, no model: parsing, payload building, sends per second and memory."""

import asyncio
import gc
import json
import logging
import time
import tracemalloc
from typing import Any, Dict

import httpx
from sanic import Sanic

from bench import bench_inbound, bench_outbound, send_cost
from bench.stats import from_bench_module, ratio, summary
from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
from rasa_chattigo.compat.sanic_api import serve_sanic
from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

logger = logging.getLogger(__name__)

DID = "5492644710400"
USERNAME = "bench@sandbox"
PASSWORD = "bench-sandbox-password"  # noqa: S105 - an in-process sandbox's, not a secret
CONCURRENT_REPLIES = 200
REPLY_TEXT = "¡Hola! Soy Aynux, el asistente de Aynux Telecom. ¿En qué te puedo ayudar?"


def _channel_settings(base_url: str) -> Dict[str, Any]:
    return {"base_url": base_url, "did": DID, "username": USERNAME, "password": PASSWORD,
            "bot_name": "Aynux", "allowed_ips": ["127.0.0.1/32"]}


async def _send_round(output: ChattigoOutput, replies: int) -> float:
    """Seconds to send `replies` texts to as many users, all at once."""
    start = time.perf_counter()
    await asyncio.gather(*(output.send_text_message(f"549110{n:07d}", REPLY_TEXT)
                           for n in range(replies)))
    return time.perf_counter() - start


async def _raw_round(http: httpx.AsyncClient, url: str, token: str, replies: int) -> float:
    """The baseline: the same payloads posted with a bare `httpx.AsyncClient`."""
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    await asyncio.gather(*(http.post(url, headers=headers, json={
        "id": f"raw-{time.monotonic_ns()}-{n}", "did": DID, "msisdn": f"549110{n:07d}",
        "type": "text", "channel": "WHATSAPP", "content": REPLY_TEXT, "name": "Aynux",
        "isAttachment": False}) for n in range(replies)))
    return time.perf_counter() - start


async def sends_per_second(reps: int, replies: int = CONCURRENT_REPLIES) -> Dict[str, Any]:
    """Sends/s through `ChattigoOutput` to an in-process sandbox, `replies` at a time.

    The baseline posts the same payloads with a bare pooled `httpx.AsyncClient` on httpx's own
    transport: what a hand-written connector would use.
    """
    async with Sandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID]}) as sandbox:
        channel = ChattigoInput.from_credentials(_channel_settings(sandbox.url))
        output = channel.get_output_channel()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        raw = httpx.AsyncClient(limits=limits)
        try:
            await _send_round(output, 10)  # warm: login and connections
            token = await channel.client.login(DID)
            await _raw_round(raw, f"{sandbox.url}/webhooks/inbound", token, 10)
            channel_rates, raw_rates = [], []
            for _ in range(reps):
                channel_rates.append(replies / await _send_round(output, replies))
                raw_rates.append(replies / await _raw_round(
                    raw, f"{sandbox.url}/webhooks/inbound", token, replies))
            accepted = sandbox.state.stats.accepted
            logins = sandbox.state.stats.logins
        finally:
            await raw.aclose()
            await channel.client.aclose()
    expected = 2 * reps * replies + 10 + 10
    if accepted != expected:
        raise RuntimeError(f"sandbox accepted {accepted} sends, expected {expected}")
    chattigo = summary(channel_rates, "sends/s", 1)
    baseline = summary(raw_rates, "sends/s", 1)
    return {"chattigo": chattigo, "baseline_bare_httpx": baseline,
            "ratio": ratio(chattigo, baseline), "concurrent": replies,
            "sends_through_channel": reps * replies + 10, "logins": logins}


def _channel_bytes(snapshot: tracemalloc.Snapshot, base: tracemalloc.Snapshot) -> int:
    """Bytes still allocated since `base` from a call path through rasa_chattigo."""
    ours = [tracemalloc.Filter(True, "*rasa_chattigo*", all_frames=True)]
    return sum(stat.size_diff for stat in
               snapshot.filter_traces(ours).compare_to(base.filter_traces(ours), "filename"))


async def _memory_once(conversations: int, rep: int) -> Dict[str, float]:
    """Channel bytes per conversation while `conversations` messages are in flight, and after."""
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    handed = [0]

    def bot(message: Any) -> "asyncio.Future[None]":
        # A stand-in for Rasa that holds every message until released, allocating nothing of
        # its own: so what stays allocated is the channel's.
        handed[0] += 1
        return gate

    # every conversation is held in flight at once: the backlog must not refuse any
    channel = ChattigoInput.from_credentials({**_channel_settings("http://127.0.0.1:9"),
                                              "max_pending_messages": conversations + 1})
    app = Sanic(f"bench_memory_{rep}", configure_logging=False)
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/chattigo")
    bodies = [json.dumps(build_cloud_webhook(
        "text", did=DID, msisdn=f"54930{rep}{n:06d}", name="Bench",
        message_id=f"wamid.MEM{rep}{n:07d}", text="quiero ver los planes")).encode()
        for n in range(conversations + 1)]
    async with serve_sanic(app) as url, httpx.AsyncClient(base_url=url) as http:
        async def post(body: bytes) -> None:
            answer = await http.post("/webhooks/chattigo/webhook", content=body)
            answer.raise_for_status()

        async def handed_over(count: int) -> None:
            while handed[0] < count:
                await asyncio.sleep(0.01)

        await post(bodies.pop())  # warm-up: first-use allocations are not per conversation
        await handed_over(1)
        gc.collect()
        tracemalloc.start(25)
        try:
            base = tracemalloc.take_snapshot()
            for start in range(0, conversations, 50):
                await asyncio.gather(*(post(b) for b in bodies[start:start + 50]))
            await handed_over(conversations + 1)
            gc.collect()
            in_flight = _channel_bytes(tracemalloc.take_snapshot(), base)
            gate.set_result(None)
            while channel.dispatcher.pending:
                await asyncio.sleep(0.01)
            gc.collect()
            processed = _channel_bytes(tracemalloc.take_snapshot(), base)
        finally:
            tracemalloc.stop()
    return {"in_flight": in_flight / conversations * 1000,
            "processed": processed / conversations * 1000}


async def memory_per_1000(reps: int, conversations: int = 1000) -> Dict[str, Any]:
    """KiB the channel holds per 1,000 active conversations ('active': docs/benchmarks.md)."""
    runs = [await _memory_once(conversations, rep) for rep in range(reps)]
    return {
        "in_flight": summary([r["in_flight"] / 1024 for r in runs], "KiB", 1),
        "processed": summary([r["processed"] / 1024 for r in runs], "KiB", 1),
        "conversations_measured": conversations,
    }


def run(quick: bool = False) -> Dict[str, Any]:
    """All channel-only figures; `quick` uses tiny loads and one repetition."""
    reps = 1 if quick else 5
    inbound, outbound = bench_inbound.run(), bench_outbound.run()
    return {
        "parse_webhook": {case: from_bench_module(r) for case, r in inbound.items()},
        "build_requests": {case: from_bench_module(r) for case, r in outbound.items()},
        "sends": asyncio.run(sends_per_second(reps, 20 if quick else CONCURRENT_REPLIES)),
        "send_cpu": send_cost.run(quick),
        "memory": asyncio.run(memory_per_1000(1 if quick else 3, 50 if quick else 1000)),
    }
