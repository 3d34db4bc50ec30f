"""The sandbox server: an aiohttp application standing in for Chattigo, startable in-process."""

import datetime
import logging
import time
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
)

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.agent_routes import AgentRoutes
from rasa_chattigo.sandbox.chattigo_routes import ChattigoRoutes
from rasa_chattigo.sandbox.delivery import StatusNotifier, WebhookPoster
from rasa_chattigo.sandbox.events import EventLog
from rasa_chattigo.sandbox.faults import FaultPlan
from rasa_chattigo.sandbox.handoff import AGENT, Handoffs, describe_control
from rasa_chattigo.sandbox.page_routes import PageRoutes
from rasa_chattigo.sandbox.sandbox_routes import SandboxRoutes
from rasa_chattigo.sandbox.serving import Served, serve_app
from rasa_chattigo.sandbox.state import OUT, RecordedMessage, SandboxState
from rasa_chattigo.sandbox.tokens import DEFAULT_TOKEN_TTL, TokenIssuer
from rasa_chattigo.sandbox.validation import AcceptedSend
from rasa_chattigo.sandbox.window import RE_ENGAGEMENT_ERROR, MovableClock, Windows

logger = logging.getLogger(__name__)

DEFAULT_USERNAME = "demo@sandbox"
DEFAULT_PASSWORD = "sandbox-password"  # noqa: S105 - a documented local-only default
DEFAULT_DID = "5492644710400"
DEFAULT_PEOPLE = {"5492644472542": "Usuario Demo", "5491155551234": "Lucía Gómez"}


def _accounts(
    users: Optional[Mapping[str, str]], dids: Optional[Mapping[str, Sequence[str]]]
) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    """The users (default the demo one) and the business numbers each may use, checked.

    Raises:
        ValueError: numbers given for an unknown user, or a number that is not all digits.
    """
    accounts = dict(users or {DEFAULT_USERNAME: DEFAULT_PASSWORD})
    numbers: Dict[str, List[str]] = {u: [DEFAULT_DID] for u in accounts}
    numbers.update({u: list(d) for u, d in (dids or {}).items()})
    for username, owned in numbers.items():
        if username not in accounts:
            raise ValueError(f"dids given for unknown user {username!r}")
        for did in owned:
            if not did.isdigit():
                raise ValueError(f"business number {did!r} must contain digits only")
    return accounts, numbers


class Sandbox(Served):
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
        clock: Unix time source for token expiry and timestamps (tests move it); the sandbox
            wraps it in a `MovableClock` (`sandbox.clock.advance(seconds)`).
        window: enforce WhatsApp's 24-hour window: a free-form send to a user who has not
            written within 24 hours is answered 200 but reported `failed` with error 131047.
        bot_name: the name the page shows in its header before the bot's first send.
        people: simulated WhatsApp users the page offers, number -> profile name.
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
        window: bool = False,
        bot_name: Optional[str] = None,
        people: Optional[Mapping[str, str]] = None,
    ) -> None:
        users, numbers = _accounts(users, dids)
        self.clock = MovableClock(clock)
        self.events = EventLog()
        self.state = SandboxState(users=users, dids=numbers, clock=self.clock)
        self.state.listener = self._publish_message
        self.tokens = TokenIssuer(token_ttl, self.clock)
        self.faults = FaultPlan()
        self.poster = WebhookPoster(webhook_timeout)
        self.statuses = statuses
        self.window = window
        self.windows = Windows(self.clock)
        self.handoffs = Handoffs()
        self.bot_name = bot_name
        self.people = dict(DEFAULT_PEOPLE if people is None else people)
        self._notifier = StatusNotifier(
            self.poster, self.state.webhooks.get, status_delay, self.clock, self._publish_status
        )
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
        app.add_routes(AgentRoutes(self).routes())
        app.add_routes(PageRoutes(self).routes())
        app.cleanup_ctx.append(self._lifecycle)
        app.on_shutdown.append(self._end_streams)  # type: ignore[arg-type]
        return app

    async def _end_streams(self, app: web.Application) -> None:
        self.events.close()

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        await self.poster.start()
        yield
        await self._notifier.close()
        await self.poster.close()

    def deliver(
        self, did: str, msisdn: str, wamid: str, send_id: Optional[str], kind: str
    ) -> None:
        """What WhatsApp does with an accepted send: statuses when enabled, and, with the
        window enforced, a `failed` 131047 instead for a free-form message outside it."""
        if self.window and kind != "template" and not self.windows.is_open(did, msisdn):
            logger.info("Sandbox: %s to %s is outside the 24-hour window: failed", wamid, msisdn)
            self._notifier.notify(did, msisdn, wamid, send_id, error=RE_ENGAGEMENT_ERROR)
        elif self.statuses:
            self._notifier.notify(did, msisdn, wamid, send_id)

    def with_agent(self, did: str, msisdn: str) -> bool:
        """Whether an agent holds the chat; a bot's send then is flagged (log, page)."""
        if self.handoffs.get(did, msisdn).holder != AGENT:
            return False
        logger.info("Sandbox: the bot wrote to %s while an agent holds the chat", msisdn)
        return True

    def control(self, send: AcceptedSend) -> None:
        """Applies a hand-off send (transfer, group, close, timeout) to its conversation."""
        for msisdn in send.recipients:
            chat = self.handoffs.apply_send(send.did, msisdn, send.kind, send.payload)
            text = describe_control(send.kind, send.payload)
            self.state.record(OUT, send.did, msisdn, send.kind, text, send.payload, send.message_id)
            self.events.publish("handoff", did=send.did, msisdn=msisdn, **chat.to_json())
        logger.info("Sandbox: %s of %s from %s", send.kind, ",".join(send.recipients), send.did)

    def refused(
        self, body: Any, status: int, exc: InvalidPayload, did: Optional[str] = None
    ) -> None:
        """Shows a refused send on the page, in its conversation when the body names one."""
        named = body if isinstance(body, dict) else {}
        to = "".join(filter(str.isdigit, str(named.get("msisdn") or named.get("to") or "")))
        self.events.publish(
            "refused", did=str(named.get("did") or did or ""), msisdn=to, status=status,
            reason=str(exc), field=exc.field, payload=body, at=self._now(),
        )

    def _now(self) -> str:
        at = datetime.datetime.fromtimestamp(self.clock(), tz=datetime.timezone.utc)
        return at.isoformat(timespec="milliseconds")

    def _publish_message(self, message: RecordedMessage, extras: Dict[str, Any]) -> None:
        self.events.publish("message", **message.to_json(), **extras)

    def _publish_status(self, payload: Dict[str, Any]) -> None:
        value = payload["entry"][0]["changes"][0]["value"]
        item = value["statuses"][0]
        self.events.publish(
            "status", did=value["metadata"]["display_phone_number"], msisdn=item["recipient_id"],
            wamid=item["id"], status=item["status"], errors=item.get("errors"), payload=payload,
        )

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
