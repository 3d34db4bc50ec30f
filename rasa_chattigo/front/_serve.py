"""The webhook front's own process: verifies, parses and keeps each message, answers Chattigo,
and passes the message to `rasa run` over the link; settles it when `rasa run` reports back."""

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from typing import Any, ContextManager, Dict, List, Optional

from rasa_chattigo.compat import sanic_api
from rasa_chattigo.credentials._providers import provider_from_settings
from rasa_chattigo.dedup import DedupStore, dedup_store_from_settings
from rasa_chattigo.delivery import Inbox, Intake
from rasa_chattigo.delivery._store import BoxStore, open_store
from rasa_chattigo.delivery._upkeep import Upkeep
from rasa_chattigo.errors import ChattigoError, ProcessingFailed
from rasa_chattigo.front._front import WEBHOOK_PATH, front_store_url
from rasa_chattigo.front._link import Link
from rasa_chattigo.inbound import InboundMessage, StatusUpdate
from rasa_chattigo.logsafe import install_redaction
from rasa_chattigo.output import CHANNEL_NAME
from rasa_chattigo.runtime import freeze_startup_heap
from rasa_chattigo.settings import ChattigoSettings
from rasa_chattigo.webhook import WebhookHandler

logger = logging.getLogger(__name__)

#: Sanic's limit on one request, as `rasa run` sets it (its `--response-timeout` default).
RESPONSE_TIMEOUT_SECONDS = 3600


class Handover:
    """The front's queue: passes each accepted message to `rasa run`, and settles it when
    `rasa run` reports its outcome (`settle`).

    Args:
        link: the link to `rasa run`.
        intake: the front's claims and inbox.
    """

    def __init__(self, link: Link, intake: Intake) -> None:
        self._link = link
        self._intake = intake
        self._waiting: Dict[str, asyncio.Future[None]] = {}
        self._closed = False

    @property
    def accepting(self) -> bool:
        """False once `rasa run` is shutting down or gone."""
        return not self._closed and not self._link.closed

    @property
    def pending(self) -> int:
        """Messages passed on and not settled yet."""
        return len(self._waiting)

    def handling(self) -> ContextManager[None]:
        """What a dispatcher gives a webhook's handling: here nothing, the front runs no jobs."""
        return contextlib.nullcontext()

    def close(self) -> None:
        """Accepts nothing more (new webhooks are answered 503)."""
        self._closed = True

    def cancel_waiting(self) -> None:
        """`rasa run` stopped: no outcome comes for what is still waiting (kept for the next
        start; an `ack: inline` webhook waiting for one is answered 503)."""
        for done in self._waiting.values():
            done.cancel()
        self._waiting.clear()

    def pass_on(self, key: str, sender_id: str, message: InboundMessage,
                kept_at: float) -> "asyncio.Future[None]":
        """Sends the message to `rasa run`; the future settles with its outcome."""
        self._link.send("message", key=key, sender_id=sender_id,
                        message=message.as_dict(), kept_at=kept_at)
        done = self._waiting.get(key)
        if done is None:
            done = self._waiting[key] = asyncio.get_running_loop().create_future()
        return done

    def pass_statuses(self, statuses: List[StatusUpdate]) -> None:
        """Sends the failed deliveries among `statuses` to `rasa run` (its bot hears of them)."""
        failed = [dataclasses.asdict(status) for status in statuses if status.status == "failed"]
        if failed:
            self._link.send("statuses", statuses=failed)

    async def settle(self, outcome: Dict[str, Any]) -> None:
        """Applies one outcome `rasa run` reported: `done`, `retry` or `stopped`."""
        op, key = outcome["op"], str(outcome.get("key", ""))
        if op == "done":
            if key in self._waiting:
                await self._intake.done(key)
            else:  # passed on by an earlier front process, before this one took it over
                await self._intake.handled_elsewhere(key)
            self._resolve(key, None)
        elif op == "retry":
            await self._intake.retry_later(key)
            self._resolve(key, ProcessingFailed("a store the bot needs is down; redeliver"))
        elif op == "stopped":
            await self._intake.stopped(key)
            self._resolve(key, asyncio.CancelledError())
        else:
            logger.error("The webhook front ignored an unknown operation %r from rasa run", op)

    def _resolve(self, key: str, outcome: Optional[BaseException]) -> None:
        done = self._waiting.pop(key, None)
        if done is None or done.done():
            return
        if isinstance(outcome, asyncio.CancelledError):
            done.cancel()
        elif outcome is not None:
            done.set_exception(outcome)
            done.exception()  # retrieved: only an `ack: inline` webhook awaits it
        else:
            done.set_result(None)


class FrontHandler(WebhookHandler):
    """The channel's webhook handler, with the message passed to `rasa run` instead of queued
    for a turn here."""

    def __init__(self, settings: ChattigoSettings, credentials: Any, dedup: DedupStore,
                 intake: Intake, handover: Handover) -> None:
        # The handover answers what the handler asks of a dispatcher (`accepting`, `pending`,
        # `handling`); `_submit`, which would queue a turn, passes the message on instead.
        super().__init__(CHANNEL_NAME, settings, credentials, dedup,
                         handover,  # type: ignore[arg-type]
                         output=_no_output, menus=None, intake=intake)
        self._handover = handover

    def _submit(self, message: InboundMessage, sender_id: str, key: str,
                on_new_message: Any, app: Any) -> "asyncio.Future[None]":
        return self._handover.pass_on(key, sender_id, message, time.time())

    async def _pass_statuses(self, statuses: List[StatusUpdate]) -> List["asyncio.Future[None]"]:
        self._handover.pass_statuses(statuses)
        return []


def _no_output() -> Any:
    raise AssertionError("the webhook front runs no turns")


async def _no_turns(message: Any) -> None:
    raise AssertionError("the webhook front runs no turns")


def front_app(handler: FrontHandler) -> sanic_api.Sanic:
    """The front's server: the health check and the webhook, at `rasa run`'s paths."""
    app = sanic_api.new_app("chattigo_front")
    app.config.RESPONSE_TIMEOUT = RESPONSE_TIMEOUT_SECONDS  # as `rasa run`: `ack: inline` waits
    bp = sanic_api.new_blueprint("chattigo_front")

    @bp.get("/")
    async def health(request: sanic_api.Request) -> sanic_api.HTTPResponse:
        return sanic_api.json_response({"status": "ok", "front": True})

    @bp.post("/webhook", stream=True)
    async def webhook(request: sanic_api.Request) -> sanic_api.HTTPResponse:
        return await handler.receive(request, _no_turns)

    app.blueprint(bp, url_prefix=WEBHOOK_PATH)
    return app


async def serve(link: Link) -> int:
    """Runs the front until `rasa run` says stop or goes away; the process's exit code."""
    start = await link.receive()
    if start is None or start.get("op") != "start":
        return 2
    settings = ChattigoSettings.parse_obj(start["settings"])
    logging.getLogger("rasa_chattigo").setLevel(start.get("log_level", logging.INFO))
    install_redaction(settings.webhook_token or "")
    sock = socket.socket(fileno=int(start["listen_fd"]))  # bound by `rasa run`
    try:
        front = _Front(settings, link, str(start["owner"]))
    except ChattigoError as exc:  # a store or the credentials: named as they are in rasa run
        link.send("failed", key=getattr(exc, "key", ""), reason=getattr(exc, "problem", str(exc)))
        await link.close()
        return 1
    try:
        return await front.run(sock, closing=bool(start.get("closing")))
    finally:
        await front.aclose()


class _Front:
    """The front's parts, started and stopped in order."""

    def __init__(self, settings: ChattigoSettings, link: Link, owner: str) -> None:
        self.settings = settings
        self.link = link
        self.owner = owner  # every front process of one `rasa run` holds the same
        self.credentials = provider_from_settings(settings)
        self.dedup = dedup_store_from_settings(settings, owner=self.owner)
        self.store: BoxStore = open_store(front_store_url(settings), settings.store_namespace)
        self.intake = Intake(self.dedup, Inbox(self.store, self.owner))
        self.handover = Handover(link, self.intake)
        self.handler = FrontHandler(settings, self.credentials, self.dedup, self.intake,
                                    self.handover)
        self.upkeep = Upkeep(settings.delivery_lease_seconds, self._beats(), self._resume)

    def _beats(self) -> List[Any]:
        beats = [lambda: self.store.heartbeat(self.owner, self.settings.delivery_lease_seconds)]
        heartbeat = getattr(self.dedup, "heartbeat", None)
        if heartbeat is not None:
            beats.append(heartbeat)
        return beats

    async def _resume(self) -> None:
        """Passes on what the inbox holds (left by an earlier front, or released for a retry)."""
        for kept in await self.intake.resume():
            if self.handover.accepting:
                self.handover.pass_on(kept.key, kept.sender_id, kept.message, kept.kept_at)

    async def run(self, sock: socket.socket, closing: bool) -> int:
        """Passes on what the inbox holds, then serves `sock` until `rasa run` says stop."""
        if self.settings.gc_freeze:
            freeze_startup_heap()  # the modules it imported: out of every collection's walk
        self.link.send("ready")
        if closing:  # started again while `rasa run` shuts down
            self.handover.close()
        # The first round passes on what the inbox holds before any newer message of the
        # same conversations (those wait in the socket's backlog meanwhile).
        await self.upkeep.start()
        async with sanic_api.serve_sanic(front_app(self.handler), sock=sock) as url:
            logger.info("Webhook front serving %s%s/webhook", url, WEBHOOK_PATH)
            await self._follow()
            self.handover.close()
            self.handover.cancel_waiting()  # an `ack: inline` webhook: 503, redelivered
        return 0

    async def _follow(self) -> None:
        """Applies `rasa run`'s outcomes until it says stop or goes away."""
        while True:
            outcome = await self.link.receive()
            if outcome is None or outcome["op"] == "stop":
                return
            if outcome["op"] == "closing":
                self.handover.close()
            else:
                await self.handover.settle(outcome)

    async def aclose(self) -> None:
        await self.upkeep.stop()
        await self.intake.abandon()
        for retire in (lambda: self.store.retire(self.owner), getattr(self.dedup, "retire", None)):
            if retire is not None:
                try:
                    await retire()
                except Exception as exc:  # taken over once the lease expires
                    logger.warning("The webhook front could not end its lease: %s", exc)
        await self.dedup.aclose()
        await self.store.aclose()
        store = getattr(self.credentials, "store", None)
        if store is not None:
            store.close()
        await self.link.close()
