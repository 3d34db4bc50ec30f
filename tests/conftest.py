"""Shared fixtures: real servers on 127.0.0.1 (Sanic app, sandbox) and service probes."""

import os
import shutil
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List

import pytest
from sanic import Sanic

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Sanic 21.12 refuses a second app in one process unless test mode is on before the first.
Sanic.test_mode = True

ROOT = Path(__file__).resolve().parent.parent
DID = "5492644710400"
USER = "5492644472542"
USERNAME = "bot@empresa"
PASSWORD = "s4ndbox-Passw0rd-for-tests"  # a sandbox password, not a real secret


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def server_logs(name: str) -> Path:
    """A fresh folder for the logs of servers a test starts, searched for secrets after the run."""
    folder = ROOT / "run" / "test-logs" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


requires_redis = pytest.mark.skipif(
    not port_open("127.0.0.1", 6379), reason="no Redis server on 127.0.0.1:6379"
)
requires_postgres = pytest.mark.skipif(
    not port_open("127.0.0.1", 5432), reason="no PostgreSQL server on 127.0.0.1:5432"
)


@asynccontextmanager
async def serve_sanic(app: Any) -> AsyncIterator[str]:
    """Serves a Sanic 21.12 app on a free 127.0.0.1 port; yields its base URL; always stops."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()


class Collector:
    """Stands in for Rasa's agent: records every UserMessage the channel hands over."""

    def __init__(self) -> None:
        self.messages: List[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)


def channel_settings(**overrides: Any) -> Dict[str, Any]:
    """A credentials.yml block for the channel, pointing nowhere unless overridden."""
    return {"did": DID, "username": USERNAME, "password": PASSWORD, "bot_name": "Aynux",
            "base_url": "http://127.0.0.1:9", **overrides}


@pytest.fixture
def collector() -> Collector:
    return Collector()
