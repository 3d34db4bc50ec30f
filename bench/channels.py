"""Both adaptive-start variants and both REST baselines on one `rasa run`: the credentials
file that mounts them."""

from pathlib import Path
from typing import Any, Dict, Optional

from rasa.core.channels.rest import RestInput

from rasa_chattigo.channel import ChattigoInput

#: The variants the e2e and ack sections compare, by their webhook route name.
ON, OFF = "chattigo", "chattigo_gate_off"
#: Rasa's REST channel, and the same channel passing on the body's `metadata`.
REST, REST_METADATA = "rest", "rest_metadata"
#: Rasa's REST channel again, run beside `bench.burner` at the Chattigo harness's extra CPU.
REST_LOADED = "rest_loaded"

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
        f"rasa_chattigo.ChattigoInput:\n{_LOGIN}  adaptive_start: true\n\n"
        f"bench.channels.ChattigoInputGateOff:\n{_LOGIN}  adaptive_start: false\n"
        "  store_namespace: bench_gate_off\n",
        encoding="utf-8")
    return path


def webhook_url(rasa_url: str, variant: str) -> str:
    """The webhook of one variant on one `rasa run`."""
    return f"{rasa_url}/webhooks/{variant}/webhook"

