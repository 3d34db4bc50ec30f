"""Runs a Sandbox in a background thread, for synchronous code (CLI tests, scripts)."""

import asyncio
import threading
from typing import Any, Optional

from rasa_chattigo.sandbox.app import Sandbox


class ThreadedSandbox:
    """A `Sandbox` served from its own event loop in a daemon thread.

    Use it where no event loop runs (plain functions, sync tests)::

        with ThreadedSandbox(users={"u@x": "pw"}, dids={"u@x": ["5492644710400"]}) as sandbox:
            ...  # sandbox.url, sandbox.state (read it; the sandbox thread writes it)

    Args:
        **options: the `Sandbox` constructor's keyword arguments.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self.sandbox: Optional[Sandbox] = None

    @property
    def url(self) -> str:
        """The base URL, once started."""
        assert self.sandbox is not None, "start the sandbox first"
        return self.sandbox.url

    @property
    def state(self) -> Any:
        """The sandbox's recorded state, once started."""
        assert self.sandbox is not None, "start the sandbox first"
        return self.sandbox.state

    def start(self) -> "ThreadedSandbox":
        """Starts the thread and returns once the sandbox listens."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="sandbox", daemon=True)
        self._thread.start()

        async def start() -> Sandbox:
            sandbox = Sandbox(**self._options)
            await sandbox.start()
            return sandbox

        self.sandbox = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Stops the sandbox, the loop and the thread."""
        if self._loop is None or self._thread is None:
            return
        if self.sandbox is not None:
            asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> "ThreadedSandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
