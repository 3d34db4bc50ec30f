"""The typed error tree of rasa-chattigo; messages never carry secrets."""

from typing import Optional


class ChattigoError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ChattigoError):
    """A setting is missing or wrong; the message names the key and what to do."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"rasa_chattigo.ChattigoInput: setting '{key}': {problem}")


class CredentialError(ChattigoError):
    """Stored or inline credentials cannot be read (missing key, wrong key, tampered value)."""


class InvalidPayload(ChattigoError):
    """A webhook body we cannot accept; `field` is a dotted path such as `entry.0.changes`."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidResponse(ChattigoError, ValueError):
    """A bot response that cannot become a WhatsApp message; `field` is a dotted path.

    Raised while building outbound requests, so it is distinct from `InvalidPayload` (a
    webhook body we refuse): a bad bot response is a bug in the bot, not in the request.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"bot response field '{field}': {reason}")


class WebhookRejected(ChattigoError):
    """A webhook request refused before parsing (auth, size, origin); carries its HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class UnknownBusinessNumber(ChattigoError):
    """A message arrived for a business number (DID) we hold no enabled credentials for."""

    def __init__(self, did: str) -> None:
        self.did = did
        super().__init__(f"no enabled Chattigo credentials for business number {did}")


class ChattigoAPIError(ChattigoError):
    """Chattigo answered, but not with success."""

    def __init__(self, status: int, reason: str, *, retry_after: Optional[float] = None) -> None:
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"Chattigo answered HTTP {status}: {reason}")


class AuthenticationError(ChattigoAPIError):
    """Chattigo refused the login or the token (HTTP 400/401 on /login, 401 elsewhere)."""


class RateLimited(ChattigoAPIError):
    """Chattigo answered 429; `retry_after` holds its Retry-After in seconds when given."""


class ServerError(ChattigoAPIError):
    """Chattigo answered 5xx."""


class TransportError(ChattigoError):
    """No HTTP answer at all: connection refused, reset, or timed out."""
