"""A tiny webhook receiver on 127.0.0.1 recording what the sandbox posts (tests and demos)."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from aiohttp import web

from rasa_chattigo.sandbox.serving import Served, serve_app


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST the receiver got: its decoded JSON body and its headers."""

    body: Any
    headers: Dict[str, str]
    path: str


@dataclass
class WebhookReceiver(Served):
    """Records every POST to any path and answers with `status` and `answer`.

    Usage::

        async with WebhookReceiver() as receiver:
            ...  # register receiver.url("/webhook"); then inspect receiver.received

    Attributes:
        status: the HTTP status to answer with.
        answer: the JSON body to answer with.
    """

    status: int = 200
    answer: Any = field(default_factory=lambda: {"status": "ok"})
    received: List[ReceivedWebhook] = field(default_factory=list)
    _runner: Optional[web.AppRunner] = None
    _port: int = 0
    _arrived: Optional[asyncio.Event] = None

    def url(self, path: str = "/webhook") -> str:
        """The absolute URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self._port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.received.append(ReceivedWebhook(body, dict(request.headers), request.path))
        if self._arrived is not None:
            self._arrived.set()
        return web.json_response(self.answer, status=self.status)

    async def wait_for(self, count: int, timeout: float = 5.0) -> List[ReceivedWebhook]:
        """Waits until `count` webhooks arrived (or `timeout` passed); returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count and loop.time() < deadline:
            self._arrived = asyncio.Event()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
        return list(self.received)

    async def start(self) -> None:
        """Serves on 127.0.0.1, on a free port (see `url`)."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self._port = await serve_app(app, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stops serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
