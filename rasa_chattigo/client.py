"""The only module that speaks HTTP to Chattigo: login, retries, send, register."""

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional, Protocol, TypeVar

import httpx

from rasa_chattigo._answers import raise_for_status, waits_too_long
from rasa_chattigo._tokens import TokenCache
from rasa_chattigo._transport import AiohttpTransport, new_http_client
from rasa_chattigo.errors import (
    AuthenticationError,
    ChattigoError,
    RateLimited,
    ServerError,
    TransportError,
)
from rasa_chattigo.logsafe import shown
from rasa_chattigo.outbound._build import OutboundRequest
from rasa_chattigo.settings import ChattigoSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Login:
    """What logs one business number (DID) in; the password never shows in a repr."""

    did: str
    username: str
    password: str = field(repr=False)
    bot_name: str = "Bot"


class CredentialsProvider(Protocol):
    """Finds the login of a business number; raises UnknownBusinessNumber when there is none."""

    async def get(self, did: str) -> Login:  # pragma: no cover - protocol
        ...


class ChattigoClient:
    """Talks to one Chattigo base URL on behalf of any number of business numbers.

    Args:
        settings: timeouts, retry policy and token lifetimes.
        credentials: finds the username and password of a DID.
        http: an `httpx.AsyncClient` to use instead of creating one (tests, shared pools).
        clock: monotonic clock, injectable for tests.
        sleep: the coroutine used between retries, injectable for tests.
    """

    def __init__(
        self,
        settings: ChattigoSettings,
        credentials: CredentialsProvider,
        *,
        http: Optional[httpx.AsyncClient] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._http = http
        self._owns_http = http is None
        self._direct: Optional[AiohttpTransport] = None  # POSTs' fast path, when ours
        self._sleep = sleep
        lifetime = min(settings.token_refresh_seconds, settings.token_ttl_seconds)
        self._tokens = TokenCache(lifetime, clock)
        self._urls: Dict[str, httpx.URL] = {}
        self.logins = 0

    @property
    def settings(self) -> ChattigoSettings:
        """The settings this client sends with."""
        return self._settings

    @property
    def credentials(self) -> CredentialsProvider:
        """Where logins come from."""
        return self._credentials

    def __repr__(self) -> str:
        return f"ChattigoClient(base_url={self._settings.base_url!r}, dids={self._tokens.dids()})"

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled HTTP client, created on first use inside the running loop."""
        if self._http is None:
            self._http, self._direct = new_http_client(self._settings.timeout)
        return self._http

    async def aclose(self) -> None:
        """Closes the HTTP client if this object created it."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = self._direct = None

    async def login(self, did: str) -> str:
        """The bearer token of `did`: cached, refreshed before it expires, one login at a time."""
        token = self._tokens.fresh(did)
        if token is not None:
            return token
        async with self._tokens.lock(did):
            token = self._tokens.fresh(did)
            if token is not None:
                return token
            creds = await self._credentials.get(did)
            body = {"username": creds.username, "password": creds.password}
            answer = await self._request("POST", "/login", json=body, what=f"login of DID {did}")
            try:
                value = answer.json()["access_token"]
            except (ValueError, KeyError, TypeError):
                value = None
            if not isinstance(value, str) or not value:
                raise AuthenticationError(answer.status_code, "login answer has no access_token")
            self._tokens.store(did, value)
            self.logins += 1
            logger.info("Logged in to Chattigo for DID %s", shown(did))
            return value

    def forget(self, did: str) -> None:
        """Drops the cached token of `did`: the next request logs in again."""
        self._tokens.forget(did)

    async def send(self, did: str, request: OutboundRequest) -> None:
        """Sends one message, retrying as the policy says; the same `id` on every attempt.

        Raises:
            ChattigoError: a subclass saying why, once retries are exhausted or pointless.
        """
        await self._authorised("POST", did, request.path, json=request.json, what=request.recipient)

    async def register_webhook(self, did: str, url: str) -> None:
        """Registers `url` as the webhook of `did` (the guide's PATCH /webhooks/inbound).

        Sends `Bearer <token>`; on 401 tries once more with the bare token, as one production
        integration does.
        """
        body = {"waId": did, "externalWebhook": url}
        what = f"webhook registration of DID {did}"
        token = await self.login(did)
        try:
            await self._request("PATCH", "/webhooks/inbound", json=body, token=token, what=what)
        except AuthenticationError:
            try:
                await self._request("PATCH", "/webhooks/inbound", json=body, what=what,
                                    headers={"Authorization": token})
            except AuthenticationError:
                # Neither form took this token: it may have expired early. One fresh login.
                self._tokens.drop(did, token)
                await self._authorised("PATCH", did, "/webhooks/inbound", json=body, what=what)

    async def _authorised(self, method: str, did: str, path: str, *, json: Any, what: str) -> None:
        # A 401 means the token was revoked or expired early: log in again and retry. Tokens
        # can be revoked again while a retry waits out a 429, so this repeats, bounded.
        token = await self.login(did)
        renewals = max(2, self._settings.max_attempts)  # a 401 always earns one fresh login
        for attempt in range(1, renewals + 1):
            try:
                await self._request(method, path, json=json, token=token, what=what)
                return
            except AuthenticationError:
                self._tokens.drop(did, token)
                if attempt == renewals:
                    raise
                token = await self.login(did)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        what: str,
        token: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
    ) -> httpx.Response:
        """The one place that calls Chattigo: auth header, timeout, retries, typed errors."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        attempts = self._settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(method, path, json=json, headers=headers)
            except (ServerError, RateLimited, TransportError) as exc:
                if attempt == attempts or waits_too_long(exc, self._settings):
                    raise  # a Retry-After beyond max_backoff_seconds is the outbox's to honour
                delay = self._backoff(attempt, exc)
                logger.warning(
                    "Chattigo %s %s for %s failed (%s); attempt %d of %d, retrying in %.2fs",
                    method, path, what, shown(exc), attempt, attempts, delay,
                )
                await self._sleep(delay)
        raise ChattigoError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _attempt(
        self, method: str, path: str, *, json: Any, headers: Dict[str, str]
    ) -> httpx.Response:
        http = self.http  # made first: it makes `_direct` too
        try:
            direct = self._direct_for(http) if method == "POST" else None
            if direct is not None:  # replies and logins
                answer = await direct.post_json(self._url(path), json, headers,
                                                self._settings.timeout)
            else:
                answer = await http.request(method, self._url(path), json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach {self._settings.base_url + path} "
                                 f"({type(exc).__name__})") from None
        except (TypeError, ValueError) as exc:  # a body that is not JSON: never sendable
            raise ChattigoError(f"cannot send to {path}: {type(exc).__name__}: "
                                f"{shown(exc)}") from None
        raise_for_status(answer)
        return answer

    def _direct_for(self, http: httpx.AsyncClient) -> Optional[AiohttpTransport]:
        """The transport POSTs may reach without httpx's request machinery: this client's
        own, while nothing set on `http` (hooks, auth, closing it) would be skipped too."""
        hooks = http.event_hooks
        if http.is_closed or http.auth is not None or hooks["request"] or hooks["response"]:
            return None
        return self._direct

    def _url(self, path: str) -> httpx.URL:
        # Parsed once per path: parsing a URL string was a sixth of a send's CPU.
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self._settings.base_url + path)
        return url

    def _backoff(self, attempt: int, exc: ChattigoError) -> float:
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self._settings.max_backoff_seconds)
        ceiling = min(self._settings.backoff_seconds * 2 ** (attempt - 1),
                      self._settings.max_backoff_seconds)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def run_with_client(
    settings: ChattigoSettings, credentials: CredentialsProvider,
    action: Callable[["ChattigoClient"], Awaitable[T]],
) -> T:
    """Runs `action` with a new client on a new event loop, closing both afterwards.

    For synchronous callers: the CLI and the developer tools.
    """
    async def run() -> T:
        client = ChattigoClient(settings, credentials)
        try:
            return await action(client)
        finally:
            await client.aclose()

    return run_in_new_loop(run())


def run_in_new_loop(coroutine: Awaitable[T]) -> T:
    """Runs `coroutine` to completion on a new event loop, then closes the loop.

    Unlike `asyncio.run`, it leaves the caller's current event loop in place instead of
    replacing it (which would orphan a loop that is set but not running, as pytest-asyncio
    leaves one between tests: an unclosed socket at garbage collection).
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
