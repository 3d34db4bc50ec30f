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
    StoreError,
)

logger = logging.getLogger(__name__)

PREFIX = "/admin/credentials"
LoginCheck = Callable[[str], Awaitable[Any]]
Route = Callable[..., Coroutine[Any, Any, HTTPResponse]]

_DIGITS = re.compile(r"[0-9]+")
# Most specific first: DuplicateCredential and CredentialNotFound are StoreErrors too.
_STATUS = (
    (InvalidCredentialField, 400),
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


def _body(request: Request) -> Dict[str, Any]:
    if not request.body:
        raise InvalidCredentialField("body", "empty body: expected a JSON object")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCredentialField("body", "not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidCredentialField("body", "must be a JSON object")
    return data


def _checked_did(did: str) -> str:
    if not _DIGITS.fullmatch(did):
        raise InvalidCredentialField("did", "must be the business number in digits only")
    return did


def _guarded(admin_token: str, route: Route) -> Route:
    """Bearer check (constant time, fail closed) and one mapping of errors to JSON answers."""
    expected = admin_token.encode("utf-8")

    @functools.wraps(route)
    async def guarded(request: Request, **params: Any) -> HTTPResponse:
        token = _bearer(request)
        if token is None:
            return _unauthorized("missing bearer token (Authorization: Bearer <admin_token>)")
        if not hmac.compare_digest(token.encode("utf-8"), expected):
            logger.warning("Admin API: wrong token from %s", sanic_api.request_peer_ip(request))
            return _unauthorized("invalid admin token")
        try:
            return await route(request, **params)
        except ChattigoError as exc:
            for kind, status in _STATUS:
                if isinstance(exc, kind):
                    extra = {"field": exc.field} if isinstance(exc, InvalidCredentialField) else {}
                    return _error(status, str(exc), **extra)
            raise  # pragma: no cover - ChattigoError closes the table

    return guarded


def add_admin_routes(
    blueprint: Blueprint,
    store: CredentialStore,
    *,
    admin_token: Optional[str],
    login_check: LoginCheck,
) -> bool:
    """Adds the credentials admin routes to the channel's blueprint, when a token is set.

    Routes (under the blueprint's prefix): `GET|POST /admin/credentials`,
    `GET|PATCH|PUT|DELETE /admin/credentials/<did>`, `POST /admin/credentials/<did>/test`.
    Passwords are accepted, never returned.

    Args:
        blueprint: the channel's Sanic blueprint.
        store: where the credentials live.
        admin_token: the Bearer token callers must send; empty or None leaves the API off.
        login_check: `await login_check(did)` logs the number in to Chattigo, raising a
            ChattigoError on failure.

    Returns:
        Whether the routes were added.
    """
    if not admin_token:
        logger.debug("Admin API off: no admin_token configured")
        return False

    async def list_all(request: Request) -> HTTPResponse:
        rows = await store.alist()
        return sanic_api.json_response({"credentials": [row.to_dict() for row in rows]})

    async def create(request: Request) -> HTTPResponse:
        values = check_fields(_body(request), required=("did", "username", "password"))
        info = await store.aadd(values.pop("did"), **values)
        return sanic_api.json_response(info.to_dict(), status=201)

    async def show(request: Request, did: str) -> HTTPResponse:
        if not did:  # the router hands `/admin/credentials/` here, with an empty DID
            return await list_all(request)
        info = await store.ainfo(_checked_did(did))
        return sanic_api.json_response(info.to_dict())

    async def change(request: Request, did: str) -> HTTPResponse:
        changes = _body(request)
        if changes.get("did", did) == did:
            changes.pop("did", None)  # repeating the DID of the path is harmless
        info = await store.aupdate(_checked_did(did), **changes)
        return sanic_api.json_response(info.to_dict())

    async def remove(request: Request, did: str) -> HTTPResponse:
        await store.aremove(_checked_did(did))
        return sanic_api.json_response({"did": did, "removed": True})

    async def test(request: Request, did: str) -> HTTPResponse:
        await store.ainfo(_checked_did(did))
        try:
            await login_check(did)
        except ChattigoError as exc:
            return sanic_api.json_response({"did": did, "ok": False, "reason": str(exc)})
        except Exception as exc:
            # A test of a login must answer, whatever broke; the log names the error's type.
            logger.error("Admin API: login test of DID %s failed: %s", did, type(exc).__name__)
            reason = f"unexpected error ({type(exc).__name__})"
            return sanic_api.json_response({"did": did, "ok": False, "reason": reason})
        return sanic_api.json_response({"did": did, "ok": True})

    routes = (
        (list_all, PREFIX, ["GET"], "list"),
        (create, PREFIX, ["POST"], "create"),
        (show, PREFIX + "/<did>", ["GET"], "show"),
        (change, PREFIX + "/<did>", ["PATCH", "PUT"], "update"),
        (remove, PREFIX + "/<did>", ["DELETE"], "remove"),
        (test, PREFIX + "/<did>/test", ["POST"], "test"),
    )
    for route, uri, methods, name in routes:
        blueprint.add_route(_guarded(admin_token, route), uri, methods=methods,
                            name=f"admin_credentials_{name}")
    logger.info("Admin API on at %s", PREFIX)
    return True
