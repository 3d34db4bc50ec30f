"""Chattigo's own endpoints: login, webhook registration, proprietary and Cloud API sends."""

import asyncio
import hmac
import logging
from typing import Any, List, Optional

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.logsafe import redact_url
from rasa_chattigo.sandbox.cloud import CloudSend, validate_cloud
from rasa_chattigo.sandbox.fields import Fields, NotPermitted
from rasa_chattigo.sandbox.handoff import CONTROL_KINDS
from rasa_chattigo.sandbox.render import render_cloud, render_proprietary
from rasa_chattigo.sandbox.responses import error, inflict, invalid, meta_error, read_json
from rasa_chattigo.sandbox.route_group import RouteGroup
from rasa_chattigo.sandbox.state import OUT
from rasa_chattigo.sandbox.tokens import TokenRejected, token_from_header
from rasa_chattigo.sandbox.validation import AcceptedSend, validate_send
from rasa_chattigo.sandbox.whatsapp import new_wamid

logger = logging.getLogger(__name__)


class ChattigoRoutes(RouteGroup):
    """Handlers of the paths Chattigo serves under its base URL."""

    def routes(self) -> List[web.RouteDef]:
        """The route table."""
        return [
            web.post("/login", self.login),
            web.patch("/webhooks/inbound", self.register_webhook),
            web.post("/webhooks/inbound", self.send),
            web.post(r"/{version:v\d+\.\d+}/{did}/messages", self.send_cloud),
        ]

    def _user(self, request: web.Request, *, bare_allowed: bool) -> str:
        header = request.headers.get("Authorization", "")
        try:
            return self.sandbox.tokens.verify(token_from_header(header, bare_allowed=bare_allowed))
        except TokenRejected as exc:
            logger.info("Sandbox: %s %s refused: %s", request.method, request.path, exc)
            raise

    async def _fault(self, request: web.Request) -> Optional[web.StreamResponse]:
        """The injected fault's answer, if one is due; a slow answer only delays."""
        fault = self.sandbox.faults.next()
        if fault is None:
            return None
        self.state.stats.faults_injected += 1
        self.sandbox.events.publish("faults", **self.sandbox.faults.describe())
        if fault.mode == "slow":
            logger.info("Sandbox: injected fault slow on %s %s", request.method, request.path)
            await asyncio.sleep(fault.stall_seconds)
            return None
        return await inflict(request, fault)

    async def login(self, request: web.Request) -> web.Response:
        """`POST /login`: a JWT for valid credentials."""
        try:
            fields = Fields(await read_json(request))
            username = fields.text("username", non_empty=True) or ""
            password = fields.text("password", non_empty=True) or ""
        except InvalidPayload as exc:
            logger.info("Sandbox: login refused: %s", exc)
            return invalid(exc)
        expected = self.state.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            logger.info("Sandbox: login refused for %s: wrong credentials", username)
            return error(401, "unauthorized", "wrong username or password")
        self.state.stats.logins += 1
        self.sandbox.events.publish("login", user=username)
        logger.info("Sandbox: login of %s", username)
        token = self.sandbox.tokens.issue(username)
        return web.json_response({"access_token": token, "user": username, "access": True})

    async def register_webhook(self, request: web.Request) -> web.Response:
        """`PATCH /webhooks/inbound`: where messages to a business number are posted."""
        try:
            username = self._user(request, bare_allowed=True)
        except TokenRejected as exc:
            return error(401, "unauthorized", str(exc))
        try:
            fields = Fields(await read_json(request))
            did = fields.digits("waId") or ""
            url = fields.url("externalWebhook") or ""
        except InvalidPayload as exc:
            logger.info("Sandbox: webhook registration refused: %s", exc)
            return invalid(exc)
        if not self.state.may_use(username, did):
            reason = f"waId: business number {did} is not enabled for this user"
            logger.info("Sandbox: webhook registration refused: %s", reason)
            return error(403, "forbidden", reason, "waId")
        self.state.webhooks[did] = url
        logger.info("Sandbox: webhook of %s registered: %s", did, redact_url(url))
        return web.json_response({"waId": did, "externalWebhook": url})

    async def send(self, request: web.Request) -> web.StreamResponse:
        """`POST /webhooks/inbound`: the proprietary send; 200 with an empty body when accepted."""
        try:
            username = self._user(request, bare_allowed=False)
        except TokenRejected as exc:
            return error(401, "unauthorized", str(exc))
        refusal = await self._fault(request)
        if refusal is not None:
            return refusal
        body: Any = None
        try:
            body = await read_json(request)
            send = validate_send(body, self.state.dids.get(username, []))
        except InvalidPayload as exc:
            return invalid(exc, self._rejected(body, exc, "send"))
        if not self._claim(send):
            return web.Response(status=200)
        self.state.stats.accepted += 1
        if send.kind in CONTROL_KINDS:
            self.sandbox.control(send)
        else:
            self._deliver(send)
        return web.Response(status=200)

    async def send_cloud(self, request: web.Request) -> web.StreamResponse:
        """`POST /v15.0/{did}/messages`: a Cloud API send (native buttons and lists)."""
        try:
            username = self._user(request, bare_allowed=False)
        except TokenRejected as exc:
            return meta_error(401, 190, f"Invalid OAuth access token: {exc}")
        refusal = await self._fault(request)
        if refusal is not None:
            return refusal
        did = request.match_info["did"]
        body: Any = None
        try:
            self._check_did(username, did)
            body = await read_json(request)
            send = validate_cloud(body)
        except InvalidPayload as exc:
            status = self._rejected(body, exc, "Cloud API send", did=did)
            return meta_error(status, 10 if status == 403 else 100, str(exc), exc.field)
        wamid = self._deliver_cloud(did, send)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": send.to, "wa_id": send.wa_id}],
                "messages": [{"id": wamid}],
            }
        )

    def _rejected(
        self, body: Any, exc: InvalidPayload, what: str, did: Optional[str] = None
    ) -> int:
        """Counts, logs and shows a refused send; its status (403 when not permitted, else 400)."""
        self.state.stats.rejected += 1
        logger.info("Sandbox: %s refused: %s", what, exc)
        status = 403 if isinstance(exc, NotPermitted) else 400
        self.sandbox.refused(body, status, exc, did=did)
        return status

    def _claim(self, send: AcceptedSend) -> bool:
        """Whether this send's id is new; a repeated one is counted and recorded once."""
        if self.state.claim_id(send.did, send.message_id):
            return True
        self.state.stats.duplicate_ids += 1
        logger.info("Sandbox: send %s from %s repeated, recorded once", send.message_id, send.did)
        return False

    def _deliver(self, send: AcceptedSend) -> None:
        """Records a proprietary send to each recipient and hands it to WhatsApp."""
        text = render_proprietary(send.payload, send.kind)
        for msisdn in send.recipients:
            wamid = new_wamid(msisdn)
            self.state.record(
                OUT, send.did, msisdn, send.kind, text, send.payload, send.message_id,
                wamid=wamid, while_agent=self.sandbox.with_agent(send.did, msisdn),
            )
            self.sandbox.deliver(send.did, msisdn, wamid, send.message_id, send.kind)
        logger.info(
            "Sandbox: accepted %s %s from %s to %s",
            send.kind,
            send.message_id,
            send.did,
            ",".join(send.recipients),
        )

    def _check_did(self, username: str, did: str) -> None:
        """Refuses a Cloud API path whose business number is malformed or not the user's."""
        if not did.isdigit():
            raise InvalidPayload("did", "must contain digits only (in the path)")
        if not self.state.may_use(username, did):
            raise NotPermitted("did", f"business number {did} is not enabled for this user")

    def _deliver_cloud(self, did: str, send: CloudSend) -> str:
        """Records an accepted Cloud API send, hands it to WhatsApp; its new wamid."""
        wamid = new_wamid(send.wa_id)
        self.state.stats.accepted += 1
        text = render_cloud(send.payload)
        self.state.record(
            OUT, did, send.wa_id, send.kind, text, send.payload, wamid,
            wamid=wamid, while_agent=self.sandbox.with_agent(did, send.wa_id),
        )
        self.sandbox.deliver(did, send.wa_id, wamid, None, send.kind)
        logger.info(
            "Sandbox: accepted Cloud API %s %s from %s to %s", send.kind, wamid, did, send.wa_id
        )
        return wamid
