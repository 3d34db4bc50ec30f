"""The webhook front from `rasa run`'s side: starts its process, runs a turn for each message
the front passes on, and reports each outcome back."""

import asyncio
import logging
import os
import socket
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from rasa_chattigo.compat import sanic_api
from rasa_chattigo.delivery._owner import new_owner_id
from rasa_chattigo.delivery._store import store_url
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ChattigoStartupError, ConfigError, DispatcherClosed
from rasa_chattigo.front._link import Link, LinkClosed
from rasa_chattigo.front._relay import Relay
from rasa_chattigo.inbound import InboundMessage, StatusUpdate
from rasa_chattigo.logsafe import shown
from rasa_chattigo.output import CHANNEL_NAME
from rasa_chattigo.settings import ChattigoSettings
from rasa_chattigo.turn import OnNewMessage, Turns

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.failures import FailedDeliveries

logger = logging.getLogger(__name__)

#: Seconds the front may take to start (it imports the channel, and Rasa's module with it).
START_TIMEOUT = 120.0
#: Seconds the front may take to settle what is left and exit once told to stop.
STOP_TIMEOUT = 30.0
#: The first wait before a front that exited is started again; it doubles up to the max, and
#: starts over once a front has run for `STAYED_UP_SECONDS`.
FIRST_RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 30.0
STAYED_UP_SECONDS = 60.0
#: Where the front serves the webhook: the path `rasa run` serves it at, so that only the
#: port differs in the URL Chattigo is given.
WEBHOOK_PATH = f"/webhooks/{CHANNEL_NAME}"
#: Connections the front's socket holds while no front process accepts them (Sanic's own).
LISTEN_BACKLOG = 100


class Front:
    """Starts the webhook front on `front_port` and runs a turn for every message it passes
    on, in the channel's dispatcher (in order per user, beside the channel's own webhook).

    Every front process it starts serves the socket bound here and holds the same owner id
    (`owner`), so one started again takes what an earlier one kept as its own at once.

    Args:
        settings: the channel settings (the front gets them over the link).
        dispatcher: the channel's queues.
        turns: makes the turns of the front's messages, settling through the relay given.
        failures: the failed deliveries the bot hears of, once the channel has them.

    Raises:
        ConfigError: naming `front_port` when it cannot be bound (so a port in use stops
            start-up).
    """

    def __init__(self, settings: ChattigoSettings, dispatcher: Dispatcher,
                 turns: Callable[[Relay], Turns],
                 failures: Callable[[], Optional["FailedDeliveries"]]) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._relay = Relay(remember=settings.dedup_max_entries)
        self._turns = turns(self._relay)
        self._failures = failures
        self._process: Optional[asyncio.subprocess.Process] = None
        self._link: Optional[Link] = None
        self._follower: Optional[asyncio.Task[None]] = None
        self._closing = self._stopping = False
        self._sock = _bind(settings.front_host, settings.front_port or 0)
        self.owner = new_owner_id()  #: the owner of the front's claims and kept messages
        #: whether the front keeps its messages in the channel's own store (not a file of its own)
        self.shares_store = front_store_url(settings) == store_url(settings)
        #: where the front answers webhooks (a local caller's view of `front_host`)
        self.url = sanic_api.local_url(self._sock) + WEBHOOK_PATH + "/webhook"

    def __repr__(self) -> str:
        return f"Front(url={self.url!r})"

    async def start(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Starts the front; returns once it passed on what its inbox held.

        Raises:
            ChattigoStartupError: naming the setting the front could not start with.
        """
        try:
            await self._spawn()
        except BaseException:
            self._sock.close()
            raise
        self._follower = asyncio.ensure_future(self._follow(on_new_message, app))
        self._follower.add_done_callback(_ended)

    def open(self) -> None:
        """Lets the front's messages reach the bot (Rasa's agent is loaded by now)."""
        self._turns.open()

    def close(self) -> None:
        """Shutdown begins: the front answers new webhooks 503 (Chattigo redelivers them)."""
        self._closing = True
        if self._link is not None:
            self._link.send("closing")

    async def stop(self) -> None:
        """After the dispatcher drained: the front settles every outcome reported, keeps what
        is left in its inbox, and exits."""
        self._stopping = True
        if self._follower is not None:  # no restart from now on
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._link is not None:
            self._link.send("stop")
        if self._process is not None:
            try:
                await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                logger.error("The webhook front did not stop within %.0f s; killed", STOP_TIMEOUT)
                self._process.kill()
                await self._process.wait()
        if self._link is not None:
            await self._link.close()
        self._sock.close()

    async def _spawn(self) -> None:
        """Starts a front process and waits for its `ready`; on any failure, none is left."""
        ours, theirs = socket.socketpair()
        link: Optional[Link] = None
        try:
            # A session of its own: where the kernel shares the CPU out by session (autogroup,
            # outside CPU cgroups: docs/front.md, "Costs"), the front gets a share beside
            # `rasa run`'s, so a bot's inference cannot keep a burst of webhooks waiting.
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rasa_chattigo.front", str(theirs.fileno()),
                pass_fds=(theirs.fileno(), self._sock.fileno()),
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
            theirs.close()
            link = await Link.open(ours)
            link.send("start", settings=self._settings.dict(), owner=self.owner,
                      listen_fd=self._sock.fileno(), closing=self._closing,
                      log_level=logging.getLogger("rasa_chattigo").getEffectiveLevel())
            await self._ready(link)
        except BaseException:
            theirs.close()
            await self._abort(link, ours)
            raise
        self._link = link
        self._relay.connect(link)
        logger.info("Webhook front started (pid %d): Chattigo's webhook URL is %s, with this "
                    "host's address", self._process.pid, self.url)

    async def _ready(self, link: Link) -> None:
        try:
            answer = await asyncio.wait_for(link.receive(), START_TIMEOUT)
        except (asyncio.TimeoutError, LinkClosed):
            answer = None
        if answer is not None and answer["op"] == "ready":
            return
        failed = answer or {"reason": "the front did not start; see its log"}
        raise ChattigoStartupError(ConfigError(str(failed.get("key") or "front_port"),
                                               str(failed.get("reason"))))

    async def _abort(self, link: Optional[Link], sock: socket.socket) -> None:
        if link is not None:
            await link.close()
        sock.close()
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def _follow(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Takes what the front passes on; starts it again whenever it exits unasked."""
        delay, started = FIRST_RESTART_SECONDS, time.monotonic()
        while True:
            await self._take_all(on_new_message, app)
            code = await self._end_process()
            if time.monotonic() - started >= STAYED_UP_SECONDS:
                delay = FIRST_RESTART_SECONDS
            logger.error("The webhook front exited (code %s); starting it again in %.0f s. "
                         "What it acknowledged is in its inbox and comes back with it.",
                         code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_SECONDS)
            try:
                await self._spawn()
                started = time.monotonic()
            except Exception as exc:  # any failure: tried again, never given up
                logger.error("The webhook front could not start again: %s", shown(exc))

    async def _end_process(self) -> Optional[int]:
        """After the link ended: the front's process is gone (killed if it still ran)."""
        self._relay.connect(None)
        if self._link is not None:
            await self._link.close()
        if self._process is None:
            return None
        if self._process.returncode is None:
            self._process.kill()
        return await self._process.wait()

    async def _take_all(self, on_new_message: OnNewMessage, app: Any) -> None:
        link = self._link
        if link is None:
            return
        try:
            while True:
                received = await link.receive()
                if received is None:
                    return
                await self._take(received, on_new_message, app)
        except LinkClosed as exc:
            logger.error("The link to the webhook front broke: %s", exc)

    async def _take(self, received: Dict[str, Any], on_new_message: OnNewMessage,
                    app: Any) -> None:
        try:
            if received["op"] == "message":
                self._queue(received, on_new_message, app)
            elif received["op"] == "statuses":
                await self._statuses(received["statuses"])
            else:
                logger.error("Ignored an unknown operation %r from the webhook front",
                             shown(received["op"]))
        except Exception as exc:  # one bad line never stops the link
            logger.error("Could not take what the webhook front passed on (%s: %s)",
                         type(exc).__name__, shown(exc))

    def _queue(self, received: Dict[str, Any], on_new_message: OnNewMessage, app: Any) -> None:
        key, sender_id = str(received["key"]), str(received["sender_id"])
        message = InboundMessage(**received["message"])
        if not self._relay.take(key, float(received["kept_at"])):
            return
        try:
            self._dispatcher.submit(
                sender_id, self._turns.job(message, sender_id, key, on_new_message, app))
        except DispatcherClosed:
            self._relay.report("stopped", key)  # the front keeps it for the next start

    async def _statuses(self, statuses: List[Dict[str, Any]]) -> None:
        """Failed deliveries, to the bot; a store down loses them (the front answered)."""
        failures = self._failures()
        if failures is not None:
            await failures.accept([StatusUpdate(**status) for status in statuses])


def _ended(follower: "asyncio.Task[None]") -> None:
    if not follower.cancelled() and follower.exception() is not None:
        logger.error("The webhook front's link stopped: %r; restart rasa run",
                     follower.exception())


def _bind(host: str, port: int) -> socket.socket:
    """The front's listening socket, made here and handed to each front process it starts:
    a front started again serves the same socket, and connections made meanwhile wait in
    its backlog.

    Raises:
        ConfigError: naming `front_port`.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigError("front_port", f"cannot listen on {host}:{port}: "
                                        f"{exc.strerror or exc}") from None
    return sock



def front_store_url(settings: ChattigoSettings) -> str:
    """The front's inbox: the channel's store, but a SQLite file of its own beside the
    channel's (one process writes each file)."""
    url = store_url(settings)
    if not url.startswith("sqlite:///") or "?" in url:
        return url
    stem, ext = os.path.splitext(url[len("sqlite:///"):])
    return f"sqlite:///{stem}-front{ext or '.db'}"
