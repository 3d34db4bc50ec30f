"""Both adaptive-start variants on one `rasa run`: the credentials file that mounts them."""

from pathlib import Path

from rasa_chattigo.channel import ChattigoInput

#: The variants the e2e and ack sections compare, by their webhook route name.
ON, OFF = "chattigo", "chattigo_gate_off"

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


def write_credentials(folder: Path) -> Path:
    """Writes a credentials.yml with `rest`, the channel (adaptive start on) and its gate-off twin.

    Returns:
        The file's absolute path (`rasa run --credentials` accepts it).
    """
    path = folder.resolve() / "credentials.yml"
    path.write_text(
        "rest:\n\n"
        f"rasa_chattigo.ChattigoInput:\n{_LOGIN}  adaptive_start: true\n\n"
        f"bench.channels.ChattigoInputGateOff:\n{_LOGIN}  adaptive_start: false\n"
        "  store_namespace: bench_gate_off\n",
        encoding="utf-8")
    return path


def webhook_url(rasa_url: str, variant: str) -> str:
    """The webhook of one variant on one `rasa run`."""
    return f"{rasa_url}/webhooks/{variant}/webhook"

