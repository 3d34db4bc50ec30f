"""The sandbox's answers: JSON error bodies, body reading, and the injected faults."""

import asyncio
import json
import logging
from typing import Any, Optional

from aiohttp import web

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.sandbox.faults import Fault

logger = logging.getLogger(__name__)


def error(status: int, code: str, reason: str, field: Optional[str] = None) -> web.Response:
    """A JSON error: `{"error": code, "reason": sentence naming the field, "field": field}`."""
    return web.json_response({"error": code, "reason": reason, "field": field}, status=status)


def invalid(exc: InvalidPayload, status: int = 400) -> web.Response:
    """The answer to an invalid body (400) or a forbidden value (403)."""
    code = "forbidden" if status == 403 else "invalid_payload"
    return error(status, code, str(exc), exc.field or None)


def meta_error(status: int, code: int, reason: str, field: Optional[str] = None) -> web.Response:
    """A Graph API style error, as the Cloud API route answers, plus `reason` and `field`."""
    body = {
        "error": {
            "message": f"(#{code}) {reason}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": reason},
            "fbtrace_id": "sandbox",
        },
        "reason": reason,
        "field": field,
    }
    return web.json_response(body, status=status)


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body.

    Raises:
        InvalidPayload: the body is empty or not JSON.
    """
    raw = await request.read()
    if not raw.strip():
        raise InvalidPayload("body", "is empty; a JSON object is required")
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidPayload("body", "is not valid JSON") from None


async def inflict(request: web.Request, fault: Fault) -> web.Response:
    """Answers a send with an injected fault; the send is never accepted."""
    logger.info("Sandbox: injected fault %s on %s %s", fault.mode, request.method, request.path)
    if fault.mode == "429":
        seconds = fault.retry_after
        header = str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"
        response = error(429, "rate_limited", "injected fault: too many requests")
        response.headers["Retry-After"] = header
        return response
    if fault.mode == "stall":
        await asyncio.sleep(fault.stall_seconds)
        # Dropping the connection unanswered is what a stuck upstream looks like to a client.
        request.protocol.force_close()
        return web.Response(status=504)
    return error(500, "server_error", "injected fault: internal server error")
