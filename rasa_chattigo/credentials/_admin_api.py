"""The credentials admin API under `/admin/credentials`, off unless an admin token is set."""

import functools
import hmac
import json
import logging
import re
from typing import Any, Awaitable, Callable, Coroutine, Dict, Optional

from rasa_chattigo.compat import sanic_api
from rasa_chattigo.compat.sanic_api import Blueprint, HTTPResponse, Request
from rasa_chattigo.credentials._records import check_fields
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.errors import (
    ChattigoError,
    CredentialError,
    CredentialNotFound,
    DuplicateCredential,
    InvalidCredentialField,
    InvalidPayload,
    StoreError,
    WebhookRejected,
)
from rasa_chattigo.logsafe import escape

logger = logging.getLogger(__name__)

PREFIX = "/admin/credentials"
#: The largest request body the admin API reads (a credentials row is a few hundred bytes).
MAX_BODY_BYTES = 16 * 1024
LoginCheck = Callable[[str], Awaitable[Any]]
Route = Callable[..., Coroutine[Any, Any, HTTPResponse]]

_DIGITS = re.compile(r"[0-9]+")
# Most specific first: DuplicateCredential and CredentialNotFound are StoreErrors too.
_STATUS = (
    (InvalidCredentialField, 400),
    (InvalidPayload, 400),  # a body whose chunked encoding is broken (sanic_api.read_body)
    (CredentialNotFound, 404),
    (DuplicateCredential, 409),
    (CredentialError, 500),
    (StoreError, 503),
    (ChattigoError, 500),
)


def _error(status: int, reason: str, **extra: Any) -> HTTPResponse:
    return sanic_api.json_response({"status": "error", "reason": reason, **extra}, status=status)


def _unauthorized(reason: str) -> HTTPResponse:
    answer = _error(401, reason)
    answer.headers["WWW-Authenticate"] = 'Bearer realm="rasa-chattigo admin"'
    return answer


def _bearer(request: Request) -> Optional[str]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _body(request: Request) -> Dict[str, Any]:
    """The JSON object of an authenticated request, read here (the routes stream) and capped."""
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > MAX_BODY_BYTES:
        raise InvalidCredentialField("body", f"larger than {MAX_BODY_BYTES} bytes")
    raw = await sanic_api.read_body(request, MAX_BODY_BYTES)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidCredentialField("body", f"larger than {MAX_BODY_BYTES} bytes")
    if not raw:
        raise InvalidCredentialField("body", "empty body: expected a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCredentialField("body", "not valid JSON") from None
    except RecursionError:
        raise InvalidCredentialField("body", "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidCredentialField("body", "must be a JSON object")
    for key, value in data.items():
        _check_text(key, key)
        if isinstance(value, str):
            _check_text(key, value)
    return data


def _check_text(field: str, text: str) -> None:
    """Refuses what no database column should hold: NUL, and lone surrogates (not UTF-8)."""
    if "\x00" in text:
        raise InvalidCredentialField(escape(field, 40), "must not contain a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidCredentialField(escape(field, 40), "is not valid Unicode") from None


def _checked_did(did: str) -> str:
    if not _DIGITS.fullmatch(did):
        raise InvalidCredentialField("did", "must be the business number in digits only")
    return did


def _guarded(admin_token: str, route: Route) -> Route:
    """Bearer check (constant time, fail closed, before any body is read) and one mapping of
    errors to JSON answers."""
    expected = admin_token.encode("utf-8")

    @functools.wraps(route)
    async def guarded(request: Request, **params: Any) -> HTTPResponse:
        token = _bearer(request)
        if token is None:
            sanic_api.refuse_body(request)
            return _unauthorized("missing bearer token (Authorization: Bearer <admin_token>)")
        if not token.isascii() or not hmac.compare_digest(token.encode("ascii"), expected):
            logger.warning("Admin API: wrong token from %s", sanic_api.request_peer_ip(request))
            sanic_api.refuse_body(request)
            return _unauthorized("invalid admin token")
        try:
            return await route(request, **params)
        except ChattigoError as exc:
            sanic_api.refuse_body(request)
            return _error_answer(exc)

    return guarded


def _error_answer(exc: ChattigoError) -> HTTPResponse:
    if isinstance(exc, WebhookRejected):  # a stalled body (sanic_api.read_body): 408
        return _error(exc.status, exc.reason)
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            extra = {"field": exc.field} if isinstance(exc, InvalidCredentialField) else {}
            return _error(status, str(exc), **extra)
    raise exc  # pragma: no cover - ChattigoError closes the table


def add_admin_routes(
    blueprint: Blueprint,
    store: CredentialStore,
    *,
    admin_token: Optional[str],
    login_check: LoginCheck,
) -> bool:
    """Adds the credentials admin routes to the channel's blueprint, when a token is set.

    Routes (under the blueprint's prefix): `GET|POST /admin/credentials`, `GET|PATCH|PUT|DELETE
    /admin/credentials/<did>`, `POST /admin/credentials/<did>/test`. Passwords are accepted,
    never returned. A body is read only after the token check, `MAX_BODY_BYTES` at most.

    Args:
        blueprint: the channel's Sanic blueprint.
        store: where the credentials live.
        admin_token: the Bearer token callers must send; empty or None leaves the API off.
        login_check: `await login_check(did)` logs the number in, raising a ChattigoError.

    Returns:
        Whether the routes were added.
    """
    if not admin_token:
        logger.debug("Admin API off: no admin_token configured")
        return False
    routes = _Routes(store, login_check)
    table = (
        (routes.list_all, PREFIX, ["GET"], "list"),
        (routes.create, PREFIX, ["POST"], "create"),
        (routes.show, PREFIX + "/<did>", ["GET"], "show"),
        (routes.change, PREFIX + "/<did>", ["PATCH", "PUT"], "update"),
        (routes.remove, PREFIX + "/<did>", ["DELETE"], "remove"),
        (routes.test, PREFIX + "/<did>/test", ["POST"], "test"),
    )
    for route, uri, methods, name in table:
        blueprint.add_route(_guarded(admin_token, route), uri, methods=methods,
                            name=f"admin_credentials_{name}", stream=True)
    logger.info("Admin API on at %s", PREFIX)
    return True


class _Routes:
    """The admin API's handlers over one store."""

    def __init__(self, store: CredentialStore, login_check: LoginCheck) -> None:
        self._store = store
        self._login_check = login_check

    async def list_all(self, request: Request) -> HTTPResponse:
        rows = await self._store.alist()
        return sanic_api.json_response({"credentials": [row.to_dict() for row in rows]})

    async def create(self, request: Request) -> HTTPResponse:
        values = check_fields(await _body(request), required=("did", "username", "password"))
        info = await self._store.aadd(values.pop("did"), **values)
        return sanic_api.json_response(info.to_dict(), status=201)

    async def show(self, request: Request, did: str) -> HTTPResponse:
        if not did:  # the router hands `/admin/credentials/` here, with an empty DID
            return await self.list_all(request)
        info = await self._store.ainfo(_checked_did(did))
        return sanic_api.json_response(info.to_dict())

    async def change(self, request: Request, did: str) -> HTTPResponse:
        changes = await _body(request)
        if changes.get("did", did) == did:
            changes.pop("did", None)  # repeating the DID of the path is harmless
        info = await self._store.aupdate(_checked_did(did), **changes)
        return sanic_api.json_response(info.to_dict())

    async def remove(self, request: Request, did: str) -> HTTPResponse:
        await self._store.aremove(_checked_did(did))
        return sanic_api.json_response({"did": did, "removed": True})

    async def test(self, request: Request, did: str) -> HTTPResponse:
        await self._store.ainfo(_checked_did(did))
        try:
            await self._login_check(did)
        except ChattigoError as exc:
            return sanic_api.json_response({"did": did, "ok": False, "reason": str(exc)})
        except Exception as exc:
            # A test of a login must answer, whatever broke; the log names the error's type.
            logger.error("Admin API: login test of DID %s failed: %s", did, type(exc).__name__)
            reason = f"unexpected error ({type(exc).__name__})"
            return sanic_api.json_response({"did": did, "ok": False, "reason": reason})
        return sanic_api.json_response({"did": did, "ok": True})
