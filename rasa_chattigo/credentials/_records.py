"""What the credentials store holds: the table, its records, their checks, and its errors."""

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Hashable, Iterable, Mapping, Optional, Tuple

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import Engine, Row, create_engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from rasa_chattigo.credentials._crypto import ENC_PREFIX, Secret
from rasa_chattigo.errors import InvalidCredentialField, StoreError
from rasa_chattigo.settings import NOT_A_BUSINESS_NUMBER, is_business_number, safe_url

TABLE_NAME = "chattigo_credentials"
MAX_LENGTH = {"did": 20, "name": 255, "username": 255, "bot_name": 255, "organization_id": 64}
#: Fields `update` may change; the DID is the row's identity and never changes.
UPDATABLE = ("name", "username", "password", "bot_name", "organization_id", "enabled")

metadata = MetaData()
credentials_table = Table(
    TABLE_NAME,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("did", String(MAX_LENGTH["did"]), nullable=False, unique=True),
    Column("name", String(MAX_LENGTH["name"]), nullable=False, default=""),
    Column("username", String(MAX_LENGTH["username"]), nullable=False),
    Column("password_encrypted", Text, nullable=False),
    Column("bot_name", String(MAX_LENGTH["bot_name"]), nullable=False, default="Bot"),
    Column("organization_id", String(MAX_LENGTH["organization_id"]), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class CredentialInfo:
    """One stored business number without its password.

    Attributes:
        did: the WhatsApp Business number, digits only.
        name: a label for people.
        username: the Chattigo login.
        bot_name: the sender name shown on messages sent for this number.
        organization_id: free-form tenant id, or None.
        enabled: disabled rows are kept but receive and send nothing.
        created_at: when the row was added (UTC).
        updated_at: when it last changed (UTC); key rotation does not count.
    """

    did: str
    name: str
    username: str
    bot_name: str
    organization_id: Optional[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready fields, dates in ISO 8601; never a password."""
        return {
            "did": self.did, "name": self.name, "username": self.username,
            "bot_name": self.bot_name, "organization_id": self.organization_id,
            "enabled": self.enabled, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class StoredCredentials(CredentialInfo):
    """A stored business number with its decrypted password, hidden in reprs.

    Attributes:
        password: the plain password inside a `Secret`; call `password.reveal()` to log in.
    """

    password: Secret = field(repr=False)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every value we wrote was UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def info_from_row(row: Row) -> CredentialInfo:
    """The record of a table row, timestamps in UTC."""
    return CredentialInfo(
        did=row.did, name=row.name, username=row.username, bot_name=row.bot_name,
        organization_id=row.organization_id, enabled=bool(row.enabled),
        created_at=_utc(row.created_at), updated_at=_utc(row.updated_at),
    )


def token_of(stored: str) -> str:
    """The Fernet token in a `password_encrypted` value.

    Rows hold `enc:<token>`; a bare token (written by other tools) is accepted too.
    """
    return stored[len(ENC_PREFIX):] if stored.startswith(ENC_PREFIX) else stored


class TTLCache:
    """A thread-safe map whose entries expire `seconds` after they were put (0: keeps none).

    Args:
        seconds: lifetime of an entry.
        clock: monotonic clock.
    """

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: Dict[Hashable, Tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Tuple[bool, Any]:
        """(True, value) while the entry lives, else (False, None)."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return False, None
        return True, entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Keeps `value` for `seconds`."""
        if self.seconds > 0:
            with self._lock:
                self._entries[key] = (self._clock() + self.seconds, value)

    def clear(self) -> None:
        """Forgets every entry."""
        with self._lock:
            self._entries.clear()


def check_fields(
    values: Mapping[str, Any], *, required: Iterable[str], updating: bool = False
) -> Dict[str, Any]:
    """Validated, normalised row values: strings stripped, empty organization_id -> None.

    Raises:
        InvalidCredentialField: naming the first unknown, missing or bad field.
    """
    allowed = UPDATABLE if updating else ("did", *UPDATABLE)
    for key in values:
        if key not in allowed:
            problem = "cannot be changed; remove and add the number" if key == "did" else (
                f"unknown field (expected one of: {', '.join(allowed)})")
            raise InvalidCredentialField(key, problem)
    if updating and not values:
        raise InvalidCredentialField("changes", "nothing to update")
    clean: Dict[str, Any] = {}
    for key, value in values.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise InvalidCredentialField(key, "must be true or false")
        elif key == "organization_id" and value is None:
            pass
        elif not isinstance(value, str):
            raise InvalidCredentialField(key, "must be a string")
        elif key != "password":
            value = value.strip() or (None if key == "organization_id" else "")
        clean[key] = value
    for key in required:
        if not clean.get(key):
            raise InvalidCredentialField(key, "is required")
    for key in ("username", "password", "bot_name"):
        if key in clean and clean[key] == "":
            raise InvalidCredentialField(key, "must not be empty")
    if "did" in clean and not is_business_number(clean["did"]):
        raise InvalidCredentialField("did", NOT_A_BUSINESS_NUMBER)
    for key, limit in MAX_LENGTH.items():
        if isinstance(clean.get(key), str) and len(clean[key]) > limit:
            raise InvalidCredentialField(key, f"must be at most {limit} characters")
    return clean


def make_engine(url: str, **overrides: Any) -> Engine:
    """A SQLAlchemy engine for `url` that never puts bound values in errors or logs.

    `overrides` are more `create_engine` options (the delivery store's pool, for one).

    Raises:
        StoreError: when the URL cannot be parsed or its driver is not installed.
    """
    try:
        parsed = make_url(url)
        options: Dict[str, Any] = {"future": True, "hide_parameters": True}
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            # One shared connection, or every thread would see its own empty database.
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            options["pool_pre_ping"] = True
        return create_engine(parsed, **{**options, **overrides})
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(
            f"credentials store {safe_url(url)}: cannot use it ({type(exc).__name__}); expected "
            "a SQLAlchemy URL such as sqlite:///chattigo.db or postgresql://user@host/db"
        ) from None
