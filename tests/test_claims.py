"""Claims that cannot strand a message: every way a claim ends leaves it handled or claimable."""

import asyncio
import uuid
from typing import Any, List, Optional, Tuple

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.compat import redis_api
from rasa_chattigo.credentials import provider_from_settings
from rasa_chattigo.dedup import RedisDedupStore
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook
from rasa_chattigo.settings import parse_settings

from conftest import DID, Collector, channel_settings, requires_redis, serve_sanic

WEBHOOK = "/webhooks/chattigo/webhook"
REDIS_PORT = 6379
Sanic.test_mode = True


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 in front of Redis that swallows the replies to the next
    `drops` commands mentioning `needle` (Redis applies them; the client never hears back).
    """

    def __init__(self, needle: bytes, drops: int) -> None:
        self.needle, self.drops, self.dropped = needle, drops, 0
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: List[asyncio.Task[None]] = []

    async def __aenter__(self) -> "DroppingProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", REDIS_PORT)
        swallow = [0]
        self._tasks += [asyncio.ensure_future(self._up(client_r, redis_w, swallow)),
                        asyncio.ensure_future(self._down(redis_r, client_w, swallow))]

    async def _up(self, reader: Any, writer: Any, swallow: List[int]) -> None:
        while chunk := await reader.read(65536):
            if self.needle in chunk and self.drops > 0:
                self.drops -= 1
                swallow[0] += 1
            writer.write(chunk)
            await writer.drain()
        writer.close()

    async def _down(self, reader: Any, writer: Any, swallow: List[int]) -> None:
        while chunk := await reader.read(65536):
            if swallow[0]:
                swallow[0] -= 1
                self.dropped += 1
                continue
            writer.write(chunk)
            await writer.drain()
        writer.close()


def make_app(channel: ChattigoInput, on_new_message: Any) -> Sanic:
    app = Sanic(f"test_claims_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


def webhook(wamid: str) -> Any:
    return build_cloud_webhook("text", did=DID, msisdn="5491100000077", text="hola",
                               message_id=wamid)


async def deliver_twice(drops: int, ack: str) -> Tuple[List[Any], Collector, DroppingProxy]:
    """One message through a channel whose Redis claims pass the proxy, then its redelivery."""
    wamid = f"wamid.{uuid.uuid4().hex}"
    namespace = f"claims_{uuid.uuid4().hex[:8]}"
    async with DroppingProxy(f"{DID}:{wamid}".encode(), drops) as proxy:
        dedup = RedisDedupStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", ttl_seconds=600,
                                         namespace=namespace)
        settings = parse_settings(channel_settings(ack=ack, store_namespace=namespace))
        channel = ChattigoInput(settings, provider_from_settings(settings), dedup=dedup)
        collector, answers = Collector(), []
        async with serve_sanic(make_app(channel, collector)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                for _ in range(2):
                    answer = await http.post(WEBHOOK, json=webhook(wamid))
                    answers.append((answer.status_code, answer.json().get("messages")))
    return answers, collector, proxy


@requires_redis
@pytest.mark.parametrize("ack", ["inline", "background"])
async def test_a_claim_whose_answer_was_lost_is_checked_and_processed_once(ack):
    answers, collector, proxy = await deliver_twice(drops=1, ack=ack)
    assert proxy.dropped == 1
    assert answers == [(200, 1), (200, 0)]
    assert [m.text for m in collector.messages] == ["hola"]


@requires_redis
@pytest.mark.parametrize("ack", ["inline", "background"])
async def test_a_claim_redis_never_ran_is_made_again_not_taken_as_handled(ack):
    # With the script not loaded, Redis answers the claim with NOSCRIPT; that answer is lost,
    # so Redis holds nothing for the message and the claim must be made again.
    import redis.asyncio

    client = redis.asyncio.Redis(host="127.0.0.1", port=REDIS_PORT)
    try:
        await client.script_flush()
    finally:
        await redis_api.close_client(client)
    answers, collector, proxy = await deliver_twice(drops=1, ack=ack)
    assert proxy.dropped == 1
    assert answers == [(200, 1), (200, 0)]
    assert [m.text for m in collector.messages] == ["hola"]


@requires_redis
@pytest.mark.parametrize("ack", ["inline", "background"])
async def test_a_claim_applied_with_its_answer_and_the_check_lost_is_processed_on_redelivery(ack):
    answers, collector, proxy = await deliver_twice(drops=2, ack=ack)
    assert proxy.dropped == 2
    assert answers == [(503, None), (200, 1)]
    assert [m.text for m in collector.messages] == ["hola"]
