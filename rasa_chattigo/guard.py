"""Webhook request checks run before parsing: body size, client address, shared token, signature."""

import hashlib
import hmac
import ipaddress
import logging
import re
from typing import List, Mapping, Optional, Sequence, Union
from urllib.parse import parse_qsl

from rasa_chattigo.errors import ConfigError, WebhookRejected
from rasa_chattigo.logsafe import RedactTokenFilter, redact_url
from rasa_chattigo.settings import ChattigoSettings

__all__ = ["RedactTokenFilter", "WebhookGuard", "redact_url"]

logger = logging.getLogger(__name__)

TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
TOKEN_HEADER = "X-Webhook-Token"  # noqa: S105
SIGNATURE_HEADER = "X-Hub-Signature-256"
FORWARDED_FOR_HEADER = "X-Forwarded-For"
MIN_TOKEN_LENGTH = 16

_SIGNATURE_PREFIX = "sha256="
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
#: A parsed query (Sanic's `request.args`: name -> list; or name -> str) or a raw query string.
Query = Union[str, Mapping[str, Union[str, Sequence[str]]]]


class WebhookGuard:
    """Decides whether a webhook request may be parsed; every configured rule must pass.

    Rules run in this order and the first failure raises `WebhookRejected`:
    body size (413), client address (403), shared token (401), body signature (401).
    A rule whose setting is unset is skipped. Reasons never repeat what the caller sent.

    Args:
        settings: the channel settings; reads `max_body_bytes`, `allowed_ips`,
            `trusted_proxies`, `webhook_token` and `app_secret`.

    Raises:
        ConfigError: a CIDR in `allowed_ips` or `trusted_proxies` is not valid, or no rule
            is set and `allow_unauthenticated` is not true (the webhook fails closed).
    """

    def __init__(self, settings: ChattigoSettings) -> None:
        _check_authentication(settings)
        self._max_body = settings.max_body_bytes
        self._allowed = _networks("allowed_ips", settings.allowed_ips)
        self._proxies = _networks("trusted_proxies", settings.trusted_proxies)
        self._token = settings.webhook_token.encode() if settings.webhook_token else None
        self._secret = settings.app_secret.encode() if settings.app_secret else None
        _warn_about(settings)

    def __repr__(self) -> str:
        return (
            f"WebhookGuard(token={self._token is not None}, signature={self._secret is not None}, "
            f"allowed_ips={len(self._allowed)}, trusted_proxies={len(self._proxies)}, "
            f"max_body_bytes={self._max_body})"
        )

    def check_content_length(self, value: Optional[str]) -> None:
        """Refuses an announced body that is too large or not a length, before it is read.

        Args:
            value: the Content-Length header, or None when absent (then `check` decides).

        Raises:
            WebhookRejected: 413 when too large, 400 when not a non-negative integer.
        """
        if value is None:
            return
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise WebhookRejected(400, "Content-Length is not a non-negative integer")
        self._check_size(int(text) if len(text) <= 18 else self._max_body + 1)

    def check(
        self,
        *,
        headers: Mapping[str, str],
        query: Query,
        peer_ip: Optional[str],
        body: bytes,
    ) -> None:
        """Runs every configured rule against one request.

        Args:
            headers: request headers; names are matched case-insensitively and repeated
                headers are honoured when `headers.items()` yields each (as Sanic's does).
            query: the parsed query (`request.args`) or the raw query string.
            peer_ip: the socket peer address (Sanic: `request.ip`), not a proxy-derived one.
            body: the raw body bytes exactly as received.

        Raises:
            WebhookRejected: with status 413, 403 or 401 (see the class docstring).
        """
        self._check_size(len(body))
        self._check_address(peer_ip, headers)
        self._check_token(headers, query)
        self._check_signature(headers, body)

    def client_ip(self, peer_ip: Optional[str], headers: Mapping[str, str]) -> Optional[str]:
        """The caller's address as the allow-list sees it (useful in logs); None if unknown.

        The socket peer, unless the peer is a trusted proxy: then the right-most
        `X-Forwarded-For` entry that is not itself a trusted proxy, because entries to its
        left were written by the caller and can be forged.
        """
        address = self._client_address(peer_ip, headers)
        return None if address is None else str(address)

    def _check_size(self, size: int) -> None:
        if size > self._max_body:
            raise WebhookRejected(413, f"body larger than max_body_bytes ({self._max_body})")

    def _check_address(self, peer_ip: Optional[str], headers: Mapping[str, str]) -> None:
        if not self._allowed:
            return
        address = self._client_address(peer_ip, headers)
        if address is None or not _within(address, self._allowed):
            logger.warning("Webhook refused: client %s not in allowed_ips", address or "unknown")
            raise WebhookRejected(403, "client address not allowed")

    def _check_token(self, headers: Mapping[str, str], query: Query) -> None:
        if self._token is None:
            return
        offered = _query_values(query, TOKEN_PARAM) + _header_values(headers, TOKEN_HEADER)
        offered += [_bearer(value) for value in _header_values(headers, "Authorization")]
        candidates = {value for value in offered if value}
        if not candidates:
            raise WebhookRejected(401, "webhook token missing")
        if len(candidates) > 1:  # one guess per request, however it is sent
            raise WebhookRejected(401, "more than one webhook token")
        (candidate,) = candidates
        # Sanic keeps undecodable header bytes as surrogates: never a token, never an error
        if not candidate.isascii() or not hmac.compare_digest(candidate.encode(), self._token):
            raise WebhookRejected(401, "webhook token wrong")

    def _check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._secret is None:
            return
        values = [value.strip() for value in _header_values(headers, SIGNATURE_HEADER)]
        if not values:
            raise WebhookRejected(401, f"{SIGNATURE_HEADER} header missing")
        if not all(value.startswith(_SIGNATURE_PREFIX) for value in values):
            raise WebhookRejected(401, f"{SIGNATURE_HEADER} header malformed, want sha256=<hex>")
        # hash the raw bytes: Meta signs its escaped-unicode serialisation, not a re-encoding
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest().encode()
        offered = [value[len(_SIGNATURE_PREFIX) :].lower().encode() for value in values
                   if value.isascii()]
        if not any(hmac.compare_digest(candidate, expected) for candidate in offered):
            raise WebhookRejected(401, f"{SIGNATURE_HEADER} does not match the body")

    def _client_address(
        self, peer_ip: Optional[str], headers: Mapping[str, str]
    ) -> Optional[Address]:
        peer = _address(peer_ip)
        if peer is None or not _within(peer, self._proxies):
            return peer
        hops = [
            hop.strip()
            for value in _header_values(headers, FORWARDED_FOR_HEADER)
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None or not _within(address, self._proxies):
                # an unparseable hop means the chain cannot be trusted beyond this point
                return address
        return _address(hops[0]) if hops else peer


def _networks(key: str, values: Sequence[str]) -> List[Network]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip()))
        except ValueError:
            try:
                loose = ipaddress.ip_network(str(value).strip(), strict=False)
            except ValueError:
                raise ConfigError(key, f"{value!r} is not an IP address or CIDR network") from None
            raise ConfigError(key, f"{value!r} has host bits set; did you mean {loose}?") from None
    return networks


def _address(text: Optional[str]) -> Optional[Address]:
    """Parses an address, tolerating `[v6]:port`, `v4:port` and IPv4-mapped IPv6."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def _header_values(headers: Mapping[str, str], name: str) -> List[str]:
    wanted = name.lower()
    return [str(value) for key, value in headers.items() if key.lower() == wanted]


def _query_values(query: Query, name: str) -> List[str]:
    if isinstance(query, str):
        pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        return [value for key, value in pairs if key == name]
    values: List[str] = []
    for key, value in query.items():
        if key == name:
            values.extend([value] if isinstance(value, str) else [str(item) for item in value])
    return values


def _bearer(value: str) -> str:
    scheme, _, credentials = value.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def _check_authentication(settings: ChattigoSettings) -> None:
    """Fails closed: a webhook anyone may call must be asked for by name."""
    if settings.webhook_token or settings.app_secret or settings.allowed_ips:
        return
    if not settings.allow_unauthenticated:
        raise ConfigError(
            "webhook_token",
            "the webhook has no authentication: set webhook_token (and register the webhook "
            "URL with ?token=...), app_secret or allowed_ips; or allow_unauthenticated: true "
            "to accept any caller on purpose",
        )


def _warn_about(settings: ChattigoSettings) -> None:
    token = settings.webhook_token
    if not (token or settings.app_secret or settings.allowed_ips):
        logger.warning(
            "The Chattigo webhook accepts any caller (allow_unauthenticated: true): set "
            "webhook_token (and put it in the URL registered with Chattigo), allowed_ips or "
            "app_secret"
        )
    if token and len(token) < MIN_TOKEN_LENGTH:
        logger.warning(
            "webhook_token is shorter than %d characters; generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            MIN_TOKEN_LENGTH,
        )
    if token and not _URL_SAFE.fullmatch(token):
        logger.warning(
            "webhook_token has characters that must be percent-encoded in the webhook URL; "
            "prefer letters, digits, '-', '_', '.', '~'"
        )
