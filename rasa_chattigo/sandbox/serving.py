"""Serving an aiohttp app in-process: `serve_app` binds it, `Served` gives `async with`."""

import socket
from types import TracebackType
from typing import Any, Optional, Tuple, Type, TypeVar

from aiohttp import web

_Self = TypeVar("_Self", bound="Served")


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


class Served:
    """A server used as `async with server:`, which calls its `start()`, then its `stop()`."""

    async def start(self) -> None:
        """Binds and serves."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stops serving."""
        raise NotImplementedError

    async def __aenter__(self: _Self) -> _Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.stop()
