"""WhatsApp through Chattigo for Rasa: the `chattigo` input and output channels.

Name `rasa_chattigo.ChattigoInput` in credentials.yml. Where each concern lives:

- `channel`: the Rasa glue (`ChattigoInput`, the webhook; `ChattigoOutput`, the replies).
- `settings`: every setting, parsed and checked once at start-up (`ChattigoSettings`).
- `errors`: the whole error tree (`ChattigoError` and its children).
- `guard`: the webhook's checks before parsing (size, address, token, signature).
- `inbound`: webhook JSON to messages for the bot (pure).
- `dispatch` and `dedup`: ordered background handling, and each message handled once.
- `delivery`: the durable inbox (kept before the 200) and the outbox (replies Chattigo refused).
- `pacing`: adaptive start, so messages start only while the event loop keeps up.
- `outbound`: bot responses to Chattigo send requests (pure).
- `client`: the only place that speaks HTTP to Chattigo (login, tokens, retries).
- `handoff`: the chat handed to Chattigo's agents: the pause, the hand-back, the timeout.
- `window` and `delivery`: WhatsApp's 24-hour window (`outside_window`), and failed
  deliveries handed to the bot; `notes` keeps what they remember (memory or Redis).
- `credentials`: where each number's login comes from, encrypted; the admin API.
- `compat`: every pydantic-, Sanic-, Rasa- and redis-version-specific call.
- `cli`, `sandbox`, `devtools`: the `rasa-chattigo` command, the local Chattigo, the demo.

The Rasa classes load on first use, so the sandbox and the CLI start without importing Rasa.
"""

from typing import TYPE_CHECKING, Any

from rasa_chattigo.errors import (
    AuthenticationError,
    ChattigoAPIError,
    ChattigoError,
    ConfigError,
    CredentialError,
    CredentialNotFound,
    DedupUnavailable,
    DeliveryUnavailable,
    DispatcherClosed,
    DuplicateCredential,
    InvalidCredentialField,
    InvalidPayload,
    InvalidResponse,
    Overloaded,
    ProcessingFailed,
    RateLimited,
    ServerError,
    StoreError,
    TransportError,
    Unavailable,
    UnknownBusinessNumber,
    WebhookRejected,
)

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
    from rasa_chattigo.client import ChattigoClient
    from rasa_chattigo.errors import ChattigoStartupError
    from rasa_chattigo.settings import ChattigoSettings

__version__ = "0.2.0"

__all__ = [
    "AuthenticationError",
    "ChattigoAPIError",
    "ChattigoClient",
    "ChattigoError",
    "ChattigoInput",
    "ChattigoOutput",
    "ChattigoSettings",
    "ChattigoStartupError",
    "ConfigError",
    "CredentialError",
    "CredentialNotFound",
    "DedupUnavailable",
    "DeliveryUnavailable",
    "DispatcherClosed",
    "DuplicateCredential",
    "InvalidCredentialField",
    "InvalidPayload",
    "InvalidResponse",
    "Overloaded",
    "ProcessingFailed",
    "RateLimited",
    "ServerError",
    "StoreError",
    "TransportError",
    "Unavailable",
    "UnknownBusinessNumber",
    "WebhookRejected",
    "__version__",
]

_LAZY = {
    "ChattigoInput": "rasa_chattigo.channel",
    "ChattigoOutput": "rasa_chattigo.channel",
    "ChattigoClient": "rasa_chattigo.client",
    "ChattigoSettings": "rasa_chattigo.settings",
    "ChattigoStartupError": "rasa_chattigo.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rasa_chattigo' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
