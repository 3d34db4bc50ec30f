"""The sandbox server: an aiohttp application standing in for Chattigo, startable in-process."""

import logging
import socket
import time
from types import TracebackType
from typing import (
    Any,
    AsyncIterator,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
)

from aiohttp import web

from rasa_chattigo.sandbox.chattigo_routes import ChattigoRoutes
from rasa_chattigo.sandbox.delivery import StatusNotifier, WebhookPoster
from rasa_chattigo.sandbox.faults import FaultPlan
from rasa_chattigo.sandbox.sandbox_routes import SandboxRoutes
from rasa_chattigo.sandbox.state import SandboxState
from rasa_chattigo.sandbox.tokens import DEFAULT_TOKEN_TTL, TokenIssuer

logger = logging.getLogger(__name__)

DEFAULT_USERNAME = "demo@sandbox"
DEFAULT_PASSWORD = "sandbox-password"  # noqa: S105 - a documented local-only default
DEFAULT_DID = "5492644710400"


async def serve_app(
    app: web.Application, host: str, port: int, **runner_options: Any
) -> Tuple[web.AppRunner, int]:
    """Serves `app` on `host`:`port` until the returned runner is cleaned up.

    The socket is bound here, not by aiohttp, so that with port 0 the chosen port is known.

    Args:
        app: the aiohttp application.
        host: the address to bind.
        port: the port to bind; 0 for a free one.
        **runner_options: more `web.AppRunner` arguments, e.g. `handler_cancellation=True`.

    Returns:
        The runner (its `cleanup()` stops serving) and the bound port.

    Raises:
        OSError: the address cannot be bound; nothing is left open.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, **runner_options)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        await runner.cleanup()
        raise
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])


class Sandbox:
    """A local Chattigo: serve it, point the channel's `base_url` at `url`, inspect `state`.

    Use inside a running event loop::

        async with Sandbox(users={"u@x": "pw"}, dids={"u@x": ["5492644710400"]}) as sandbox:
            ...  # sandbox.url, sandbox.state

    Args:
        users: username -> password; default one demo user.
        dids: username -> business numbers it may use; default the demo number for every user.
        token_ttl: seconds a login token stays valid (Chattigo: 8 hours).
        statuses: report sent/delivered/read to the webhook after every accepted send.
        status_delay: seconds between two statuses.
        webhook_timeout: seconds to wait for the bot when posting a webhook.
        host: the address to bind.
        port: the port; 0 picks a free one.
        clock: Unix time source for token expiry and timestamps (tests move it).
    """

    def __init__(
        self,
        *,
        users: Optional[Mapping[str, str]] = None,
        dids: Optional[Mapping[str, Sequence[str]]] = None,
        token_ttl: float = DEFAULT_TOKEN_TTL,
        statuses: bool = False,
        status_delay: float = 0.05,
        webhook_timeout: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        users = dict(users or {DEFAULT_USERNAME: DEFAULT_PASSWORD})
        numbers: Dict[str, List[str]] = {u: [DEFAULT_DID] for u in users}
        numbers.update({u: list(d) for u, d in (dids or {}).items()})
        for username, owned in numbers.items():
            if username not in users:
                raise ValueError(f"dids given for unknown user {username!r}")
            for did in owned:
                if not did.isdigit():
                    raise ValueError(f"business number {did!r} must contain digits only")
        self.state = SandboxState(users=users, dids=numbers, clock=clock)
        self.tokens = TokenIssuer(token_ttl, clock)
        self.faults = FaultPlan()
        self.poster = WebhookPoster(webhook_timeout)
        self.statuses = statuses
        self._notifier = StatusNotifier(self.poster, self.state.webhooks.get, status_delay)
        self._host = host
        self._port = port
        self._runner: Optional[web.AppRunner] = None

    def __repr__(self) -> str:
        return (
            f"Sandbox(url={self.url if self._runner else None!r}, users={sorted(self.state.users)})"
        )

    def create_app(self) -> web.Application:
        """The aiohttp application, for serving it some other way."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes(ChattigoRoutes(self).routes())
        app.add_routes(SandboxRoutes(self).routes())
        app.cleanup_ctx.append(self._lifecycle)
        return app

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        await self.poster.start()
        yield
        await self._notifier.close()
        await self.poster.close()

    def report_statuses(self, did: str, msisdn: str, wamid: str, send_id: Optional[str]) -> None:
        """Schedules sent/delivered/read webhooks for an accepted message, when enabled."""
        if self.statuses:
            self._notifier.notify(did, msisdn, wamid, send_id)

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL to give the channel, e.g. `http://127.0.0.1:8090`."""
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Binds and serves; with port 0 a free port is chosen and stored in `port`."""
        self._runner, self._port = await serve_app(
            self.create_app(), self._host, self._port, handler_cancellation=True
        )
        logger.info("Sandbox: Chattigo sandbox listening on %s", self.url)

    async def stop(self) -> None:
        """Stops serving and cancels pending background statuses."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            logger.info("Sandbox: stopped")

    async def __aenter__(self) -> "Sandbox":
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.stop()
