"""The channel's settings: parsed once from credentials.yml, with every default in this file."""

import os
import re
from typing import Any, Dict, List, Mapping, Optional

from rasa_chattigo.compat.pydantic_api import BaseModel, Extra, ValidationError, validator
from rasa_chattigo.errors import ConfigError

DEFAULT_BASE_URL = "https://channels.chattigo.com/bsp-cloud-chattigo-isv"

#: Chattigo documents 3,000 characters for a send's `content`; WhatsApp allows 4,096.
CHATTIGO_TEXT_LIMIT = 3000
WHATSAPP_TEXT_LIMIT = 4096
#: What a user hears when the bot fails on their message (`fallback_reply`).
DEFAULT_FALLBACK_REPLY = ("Lo siento, no pude procesar tu mensaje. "
                          "Por favor, inténtalo de nuevo más tarde.")

#: What the bot receives for a WhatsApp message that carries no text of its own.
#: Keys are message kinds (the `type` of a Cloud API message, lower-cased legacy types,
#: plus `voice` for voice notes and `unknown` as the fallback); values are Rasa intents.
DEFAULT_INTENTS: Dict[str, str] = {
    "image": "whatsapp_image",
    "video": "whatsapp_video",
    "audio": "whatsapp_audio",
    "voice": "whatsapp_voice",
    "document": "whatsapp_document",
    "sticker": "whatsapp_sticker",
    "location": "whatsapp_location",
    "contacts": "whatsapp_contacts",
    "reaction": "whatsapp_reaction",
    "order": "whatsapp_order",
    "nfm_reply": "whatsapp_flow_reply",
    "request_welcome": "whatsapp_welcome",
    "system": "whatsapp_system",
    "unsupported": "whatsapp_unsupported",
    "unknown": "whatsapp_unknown",
    # Not messages from the user: Chattigo giving the chat back after a hand-off (its legacy
    # `type: transfer` webhook), and a `failed` delivery status (both external intents).
    "transfer": "chattigo_handback",
    "delivery_failed": "whatsapp_delivery_failed",
}

#: What `outside_window` may say about a free-form reply outside WhatsApp's 24-hour window.
OUTSIDE_WINDOW_CHOICES = ("template", "send", "drop")

#: Kinds whose whole WhatsApp message is always kept in metadata["raw"]: nothing else describes
#: them. Other kinds keep it only with `metadata_raw: true`, since every tracker save and load
#: re-serialises the metadata of every message.
RAW_KINDS = frozenset({"unknown", "unsupported"})

#: Message kinds acknowledged but never handed to the bot, unless `ignore` says otherwise.
DEFAULT_IGNORED: List[str] = ["reaction", "system"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ChattigoSettings(BaseModel):
    """Every key `rasa_chattigo.ChattigoInput` accepts in credentials.yml.

    Unknown keys are refused, so a typo stops start-up instead of being ignored.
    """

    base_url: str = DEFAULT_BASE_URL
    did: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    bot_name: str = "Bot"
    channel: str = "WHATSAPP"

    # credentials kept elsewhere (issue 5)
    credentials_store: Optional[str] = None
    secret_key_file: Optional[str] = None

    # sending
    enabled: bool = True
    dry_run: bool = False
    buttons: str = "menu"
    cloud_api_version: str = "v15.0"
    max_text_length: int = CHATTIGO_TEXT_LIMIT
    timeout: float = 10.0
    max_attempts: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    token_ttl_seconds: float = 8 * 3600
    token_refresh_seconds: float = 7 * 3600

    # receiving
    intents: Dict[str, str] = {}
    ignore: Optional[List[str]] = None
    metadata_raw: bool = False
    webhook_token: Optional[str] = None
    app_secret: Optional[str] = None
    allowed_ips: List[str] = []
    trusted_proxies: List[str] = []
    max_body_bytes: int = 5 * 1024 * 1024
    ack: str = "background"
    shutdown_grace_seconds: float = 25.0
    adaptive_start: Optional[bool] = None  # on, unless a webhook front answers (front_port)
    adaptive_start_lag_ms: float = 10.0
    gc_freeze: bool = True
    parse_ahead: bool = True
    dedup_store: str = "memory"
    dedup_ttl_seconds: float = 24 * 3600
    dedup_inflight_ttl_seconds: float = 600.0
    dedup_max_entries: int = 100_000
    dedup_max_bytes: int = 32 * 1024 * 1024
    allow_unauthenticated: bool = False
    max_pending_messages: int = 1000
    fallback_reply: str = DEFAULT_FALLBACK_REPLY
    # the webhook front: a process of its own answers the webhook (docs/front.md)
    front_port: Optional[int] = None
    front_host: str = "0.0.0.0"  # noqa: S104 - Chattigo must reach it, as it reaches rasa run

    # delivery: the durable inbox and the outbox (issue 13; docs/delivery.md)
    inbox_store: Optional[str] = None
    inbox_path: str = ".chattigo/inbox.db"
    store_namespace: str = "rasa_chattigo"
    delivery_lease_seconds: float = 30.0
    outbox_max_age_seconds: float = 3600.0
    outbox_backoff_seconds: float = 2.0
    outbox_max_backoff_seconds: float = 300.0

    # hand-off to Chattigo's human agents (docs/handoff.md)
    handoff_timeout_seconds: float = 24 * 3600

    # WhatsApp's 24-hour window and failed deliveries (docs/24-hour-window.md)
    outside_window: Optional[str] = None
    window_template: Optional[Dict[str, Any]] = None
    delivery_failed_intent: bool = True

    # administration
    admin_token: Optional[str] = None

    class Config:
        extra = Extra.forbid
        allow_mutation = False

    @validator("base_url")
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @validator("did")
    def _did(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not is_business_number(value):
            raise ValueError(NOT_A_BUSINESS_NUMBER)
        return value

    @validator("buttons")
    def _buttons(cls, value: str) -> str:
        if value not in ("menu", "native"):
            raise ValueError("must be 'menu' (default) or 'native'")
        return value

    @validator("ack")
    def _ack(cls, value: str) -> str:
        if value not in ("background", "inline"):
            raise ValueError("must be 'background' (default) or 'inline'")
        return value

    @validator("adaptive_start_lag_ms")
    def _lag_target(cls, value: float) -> float:
        if not value > 0:
            raise ValueError("must be a number of milliseconds above 0")
        return value

    @validator("front_port")
    def _front_port(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("must be a TCP port, 1 to 65535")
        return value

    @validator("intents")
    def _intents(cls, value: Dict[str, str]) -> Dict[str, str]:
        for kind, intent in value.items():
            if not intent or any(ch.isspace() or ch in "{}@/" for ch in intent):
                raise ValueError(f"intent for '{kind}' must be a plain intent name, got {intent!r}")
        return value

    @validator("delivery_lease_seconds", "outbox_max_age_seconds", "outbox_backoff_seconds",
               "outbox_max_backoff_seconds", "timeout", "token_ttl_seconds",
               "token_refresh_seconds")
    def _positive(cls, value: float) -> float:
        if not 0 < value < float("inf"):
            raise ValueError("must be a positive number of seconds")
        return value

    @validator("backoff_seconds", "max_backoff_seconds", "shutdown_grace_seconds")
    def _not_negative(cls, value: float) -> float:
        if not 0 <= value < float("inf"):
            raise ValueError("must be a number of seconds, 0 or more")
        return value

    @validator("dedup_store", "inbox_store")
    def _store_name(cls, value: Optional[str]) -> Optional[str]:
        """`Memory `, `SQLite` and `REDIS://host` mean what their lower-case spelling means."""
        if value is None:
            return None
        scheme, sep, rest = value.strip().partition("://")
        return f"{scheme.lower()}{sep}{rest}"

    @validator("store_namespace")
    def _namespace(cls, value: str) -> str:
        if not value or len(value) > 60 or any(ch.isspace() or ch in "/:" for ch in value):
            raise ValueError("must be 1 to 60 characters without spaces, '/' or ':'")
        return value

    @validator("handoff_timeout_seconds")
    def _handoff_timeout(cls, value: float) -> float:
        if not 0 < value < float("inf"):
            raise ValueError("must be a number of seconds above 0 (default 86400, 24 h)")
        return value

    @validator("outside_window")
    def _outside_window(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in OUTSIDE_WINDOW_CHOICES:
            raise ValueError("must be 'template', 'send' or 'drop'")
        return value

    @validator("max_attempts", "max_pending_messages", "dedup_max_bytes", "dedup_max_entries",
               "max_body_bytes")
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @validator("max_text_length")
    def _text_length(cls, value: int) -> int:
        if not 1 <= value <= WHATSAPP_TEXT_LIMIT:
            raise ValueError(f"must be between 1 and {WHATSAPP_TEXT_LIMIT} (WhatsApp's limit); "
                             f"Chattigo documents {CHATTIGO_TEXT_LIMIT}")
        return value

    @property
    def intent_for(self) -> Dict[str, str]:
        """The defaults overlaid with the configured `intents`."""
        return {**DEFAULT_INTENTS, **self.intents}

    @property
    def ignored_kinds(self) -> List[str]:
        """Kinds acknowledged and dropped: the configured `ignore`, else the defaults."""
        return list(DEFAULT_IGNORED if self.ignore is None else self.ignore)

    @property
    def outside_window_action(self) -> str:
        """`outside_window`, else `template` when a `window_template` is set, else `send`."""
        if self.outside_window is not None:
            return self.outside_window
        return "template" if self.window_template else "send"

    @property
    def starts_adaptively(self) -> bool:
        """`adaptive_start`; unset, on without a webhook front, off with one (the front answers
        webhooks on its own CPU, so nothing needs to hold messages back for them)."""
        if self.adaptive_start is not None:
            return self.adaptive_start
        return self.front_port is None

    @property
    def sending_enabled(self) -> bool:
        """False in test mode (`dry_run`, or `enabled: false` / CHATTIGO_ENABLED=false)."""
        return self.enabled and not self.dry_run

    def __repr_args__(self) -> Any:
        hidden = {"password", "webhook_token", "app_secret", "admin_token"}
        urls = {"base_url", "credentials_store", "dedup_store", "inbox_store"}
        return [(k, "***" if k in hidden and v else safe_url(v) if k in urls and v else v)
                for k, v in super().__repr_args__()]


#: Why a value is refused as a WhatsApp Business number (DID).
NOT_A_BUSINESS_NUMBER = "must be the WhatsApp Business number in digits only, without '+'"
_BUSINESS_NUMBER = re.compile(r"[0-9]{1,20}")


def is_business_number(value: str) -> bool:
    """Whether `value` is a business number (DID) as Chattigo writes it: ASCII digits only."""
    return _BUSINESS_NUMBER.fullmatch(value) is not None


def safe_url(url: str) -> str:
    """`url` without its user, password and query, for logs, errors and reprs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url if url.isalnum() else "(unparseable URL)"
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{scheme}://{host}{slash}{path.partition('?')[0]}"


def _env_flag(name: str) -> Optional[bool]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def parse_settings(credentials: Optional[Mapping[str, Any]]) -> ChattigoSettings:
    """Parses the channel's block of credentials.yml into settings.

    Empty values (an unset `${VAR}` expands to an empty string) count as absent, so the
    default applies. CHATTIGO_BASE_URL and CHATTIGO_ENABLED fill in what the file leaves out.

    Raises:
        ConfigError: naming the first wrong or missing key.
    """
    raw = {k: v for k, v in dict(credentials or {}).items() if v is not None and v != ""}
    if "base_url" not in raw and os.environ.get("CHATTIGO_BASE_URL"):
        raw["base_url"] = os.environ["CHATTIGO_BASE_URL"]
    enabled = _env_flag("CHATTIGO_ENABLED")
    if "enabled" not in raw and enabled is not None:
        raw["enabled"] = enabled
    try:
        settings = ChattigoSettings.parse_obj(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"] if p != "__root__")
        message = "unknown key" if first["type"] == "value_error.extra" else first["msg"]
        raise ConfigError(key, message) from None
    _check_window(settings)
    if settings.admin_token and settings.credentials_store is None:
        raise ConfigError("admin_token", "the admin API manages a credentials_store: name one")
    if settings.credentials_store is None:
        for key in ("did", "username", "password"):
            if getattr(settings, key) is None:
                raise ConfigError(
                    key,
                    "is required (or name a credentials_store holding one row per number)",
                )
    return settings


def _check_window(settings: ChattigoSettings) -> None:
    """`window_template` is a whole template, and present when `outside_window` needs it."""
    from rasa_chattigo.errors import InvalidResponse
    from rasa_chattigo.outbound._templates import check_hsm

    if settings.window_template is not None:
        try:
            check_hsm(settings.window_template, "window_template")
        except InvalidResponse as exc:
            raise ConfigError(exc.field, exc.reason) from None
    elif settings.outside_window == "template":
        raise ConfigError("window_template", "is required when outside_window is 'template'")
