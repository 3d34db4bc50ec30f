"""The `/sandbox/agent/` endpoints: a person (or a test) plays Chattigo's human agent."""

import logging
import secrets
from typing import List

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.delivery import DeliveryError
from rasa_chattigo.sandbox.fields import DIGITS, Fields
from rasa_chattigo.sandbox.handoff import AGENT
from rasa_chattigo.sandbox.responses import error, invalid, read_json
from rasa_chattigo.sandbox.route_group import RouteGroup
from rasa_chattigo.sandbox.state import IN, OUT
from rasa_chattigo.sandbox.whatsapp import build_legacy_webhook

logger = logging.getLogger(__name__)

AGENT_NAME = "Agente"
_NOTES = {"transfer": "[el agente devolvió el chat al bot]", "close": "[Chattigo cerró el chat]"}


class AgentRoutes(RouteGroup):
    """Handlers of `/sandbox/agent/{did}/{msisdn}/...`."""

    def routes(self) -> List[web.RouteDef]:
        """The route table."""
        base = "/sandbox/agent/{did}/{msisdn}"
        return [
            web.get(base, self.show),
            web.post(f"{base}/take", self.take),
            web.post(f"{base}/messages", self.write),
            web.post(f"{base}/handback", self.hand_back),
            web.post(f"{base}/close", self.close),
        ]

    def _chat(self, request: web.Request) -> "tuple[str, str]":
        did, msisdn = request.match_info["did"], request.match_info["msisdn"]
        for key, value in (("did", did), ("msisdn", msisdn)):
            if not DIGITS.fullmatch(value):
                raise InvalidPayload(key, "must contain digits only (in the path)")
        return did, msisdn

    async def show(self, request: web.Request) -> web.Response:
        """`GET /sandbox/agent/{did}/{msisdn}`: who holds the conversation."""
        try:
            did, msisdn = self._chat(request)
        except InvalidPayload as exc:
            return invalid(exc)
        return web.json_response(self.sandbox.handoffs.get(did, msisdn).to_json())

    async def take(self, request: web.Request) -> web.Response:
        """`POST .../take`: an agent takes the chat from the console (the bot is not told)."""
        try:
            did, msisdn = self._chat(request)
        except InvalidPayload as exc:
            return invalid(exc)
        chat = self.sandbox.handoffs.take(did, msisdn)
        self.sandbox.events.publish("handoff", did=did, msisdn=msisdn, **chat.to_json())
        logger.info("Sandbox: an agent took the chat of %s with %s", msisdn, did)
        return web.json_response(chat.to_json())

    async def write(self, request: web.Request) -> web.Response:
        """`POST .../messages` `{"text", "name"?}`: the agent writes; the user sees it, the bot
        is sent nothing."""
        try:
            did, msisdn = self._chat(request)
            fields = Fields(await read_json(request))
            text = fields.text("text", non_empty=True, max_len=4096) or ""
            name = fields.text("name", required=False, non_empty=True) or AGENT_NAME
        except InvalidPayload as exc:
            return invalid(exc)
        if self.sandbox.handoffs.get(did, msisdn).holder != AGENT:
            return error(409, "not_with_agent", "the chat is with the bot: take it or transfer")
        payload = {"type": "agent", "name": name, "content": text}
        message = self.state.record(OUT, did, msisdn, "agent", text, payload, _new_id())
        logger.info("Sandbox: the agent wrote to %s", msisdn)
        return web.json_response({"seq": message.seq, "message_id": message.message_id})

    async def hand_back(self, request: web.Request) -> web.Response:
        """`POST .../handback` `{"text"?}`: the chat is the bot's again; Chattigo's `transfer`
        webhook (flat legacy format) is posted to the bot."""
        return await self._notify_bot(request, "transfer")

    async def close(self, request: web.Request) -> web.Response:
        """`POST .../close` `{"text"?}`: Chattigo closes the chat and posts `close` to the bot."""
        return await self._notify_bot(request, "close")

    async def _notify_bot(self, request: web.Request, kind: str) -> web.Response:
        try:
            did, msisdn = self._chat(request)
            text = None
            if (await request.read()).strip():
                text = Fields(await read_json(request)).text("text", required=False)
        except InvalidPayload as exc:
            return invalid(exc)
        chat = self.sandbox.handoffs.get(did, msisdn)
        if kind == "transfer" and chat.holder != AGENT:
            return error(409, "not_with_agent", "the chat is with the bot already")
        url = self.state.webhooks.get(did)
        if url is None:
            return error(409, "no_webhook", f"no webhook registered for business number {did}")
        name = self.sandbox.people.get(msisdn, "Usuario")
        payload = build_legacy_webhook(
            kind, did=did, msisdn=msisdn, name=name, text=text or "", state_agent="BOT"
        )
        self.sandbox.handoffs.give_back(did, msisdn)
        if kind == "close":
            chat.closed = "close"
        record = self.state.record(IN, did, msisdn, kind, _NOTES[kind], payload, payload["id"])
        self.sandbox.events.publish("handoff", did=did, msisdn=msisdn, **chat.to_json())
        logger.info("Sandbox: %s of the chat of %s posted to the bot", kind, msisdn)
        try:
            status, answer = await self.sandbox.poster.post(url, payload)
        except DeliveryError as exc:
            self.sandbox.events.publish("delivery", seq=record.seq, webhook_status=None,
                                        reason=str(exc))
            return error(502, "bad_gateway", str(exc))
        self.sandbox.events.publish("delivery", seq=record.seq, webhook_status=status, reason=None,
                                    webhook_body=answer)
        return web.json_response(
            {"message_id": payload["id"], "webhook_status": status, "webhook_body": answer}
        )


def _new_id() -> str:
    return f"agent-{secrets.token_hex(6)}"
