"""WhatsApp through Chattigo for Rasa: the `chattigo` input and output channels.

Name `rasa_chattigo.ChattigoInput` in credentials.yml. The Rasa classes load on first use,
so `rasa-chattigo sandbox` and the CLI start without importing Rasa.
"""

from typing import TYPE_CHECKING, Any

from rasa_chattigo.errors import (
    AuthenticationError,
    ChattigoAPIError,
    ChattigoError,
    ConfigError,
    CredentialError,
    InvalidPayload,
    InvalidResponse,
    RateLimited,
    ServerError,
    TransportError,
    UnknownBusinessNumber,
    WebhookRejected,
)

if TYPE_CHECKING:  # pragma: no cover
    from rasa_chattigo.channel import ChattigoInput, ChattigoOutput
    from rasa_chattigo.client import ChattigoClient
    from rasa_chattigo.settings import ChattigoSettings

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ChattigoAPIError",
    "ChattigoClient",
    "ChattigoError",
    "ChattigoInput",
    "ChattigoOutput",
    "ChattigoSettings",
    "ConfigError",
    "CredentialError",
    "InvalidPayload",
    "InvalidResponse",
    "RateLimited",
    "ServerError",
    "TransportError",
    "UnknownBusinessNumber",
    "WebhookRejected",
    "__version__",
]

_LAZY = {
    "ChattigoInput": "rasa_chattigo.channel",
    "ChattigoOutput": "rasa_chattigo.channel",
    "ChattigoClient": "rasa_chattigo.client",
    "ChattigoSettings": "rasa_chattigo.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rasa_chattigo' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
