"""Every call that depends on a pydantic, Sanic or Rasa version lives here, and only here."""

from typing import Any, Dict, Type, TypeVar

import pydantic

from rasa_chattigo.errors import InvalidPayload

PYDANTIC_V2 = pydantic.VERSION.startswith("2.")

if PYDANTIC_V2:  # pragma: no cover - Rasa 3.6 pins pydantic 1.10; Rasa Pro brings 2.x
    import importlib

    pydantic_v1 = importlib.import_module("pydantic.v1")
else:
    pydantic_v1 = pydantic

BaseModel = pydantic_v1.BaseModel
Extra = pydantic_v1.Extra
Field = pydantic_v1.Field
ValidationError = pydantic_v1.ValidationError
validator = pydantic_v1.validator
root_validator = pydantic_v1.root_validator

ModelT = TypeVar("ModelT")


def parse_model(model: Type[ModelT], data: Any, *, prefix: str = "") -> ModelT:
    """Validates `data` into `model`, turning a ValidationError into InvalidPayload.

    Args:
        model: the pydantic model class.
        data: the decoded JSON.
        prefix: a dotted path prepended to the failing field, e.g. `entry.0.changes.0.value`.

    Raises:
        InvalidPayload: naming the first failing field as a dotted path.
    """
    try:
        return model.parse_obj(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"] if part != "__root__")
        field = ".".join(part for part in (prefix, path) if part)
        raise InvalidPayload(field, first["msg"]) from None


def dump_model(obj: Any, *, exclude_none: bool = True) -> Dict[str, Any]:
    """The model as plain JSON-ready data."""
    return obj.dict(exclude_none=exclude_none)


# --- Sanic (21.12 for Rasa 3.6; Rasa Pro moves to a newer Sanic) -------------------------

import socket  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from typing import AsyncIterator  # noqa: E402

from sanic import Blueprint, Sanic, response  # noqa: E402
from sanic.request import Request  # noqa: E402
from sanic.response import HTTPResponse  # noqa: E402


def json_response(body: Dict[str, Any], status: int = 200) -> HTTPResponse:
    """A JSON answer."""
    return response.json(body, status=status)


def request_peer_ip(request: Request) -> str:
    """The socket peer's address (never a forwarded header; that is the guard's decision)."""
    return str(request.conn_info.client_ip if request.conn_info else request.ip)


def request_query(request: Request) -> Dict[str, Any]:
    """The query string as a dict of lists."""
    return {key: list(values) for key, values in request.args.items()}


@asynccontextmanager
async def serve_sanic(app: Sanic, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serves `app` on a free port of `host` inside the running loop; yields its base URL.

    For tests and benchmarks: the real server, with its start and stop listeners, always
    stopped. (Sanic 21.12 ignores `port=0`, so the socket is bound here.)
    """
    # Sanic 21.12 refuses to start a second app in one process outside test mode.
    Sanic.test_mode = True
    sock = socket.socket()
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()


async def read_body(request: Request, limit: int) -> bytes:
    """The body of a `stream=True` route, read up to `limit + 1` bytes: enough to tell it is
    too large without buffering all of it."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await request.stream.read()  # type: ignore[union-attr]
        if chunk is None:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def new_blueprint(name: str) -> Blueprint:
    """A Sanic blueprint."""
    return Blueprint(name)


# --- Rasa 3.6 ---------------------------------------------------------------------------


def app_tracker_store(app: Any) -> Any:
    """The tracker store of the Rasa agent serving `app`, or None outside `rasa run`."""
    agent = getattr(app.ctx, "agent", None)
    return getattr(agent, "tracker_store", None)
