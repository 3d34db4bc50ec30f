"""The `/sandbox/` endpoints: WhatsApp user simulation, inspection, faults, tokens and reset."""

import logging
from typing import Any, Dict, List, Optional

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.delivery import DeliveryError
from rasa_chattigo.sandbox.fields import DIGITS, Fields
from rasa_chattigo.sandbox.render import render_cloud, render_proprietary
from rasa_chattigo.sandbox.responses import error, invalid, read_json
from rasa_chattigo.sandbox.route_group import RouteGroup
from rasa_chattigo.sandbox.state import IN, OUT, RecordedMessage
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook, build_legacy_webhook

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30.0
_SEND_KEYS = ("did", "format", "type", "name")


class SandboxRoutes(RouteGroup):
    """Handlers of everything under `/sandbox/`."""

    def routes(self) -> List[web.RouteDef]:
        """The route table."""
        return [
            web.get("/sandbox/health", self.health),
            web.post("/sandbox/users/{msisdn}/send", self.user_send),
            web.post("/sandbox/webhooks/{did}/raw", self.raw),
            web.get("/sandbox/conversations/{did}/{msisdn}", self.conversation),
            web.get("/sandbox/messages", self.outbound),
            web.get("/sandbox/stats", self.stats),
            web.get("/sandbox/faults", self.show_faults),
            web.post("/sandbox/faults", self.set_faults),
            web.delete("/sandbox/faults", self.clear_faults),
            web.post("/sandbox/tokens/expire", self.expire_tokens),
            web.post("/sandbox/reset", self.reset),
            web.post(r"/sandbox/messages/{seq:\d+}/redeliver", self.redeliver),
        ]

    async def health(self, request: web.Request) -> web.Response:
        """`GET /sandbox/health`."""
        return web.json_response({"status": "ok"})

    async def user_send(self, request: web.Request) -> web.Response:
        """`POST /sandbox/users/{msisdn}/send`: the user sends a message to a business number."""
        msisdn = request.match_info["msisdn"]
        try:
            if not DIGITS.fullmatch(msisdn):
                raise InvalidPayload("msisdn", "must contain digits only (in the path)")
            body = await read_json(request)
            fields = Fields(body)
            did = fields.digits("did") or ""
            style = fields.text("format", required=False, choices=("cloud", "legacy")) or "cloud"
            kind = fields.text("type", required=False, non_empty=True) or "text"
            name = fields.text("name", required=False) or "Usuario"
            extra: Dict[str, Any] = {k: v for k, v in body.items() if k not in _SEND_KEYS}
            if style == "cloud" and self.sandbox.clock.offset and "timestamp" not in extra:
                extra["timestamp"] = self.sandbox.clock()  # a moved clock shows in the webhook
            if style == "legacy":
                payload = build_legacy_webhook(kind, did=did, msisdn=msisdn, name=name, **extra)
                message_id = payload["id"]
                text = render_proprietary(payload, kind)
            else:
                payload = build_cloud_webhook(kind, did=did, msisdn=msisdn, name=name, **extra)
                message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
                message_id = message["id"]
                text = render_cloud(message)
        except InvalidPayload as exc:
            return invalid(exc)
        url = self.state.webhooks.get(did)
        if url is None:
            return _no_webhook(did)
        # Recorded before posting: a bot answering inline must not appear to answer first.
        record = self.state.record(IN, did, msisdn, kind, text, payload, message_id)
        if kind not in ("transfer", "close"):  # only the user's own messages open the window
            self.sandbox.windows.user_wrote(did, msisdn)
        logger.info("Sandbox: user %s sends %s %s to %s", msisdn, kind, message_id, did)
        return await self._deliver(url, payload, message_id, record.seq)

    async def redeliver(self, request: web.Request) -> web.Response:
        """`POST /sandbox/messages/{seq}/redeliver`: posts a user message's webhook again, as
        Chattigo may; it is not recorded a second time."""
        seq = request.match_info["seq"]
        found = [m for m in self.state.messages if str(m.seq) == seq and m.direction == IN]
        if not found:
            return error(404, "not_found", f"seq: no user message {seq}", "seq")
        message = found[0]
        url = self.state.webhooks.get(message.did)
        if url is None:
            return _no_webhook(message.did)
        logger.info("Sandbox: redelivering %s to %s", message.message_id, message.did)
        return await self._deliver(url, message.payload, message.message_id, message.seq)

    async def raw(self, request: web.Request) -> web.Response:
        """`POST /sandbox/webhooks/{did}/raw`: posts the body as-is to the webhook of `did`."""
        did = request.match_info["did"]
        try:
            payload = await read_json(request)
        except InvalidPayload as exc:
            return invalid(exc)
        url = self.state.webhooks.get(did)
        if url is None:
            return _no_webhook(did)
        return await self._deliver(url, payload, _message_id_of(payload))

    async def _deliver(
        self, url: str, payload: Any, message_id: Optional[str], seq: Optional[int] = None
    ) -> web.Response:
        events = self.sandbox.events
        try:
            status, answer = await self.sandbox.poster.post(url, payload)
        except DeliveryError as exc:
            logger.warning("Sandbox: %s", exc)
            events.publish("delivery", seq=seq, webhook_status=None, reason=str(exc))
            return web.json_response(
                {"error": "bad_gateway", "reason": str(exc), "message_id": message_id}, status=502
            )
        events.publish("delivery", seq=seq, webhook_status=status, reason=None,
                       webhook_body=answer)
        return web.json_response(
            {"message_id": message_id, "webhook_status": status, "webhook_body": answer}
        )

    async def conversation(self, request: web.Request) -> web.Response:
        """`GET /sandbox/conversations/{did}/{msisdn}?after=&wait=`: both directions, in order."""
        filters = {"did": request.match_info["did"], "msisdn": request.match_info["msisdn"]}
        return await self._listing(request, filters)

    async def outbound(self, request: web.Request) -> web.Response:
        """`GET /sandbox/messages?did=&msisdn=&after=&wait=`: every accepted send, in order."""
        filters: Dict[str, Any] = {"direction": OUT}
        for key in ("did", "msisdn"):
            if request.query.get(key):
                filters[key] = request.query[key]
        return await self._listing(request, filters)

    async def _listing(self, request: web.Request, filters: Dict[str, Any]) -> web.Response:
        try:
            after = _query_number(request, "after", whole=True)
            wait = min(_query_number(request, "wait"), MAX_WAIT_SECONDS)
        except InvalidPayload as exc:
            return invalid(exc)
        found: List[RecordedMessage] = await self.state.wait_select(
            wait, after=int(after), **filters
        )
        return web.json_response({"messages": [m.to_json() for m in found]})

    async def stats(self, request: web.Request) -> web.Response:
        """`GET /sandbox/stats`."""
        stats = self.state.stats
        return web.json_response(
            {
                "logins": stats.logins,
                "accepted": stats.accepted,
                "rejected": stats.rejected,
                "duplicate_ids": stats.duplicate_ids,
                "faults_injected": stats.faults_injected,
                "webhooks": dict(self.state.webhooks),
            }
        )

    async def show_faults(self, request: web.Request) -> web.Response:
        """`GET /sandbox/faults`: the plan in force."""
        return web.json_response(self.sandbox.faults.describe())

    async def set_faults(self, request: web.Request) -> web.Response:
        """`POST /sandbox/faults`: fail the next N sends, or a seeded fraction of them."""
        try:
            plan = self.sandbox.faults.configure(await read_json(request))
        except InvalidPayload as exc:
            return invalid(exc)
        self.sandbox.events.publish("faults", **plan)
        logger.info("Sandbox: faults set: %s", plan)
        return web.json_response(plan)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """`DELETE /sandbox/faults`."""
        self.sandbox.faults.clear()
        self.sandbox.events.publish("faults", **self.sandbox.faults.describe())
        logger.info("Sandbox: faults cleared")
        return web.json_response(self.sandbox.faults.describe())

    async def expire_tokens(self, request: web.Request) -> web.Response:
        """`POST /sandbox/tokens/expire`: every token issued so far stops working."""
        self.sandbox.tokens.expire_all()
        self.sandbox.events.publish("tokens", expired=True)
        return web.json_response({"expired": True})

    async def reset(self, request: web.Request) -> web.Response:
        """`POST /sandbox/reset` (body optional, `{"webhooks": true}` forgets webhooks too)."""
        webhooks = False
        if (await request.read()).strip():
            try:
                webhooks = bool(Fields(await read_json(request)).flag("webhooks", required=False))
            except InvalidPayload as exc:
                return invalid(exc)
        self.state.reset(webhooks=webhooks)
        self.sandbox.faults.clear()
        self.sandbox.windows.clear()
        self.sandbox.handoffs.clear()
        self.sandbox.events.clear()
        logger.info("Sandbox: reset (webhooks %s)", "forgotten" if webhooks else "kept")
        return web.json_response({"reset": True, "webhooks": dict(self.state.webhooks)})


def _no_webhook(did: str) -> web.Response:
    reason = f"no webhook registered for business number {did}; PATCH /webhooks/inbound first"
    return error(409, "no_webhook", reason, "did")


def _query_number(request: web.Request, key: str, *, whole: bool = False) -> float:
    raw = request.query.get(key, "0") or "0"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise InvalidPayload(
            key, "must be a whole number" if whole else "must be a number"
        ) from None
    if value < 0 or value != value:
        raise InvalidPayload(key, "must not be negative")
    return value


def _message_id_of(payload: Any) -> Optional[str]:
    """The first message id of a Cloud API or legacy payload, if it has one."""
    try:
        return str(payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    except (KeyError, IndexError, TypeError):
        pass
    if isinstance(payload, dict) and isinstance(payload.get("id"), str):
        return payload["id"]
    return None
