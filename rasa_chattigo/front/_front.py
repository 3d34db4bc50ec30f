"""The webhook front from `rasa run`'s side: starts its process, runs a turn for each message
the front passes on, and reports each outcome back."""

import asyncio
import logging
import socket
import sys
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from rasa_chattigo.delivery._intake import RETRY_FOR_SECONDS
from rasa_chattigo.dispatch import Dispatcher
from rasa_chattigo.errors import ChattigoStartupError, ConfigError, DispatcherClosed
from rasa_chattigo.front._link import Link, LinkClosed
from rasa_chattigo.inbound import InboundMessage, StatusUpdate
from rasa_chattigo.logsafe import shown
from rasa_chattigo.settings import ChattigoSettings
from rasa_chattigo.turn import OnNewMessage, Turns

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.failures import FailedDeliveries

logger = logging.getLogger(__name__)

#: Seconds the front may take to listen (it imports the channel, and Rasa's module with it).
START_TIMEOUT = 120.0
#: Seconds the front may take to settle what is left and exit once told to stop.
STOP_TIMEOUT = 30.0
#: The first wait before a front that exited is started again; it doubles up to the max.
FIRST_RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 30.0


#: Connections the front's socket holds while no front process accepts them (Sanic's own).
LISTEN_BACKLOG = 100
#: How many handled messages the relay remembers, for a front that started again and passes
#: on what its inbox still holds (it may have died before it heard they were handled).
REMEMBERED_HANDLED = 10_000


class Relay:
    """What the turns of the front's messages settle through (in place of the channel's
    `Intake`): each outcome is reported to the front, which holds the claim and the copy.

    Outcomes reported while no front is running wait for the next one.

    Args:
        clock: wall-clock seconds; injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._kept_at: Dict[str, float] = {}  # each message running here: when it was kept
        self._link: Optional[Link] = None
        self._unsent: List[Dict[str, str]] = []
        self._handled: OrderedDict[str, None] = OrderedDict()  # the latest, oldest first

    def take(self, key: str, kept_at: float) -> bool:
        """Records a message passed on; False when it is running here already, or was handled
        lately (a front that started again passes on what its inbox holds: it may not have
        heard of the outcome); the front then hears it again."""
        if key in self._kept_at:
            return False
        if key in self._handled:
            self._send("done", key)
            return False
        self._kept_at[key] = kept_at
        return True

    def connect(self, link: Optional[Link]) -> None:
        """Reports to `link` from now on (None while no front runs); sends what waited."""
        self._link = link
        if link is not None:
            for outcome in self._unsent:
                link.send(**outcome)
            self._unsent.clear()

    async def done(self, key: str) -> None:
        """The bot handled the message; once is enough."""
        self.report("done", key)

    def may_retry(self, key: str) -> bool:
        """Whether `key` is young enough to retry after a passing failure."""
        now = self._clock()
        return now - self._kept_at.get(key, now) < RETRY_FOR_SECONDS

    async def retry_later(self, key: str) -> None:
        """A store the bot needs is down: the front releases it and tries again later."""
        self.report("retry", key)

    async def stopped(self, key: str) -> None:
        """Not handled before shutdown: the front keeps it for the next start."""
        self.report("stopped", key)

    def report(self, op: str, key: str) -> None:
        """Reports `op` (done, retry or stopped) for `key`, unless it was settled already."""
        if self._kept_at.pop(key, None) is None:
            return  # settled already
        if op == "done":
            self._handled[key] = None
            if len(self._handled) > REMEMBERED_HANDLED:
                self._handled.popitem(last=False)
        self._send(op, key)

    def _send(self, op: str, key: str) -> None:
        if self._link is None or self._link.closed:
            self._unsent.append({"op": op, "key": key})
        else:
            self._link.send(op, key=key)


class Front:
    """Starts the webhook front on `front_port` and runs a turn for every message it passes
    on, in the channel's dispatcher (in order per user, beside the channel's own webhook).

    Args:
        settings: the channel settings (the front gets them over the link).
        dispatcher: the channel's queues.
        turns: makes the turns of the front's messages, settling through the relay given.
        failures: the failed deliveries the bot hears of, once the channel has them.
    """

    def __init__(self, settings: ChattigoSettings, dispatcher: Dispatcher,
                 turns: Callable[[Relay], Turns],
                 failures: Callable[[], Optional["FailedDeliveries"]]) -> None:
        """Binds `front_port` now, so a port in use stops start-up naming it.

        Raises:
            ConfigError: naming `front_port` when it cannot be bound.
        """
        self._settings = settings
        self._dispatcher = dispatcher
        self._relay = Relay()
        self._turns = turns(self._relay)
        self._failures = failures
        self._process: Optional[asyncio.subprocess.Process] = None
        self._link: Optional[Link] = None
        self._follower: Optional[asyncio.Task[None]] = None
        self._stopping = False
        self._sock = _bind(settings.front_host, settings.front_port or 0)
        self.url: Optional[str] = None  #: where the front answers webhooks, once started

    def __repr__(self) -> str:
        return f"Front(url={self.url!r})"

    async def start(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Starts the front and waits until it listens.

        Raises:
            ChattigoStartupError: naming `front_port` when the front cannot listen.
        """
        await self._spawn()
        self._follower = asyncio.ensure_future(self._follow(on_new_message, app))

    def open(self) -> None:
        """Lets the front's messages reach the bot (Rasa's agent is loaded by now)."""
        self._turns.open()

    def close(self) -> None:
        """Shutdown begins: the front answers new webhooks 503 (Chattigo redelivers them)."""
        if self._link is not None:
            self._link.send("closing")

    async def stop(self) -> None:
        """After the dispatcher drained: the front settles every outcome reported, keeps what
        is left in its inbox, and exits."""
        self._stopping = True
        if self._link is not None:
            self._link.send("stop")
        if self._process is not None:
            try:
                await asyncio.wait_for(self._process.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                logger.error("The webhook front did not stop within %.0f s; killed", STOP_TIMEOUT)
                self._process.kill()
                await self._process.wait()
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        if self._link is not None:
            await self._link.close()
        self._sock.close()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rasa_chattigo.front", str(theirs.fileno()),
                pass_fds=(theirs.fileno(), self._sock.fileno()),
                stdin=asyncio.subprocess.DEVNULL)
        finally:
            theirs.close()
        link = await Link.open(ours)
        link.send("start", settings=self._settings.dict(), listen_fd=self._sock.fileno(),
                  log_level=logging.getLogger("rasa_chattigo").getEffectiveLevel())
        try:
            answer = await asyncio.wait_for(link.receive(), START_TIMEOUT)
        except (asyncio.TimeoutError, LinkClosed):
            answer = None
        if answer is None or answer["op"] != "listening":
            await self._abort(link)
            failed = answer or {"key": "front_port", "reason": "the front did not start; see "
                                                               "its log"}
            raise ChattigoStartupError(ConfigError(str(failed.get("key") or "front_port"),
                                                   str(failed.get("reason"))))
        self._link, self.url = link, str(answer["url"])
        self._relay.connect(link)
        logger.info("Webhook front started (pid %d): Chattigo's webhook URL is %s, with this "
                    "host's address", self._process.pid, self.url)

    async def _abort(self, link: Link) -> None:
        await link.close()
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def _follow(self, on_new_message: OnNewMessage, app: Any) -> None:
        """Takes what the front passes on; starts it again whenever it exits unasked."""
        delay = FIRST_RESTART_SECONDS
        while True:
            await self._take_all(on_new_message, app)
            if self._stopping:
                return
            self._relay.connect(None)
            code = await self._process.wait() if self._process is not None else None
            logger.error("The webhook front exited (code %s); starting it again in %.0f s. "
                         "What it acknowledged is in its inbox and comes back with it.",
                         code, delay)
            await asyncio.sleep(delay)
            try:
                await self._spawn()
                delay = FIRST_RESTART_SECONDS
            except ChattigoStartupError as exc:
                logger.error("The webhook front could not start again: %s", exc)
                delay = min(delay * 2, MAX_RESTART_SECONDS)

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
        except (KeyError, TypeError, ValueError) as exc:  # a front of another version
            logger.error("Ignored what the webhook front sent (%s: %s)", type(exc).__name__,
                         shown(exc))

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
        failures = self._failures()
        if failures is not None:
            await failures.accept([StatusUpdate(**status) for status in statuses])


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
