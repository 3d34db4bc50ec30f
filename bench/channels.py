"""Both adaptive-start variants and both REST baselines on one `rasa run`: the credentials
file that mounts them."""

import asyncio
import zlib
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.outbound import CHATTIGO_SEND_PATH, new_message_id

#: The variants the e2e and ack sections compare, by their webhook route name.
ON, OFF = "chattigo", "chattigo_gate_off"
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
    """Rasa's REST channel at /webhooks/rest_reply/ that also sends every reply to the sandbox
    as Chattigo's send, with the least a sender can do: the Chattigo channel's own body, one
    bare aiohttp POST on a kept-alive connection, one login for the whole run.

    The REST answer is unchanged (it still carries the replies), and the turn awaits each
    POST as the Chattigo channel awaits its send. Chattigo against this baseline therefore
    compares all that the channel adds except the reply's own HTTP request, which both pay,
    the sandbox's work of accepting it included.

    Args:
        base_url: the sandbox.
        did: the business number sending.
        username, password: the sandbox login of `did`.
    """

    def __init__(self, base_url: str, did: str, username: str, password: str) -> None:
        self._sender = _ReplySender(base_url, did, username, password)

    @classmethod
    def name(cls) -> str:
        """Mounted at /webhooks/rest_reply/."""
        return REST_REPLY

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "RestInputWithReply":
        """The sandbox and login from the credentials entry (as the Chattigo channel's)."""
        entry = credentials or {}
        return cls(str(entry["base_url"]), str(entry["did"]), str(entry["username"]),
                   str(entry["password"]))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """REST's blueprint, whose messages answer through a collector that also sends."""
        async def sending(message: UserMessage) -> Any:
            message.output_channel = _SendingCollector(message.output_channel,
                                                       message.sender_id, self._sender)
            return await on_new_message(message)

        return super().blueprint(sending)


class _SendingCollector(CollectingOutputChannel):
    """Collects replies into the REST answer's own list once each one is sent."""

    def __init__(self, collector: Any, sender_id: str, sender: "_ReplySender") -> None:
        super().__init__()
        self.messages = collector.messages  # the list the REST answer returns
        # The sandbox takes digits: a number of the REST sender id's own.
        self._msisdn = f"5497{zlib.crc32(sender_id.encode()):010d}"
        self._sender = sender

    async def _persist_message(self, message: Dict[str, Any]) -> None:
        # Sent first: a reply whose send failed is missing from the REST answer, and the bench
        # counts it (Rasa's REST channel answers 200 whatever the turn raised).
        await self._sender.send(self._msisdn, str(message.get("text") or ""))
        await super()._persist_message(message)


class _ReplySender:
    """Posts Chattigo text sends with bare aiohttp; logs in once, on the first send."""

    def __init__(self, base_url: str, did: str, username: str, password: str) -> None:
        self._base_url, self._did = base_url.rstrip("/"), did
        self._login = {"username": username, "password": password}
        self._session: Optional[aiohttp.ClientSession] = None
        self._token: Optional[str] = None
        self._lock: Optional[asyncio.Lock] = None

    async def send(self, msisdn: str, text: str) -> None:
        """One send, as the channel's body; raises on a refusal."""
        session, token = await self._ready()
        body = {"id": new_message_id(), "did": self._did, "msisdn": msisdn, "type": "text",
                "channel": "WHATSAPP", "content": text, "name": "Aynux", "isAttachment": False}
        async with session.post(self._base_url + CHATTIGO_SEND_PATH, json=body,
                                headers={"Authorization": f"Bearer {token}"}) as answer:
            await answer.read()
            answer.raise_for_status()

    async def _ready(self) -> "tuple[aiohttp.ClientSession, str]":
        if self._session is not None and self._token is not None:
            return self._session, self._token
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            if self._token is None:
                async with self._session.post(self._base_url + "/login",
                                              json=self._login) as answer:
                    answer.raise_for_status()
                    self._token = str((await answer.json())["access_token"])
        return self._session, self._token


def write_credentials(folder: Path) -> Path:
    """Writes a credentials.yml with `rest`, REST with metadata, the channel (adaptive start on)
    and its gate-off twin.

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
        "  store_namespace: bench_gate_off\n",
        encoding="utf-8")
    return path


def webhook_url(rasa_url: str, variant: str) -> str:
    """The webhook of one variant on one `rasa run`."""
    return f"{rasa_url}/webhooks/{variant}/webhook"

