"""Chattigo's HTTP answers read into the typed error tree: status, reason and Retry-After."""

from typing import Optional

import httpx

from rasa_chattigo.errors import (
    AuthenticationError,
    ChattigoAPIError,
    ChattigoError,
    RateLimited,
    ServerError,
)
from rasa_chattigo.settings import ChattigoSettings


def raise_for_status(answer: httpx.Response) -> None:
    """Raises the error an unsuccessful answer means; nothing for a 2xx.

    Raises:
        RateLimited: 429, with its Retry-After.
        ServerError: 5xx.
        AuthenticationError: 401, or 400 to a login.
        ChattigoAPIError: any other refusal.
    """
    status = answer.status_code
    if status < 300:
        return
    reason = _reason(answer)
    if status == 429:
        raise RateLimited(status, reason, retry_after=_retry_after(answer))
    if status >= 500:
        raise ServerError(status, reason)
    if status == 401 or (status == 400 and answer.request.url.path.endswith("/login")):
        raise AuthenticationError(status, reason)
    raise ChattigoAPIError(status, reason)


def waits_too_long(exc: ChattigoError, settings: ChattigoSettings) -> bool:
    """Whether `exc` asks to wait beyond `max_backoff_seconds` (the outbox's wait, not ours)."""
    retry_after = getattr(exc, "retry_after", None)
    return retry_after is not None and retry_after > settings.max_backoff_seconds


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200] or answer.reason_phrase
    if isinstance(body, dict):
        for key in ("reason", "message", "error", "detail"):
            if isinstance(body.get(key), str):
                return body[key][:200]
    return str(body)[:200]


def _retry_after(answer: httpx.Response) -> Optional[float]:
    raw = answer.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None
