"""Both adaptive-start variants and the REST baselines on one `rasa run`: the channels, and the
credentials file that mounts them."""

import asyncio
import json
import logging
import zlib
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.outbound import SendContext, build_requests
from rasa_chattigo.settings import ChattigoSettings, parse_settings

logger = logging.getLogger(__name__)

#: The variants the e2e and ack sections compare, by their webhook route name.
ON, OFF = "chattigo", "chattigo_gate_off"
#: The channel with its webhook front: a process of its own answers the webhooks.
FRONT = "chattigo_front"
#: Rasa's REST channel, and the same channel passing on the body's `metadata`.
REST, REST_METADATA = "rest", "rest_metadata"
#: Rasa's REST channel again, run beside `bench.burner` at the Chattigo harness's extra CPU.
REST_LOADED = "rest_loaded"
#: Rasa's REST channel sending each reply to the sandbox too, with bare aiohttp.
REST_REPLY = "rest_reply"

_LOGIN = """  base_url: ${CHATTIGO_BASE_URL}
  did: ${CHATTIGO_DID}
  username: ${CHATTIGO_USERNAME}
  password: ${CHATTIGO_PASSWORD}
  bot_name: "Aynux"
  allowed_ips: ["127.0.0.1/32"]
"""


class ChattigoInputGateOff(ChattigoInput):
    """The same channel under another route, so `adaptive_start: false` runs in the same process."""

    @classmethod
    def name(cls) -> str:
        """Mounted at /webhooks/chattigo_gate_off/."""
        return OFF


class ChattigoInputFront(ChattigoInput):
    """The same channel under another route, with `front_port` set: Chattigo's webhooks go to
    the front's own port (`front_webhook_url`), and this route is left unused."""

    @classmethod
    def name(cls) -> str:
        """Mounted at /webhooks/chattigo_front/."""
        return FRONT


class RestInputWithMetadata(RestInput):
    """Rasa's REST channel at /webhooks/rest_metadata/, giving the bot the body's `metadata`.

    Rasa 3.6's own `get_metadata` already reads that key; this class gives the baseline its own
    route and input channel name, whatever Rasa's default. The bench sends it the metadata the
    Chattigo channel gives the same message, so what that metadata costs inside Rasa (a larger
    tracker to save and load every turn) is measured apart from the channel.
    """

    @classmethod
    def name(cls) -> str:
        """Mounted at /webhooks/rest_metadata/."""
        return REST_METADATA

    def get_metadata(self, request: Any) -> Optional[Dict[str, Any]]:
        """The `metadata` object of the JSON body, if any."""
        body = request.json
        metadata = body.get("metadata") if isinstance(body, dict) else None
        return metadata if isinstance(metadata, dict) else None


class RestInputWithReply(RestInput):
    """Rasa's REST channel at /webhooks/rest_reply/ that also sends every bot response to the
    sandbox as the Chattigo channel would: the same requests (`build_requests`, menus for
    buttons included), each a bare aiohttp POST of compact UTF-8 JSON on a kept-alive
    connection, one login for the whole run, awaited in the turn as the channel awaits its send.

    The REST answer still carries the responses. What the channel does around each send (token
    cache, retry policy, outbox, 24-hour window, delivery records) is not done here: Chattigo
    against this baseline measures that, and everything else the channel adds, against a REST
    bot that pays the replies' own HTTP requests.

    Args:
        settings: the Chattigo channel's settings (`base_url`, `did`, login, `bot_name`).
    """

    def __init__(self, settings: ChattigoSettings) -> None:
        self._sender = _ReplySender(settings)

    @classmethod
    def name(cls) -> str:
        """Mounted at /webhooks/rest_reply/."""
        return REST_REPLY

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "RestInputWithReply":
        """The same credentials block as the Chattigo channel's."""
        return cls(parse_settings(credentials))

    @property
    def failures(self) -> int:
        """Responses whose send failed (each left out of its REST answer)."""
        return self._sender.failures

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """REST's blueprint, whose messages answer through a collector that also sends."""
        async def sending(message: UserMessage) -> Any:
            message.output_channel = _SendingCollector(message.output_channel,
                                                       message.sender_id, self._sender)
            return await on_new_message(message)

        blueprint = super().blueprint(sending)
        blueprint.after_server_stop(self._sender.close)
        return blueprint


class _SendingCollector(CollectingOutputChannel):
    """Collects each response into the REST answer's own list once it was sent."""

    def __init__(self, collector: Any, sender_id: str, sender: "_ReplySender") -> None:
        super().__init__()
        self.messages = collector.messages  # the list the REST answer returns
        # The sandbox takes digits: a number of the REST sender id's own (14 digits, unlike
        # the 12 of the Chattigo runs' users).
        self._msisdn = f"5497{zlib.crc32(sender_id.encode()):010d}"
        self._sender = sender

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Sends the response as the channel would, then collects it; a failed send is
        logged and counted, and the turn goes on without that response in the answer (the
        bench counts it missing), as the channel goes on after a failed send."""
        if await self._sender.send(self._msisdn, message):
            await super().send_response(recipient_id, message)


class _ReplySender:
    """Posts a response's Chattigo requests with bare aiohttp; logs in once, on the first."""

    def __init__(self, settings: ChattigoSettings) -> None:
        self._settings = settings
        self._session: Optional[aiohttp.ClientSession] = None
        self._token: Optional[str] = None
        self._lock: Optional[asyncio.Lock] = None
        self.failures = 0

    async def send(self, msisdn: str, message: Dict[str, Any]) -> bool:
        """Whether every request of the response was accepted (a refusal is logged)."""
        context = SendContext(did=str(self._settings.did), msisdn=msisdn,
                              bot_name=self._settings.bot_name,
                              channel=self._settings.channel,
                              text_limit=self._settings.max_text_length)
        try:
            session, token = await self._ready()
            for request in build_requests(message, context, self._settings):
                body = json.dumps(request.json, ensure_ascii=False, separators=(",", ":"))
                async with session.post(self._url(request.path),
                                        data=body.encode("utf-8"), headers={
                                            "Content-Type": "application/json",
                                            "Authorization": f"Bearer {token}"}) as answer:
                    await answer.read()
                    answer.raise_for_status()
        except (aiohttp.ClientError, asyncio.TimeoutError, ChattigoError) as exc:
            self.failures += 1
            logger.warning("REST baseline: a reply's send failed (%s)", type(exc).__name__)
            return False
        return True

    def _url(self, path: str) -> str:
        return self._settings.base_url.rstrip("/") + path

    async def close(self, *_: Any) -> None:
        """Closes the HTTP session (the server is stopping)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _ready(self) -> "tuple[aiohttp.ClientSession, str]":
        if self._session is not None and self._token is not None:
            return self._session, self._token
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            if self._token is None:  # the sandbox's tokens outlive any bench run
                login = {"username": self._settings.username,
                         "password": self._settings.password}
                async with self._session.post(self._url("/login"),
                                              json=login) as answer:
                    answer.raise_for_status()
                    self._token = str((await answer.json())["access_token"])
        return self._session, self._token


def write_credentials(folder: Path, front_port: int) -> Path:
    """Writes a credentials.yml with `rest`, REST with metadata, REST sending replies, the
    channel (adaptive start on), its gate-off twin and its twin with a webhook front on
    `front_port`.

    Returns:
        The file's absolute path (`rasa run --credentials` accepts it).
    """
    path = folder.resolve() / "credentials.yml"
    path.write_text(
        "rest:\n\n"
        "bench.channels.RestInputWithMetadata:\n\n"
        f"bench.channels.RestInputWithReply:\n{_LOGIN}\n"
        f"rasa_chattigo.ChattigoInput:\n{_LOGIN}  adaptive_start: true\n\n"
        f"bench.channels.ChattigoInputGateOff:\n{_LOGIN}  adaptive_start: false\n"
        "  store_namespace: bench_gate_off\n\n"
        f"bench.channels.ChattigoInputFront:\n{_LOGIN}  front_port: {front_port}\n"
        "  front_host: 127.0.0.1\n  store_namespace: bench_front\n",
        encoding="utf-8")
    return path


def front_webhook_url(front_port: int) -> str:
    """The webhook the front answers on `front_port` (this host)."""
    return f"http://127.0.0.1:{front_port}/webhooks/chattigo/webhook"


def webhook_url(rasa_url: str, variant: str) -> str:
    """The webhook of one variant on one `rasa run`."""
    return f"{rasa_url}/webhooks/{variant}/webhook"

