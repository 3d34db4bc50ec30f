"""CPU of one reply's HTTP request, on the sending side only: the channel against bare clients.

The sandbox answers from its own thread, and only the sending thread's CPU time
(`time.thread_time`) is counted, so the figure is what a reply costs the `rasa run` event loop.
The loop is uvloop's, as under `rasa run`.
"""

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List

import aiohttp
import httpx

from bench.stats import summary
from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.sandbox.threaded import ThreadedSandbox

logger = logging.getLogger(__name__)

DID = "5492644710400"
USERNAME = "bench@sandbox"
PASSWORD = "bench-sandbox-password"  # noqa: S105 - an in-process sandbox's, not a secret
TEXT = "¡Hola! Soy Aynux, el asistente de Aynux Telecom. ¿En qué te puedo ayudar?"
BATCH = 25  # replies in flight at once, about what 50 users keep going

Send = Callable[[int], Awaitable[Any]]


async def _cpu_per_send(send: Send, sends: int, reps: int) -> List[float]:
    """µs of this thread's CPU per send, one value per repetition, after a warm-up."""
    await asyncio.gather(*(send(n) for n in range(BATCH)))
    values = []
    for _ in range(reps):
        started = time.thread_time()
        for first in range(0, sends, BATCH):
            await asyncio.gather(*(send(first + n) for n in range(BATCH)))
        values.append((time.thread_time() - started) / sends * 1e6)
    return values


def _body(n: int) -> Dict[str, Any]:
    return {"id": f"bare-{time.monotonic_ns()}-{n}", "did": DID, "msisdn": f"549110{n:07d}",
            "type": "text", "channel": "WHATSAPP", "content": TEXT, "name": "Aynux",
            "isAttachment": False}


async def _measure(url: str, sends: int, reps: int) -> Dict[str, List[float]]:
    channel = ChattigoInput.from_credentials({"base_url": url, "did": DID, "username": USERNAME,
                                              "password": PASSWORD, "bot_name": "Aynux",
                                              "allowed_ips": ["127.0.0.1/32"]})
    output = channel.get_output_channel()
    for n in range(BATCH):  # they wrote: replies inside the window, as in the e2e run
        channel.conversations.window.user_wrote(f"549110{n:07d}")
    inbound = f"{url}/webhooks/inbound"
    headers = {"Authorization": f"Bearer {await channel.client.login(DID)}"}
    try:
        async with aiohttp.ClientSession() as session, httpx.AsyncClient() as bare_httpx:
            async def via_aiohttp(n: int) -> None:
                async with session.post(inbound, json=_body(n), headers=headers) as answer:
                    await answer.read()
                    answer.raise_for_status()

            async def via_httpx(n: int) -> None:
                (await bare_httpx.post(inbound, json=_body(n), headers=headers)).raise_for_status()

            cases: Dict[str, Send] = {
                "channel": lambda n: output.send_text_message(f"549110{n % BATCH:07d}", TEXT),
                "bare_aiohttp": via_aiohttp, "bare_httpx": via_httpx}
            return {name: await _cpu_per_send(send, sends, reps) for name, send in cases.items()}
    finally:
        await channel.client.aclose()


def run(quick: bool = False) -> Dict[str, Any]:
    """µs of CPU per reply request: the channel (`ChattigoOutput`), bare aiohttp, bare httpx."""
    sends, reps = (50, 2) if quick else (1000, 5)
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with Sanic on Linux
        loop = asyncio.new_event_loop()
    with ThreadedSandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID]}) as sandbox:
        try:
            measured = loop.run_until_complete(_measure(sandbox.url, sends, reps))
        finally:
            loop.close()
    return {name: summary(values, "µs", 1) for name, values in measured.items()}
