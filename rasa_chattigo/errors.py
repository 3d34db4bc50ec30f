"""Every error rasa-chattigo raises on purpose, in one tree; messages never carry secrets.

    ChattigoError
    ├── ConfigError                 a setting is missing or wrong (names the key)
    │   └── ChattigoStartupError    ...raised by `ChattigoInput.from_credentials`; Rasa prints
    │                               it as one line and stops (it is also a RasaException)
    ├── CredentialError             stored or inline credentials cannot be read
    ├── StoreError                  the credentials store cannot do what was asked
    │   ├── CredentialNotFound      no row for a number (also an UnknownBusinessNumber)
    │   ├── DuplicateCredential     a row for that number exists already
    │   └── InvalidCredentialField  a value for a row is missing or wrong
    ├── InvalidPayload              a webhook body we refuse (names the dotted field)
    ├── InvalidResponse             a bot response that cannot become a WhatsApp message
    ├── WebhookRejected             a webhook request refused before parsing (carries its status)
    ├── UnknownBusinessNumber       a message for a number we hold no enabled credentials for
    ├── Unavailable                 a dependency is down for now: answer 503, Chattigo redelivers
    │   ├── DedupUnavailable        the shared dedup store cannot be reached
    │   ├── DeliveryUnavailable     the inbox/outbox store cannot keep or read a message
    │   ├── DispatcherClosed        shutting down, accepting no new messages
    │   ├── Overloaded              `max_pending_messages` reached: 503 with Retry-After
    │   └── ProcessingFailed        `ack: inline`: the bot failed on a message
    ├── ChattigoAPIError            Chattigo answered, but not with success
    │   ├── AuthenticationError     login or token refused
    │   ├── RateLimited             429, with `retry_after`
    │   └── ServerError             5xx
    └── TransportError              no HTTP answer at all

Library exceptions are mapped into this tree in one place each: httpx's in `client`, pydantic's
in `compat.pydantic_api`, SQLAlchemy's in `credentials._store` and `delivery._sql`, Redis's
in `delivery._redis_claims` and `delivery._redis`.
"""

import functools
from typing import Any, Optional


class ChattigoError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ChattigoError):
    """A setting is missing or wrong; the message names the key and what to do."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"rasa_chattigo.ChattigoInput: setting '{key}': {problem}")


@functools.lru_cache(maxsize=None)
def _startup_error_class() -> type:
    # Rasa prints a RasaException at start-up as one line, without a traceback. Importing Rasa
    # costs 0.2 s, so the class is made on first use: the sandbox and the CLI never pay it.
    try:
        from rasa.shared.exceptions import RasaException
    except ImportError:  # pragma: no cover - the CLI installed without Rasa
        RasaException = Exception

    class ChattigoStartupError(ConfigError, RasaException):
        """The channel cannot start: a setting, a key or the credentials store is wrong."""

        def __init__(self, error: ChattigoError) -> None:
            ChattigoError.__init__(self, str(error))
            self.key = getattr(error, "key", "")
            self.problem = getattr(error, "problem", str(error))

    ChattigoStartupError.__module__ = __name__
    ChattigoStartupError.__qualname__ = "ChattigoStartupError"
    return ChattigoStartupError


def __getattr__(name: str) -> Any:
    if name == "ChattigoStartupError":
        return _startup_error_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class StoreError(ChattigoError):
    """The credentials store cannot do what was asked (unreachable, bad URL, no table)."""


class CredentialNotFound(StoreError, UnknownBusinessNumber):
    """No row for this business number."""

    def __init__(self, did: str) -> None:
        UnknownBusinessNumber.__init__(self, did)
        self.args = (f"no Chattigo credentials stored for business number {did}",)


class DuplicateCredential(StoreError):
    """A row for this business number exists already."""

    def __init__(self, did: str) -> None:
        self.did = did
        super().__init__(f"credentials for business number {did} are stored already; "
                         "update or remove them instead")


class InvalidCredentialField(StoreError):
    """A value given for a row is missing or wrong; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class Unavailable(ChattigoError):
    """Something the webhook needs is down for now: answer 503 so Chattigo delivers again."""


class DedupUnavailable(Unavailable):
    """The shared dedup store cannot be reached."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"dedup store {store} unavailable: {reason}")


class DeliveryUnavailable(Unavailable):
    """The inbox or outbox store cannot keep or read a message (answer 503: nothing kept)."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"delivery store {store} unavailable: {reason}")


class DispatcherClosed(Unavailable):
    """The server is shutting down and accepts no new work."""


class Overloaded(Unavailable):
    """The backlog of messages waiting for the bot is full; `retry_after` is in seconds."""

    def __init__(self, pending: int, retry_after: int) -> None:
        self.pending = pending
        self.retry_after = retry_after
        super().__init__(f"{pending} messages are waiting for the bot; retry later")


class ProcessingFailed(Unavailable):
    """In `ack: inline` mode, the bot failed on a message; Chattigo should redeliver it."""


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
