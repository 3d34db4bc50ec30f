"""Shared fixtures: real servers on 127.0.0.1 (Sanic app, sandbox) and service probes."""

import importlib.util
import json
import os
import shutil
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List

import httpx
import pytest

from rasa_chattigo.compat.rasa_api import RASA_PRO
from rasa_chattigo.compat.sanic_api import serve_sanic  # noqa: F401 - re-exported for the tests
from rasa_chattigo.sandbox import Sandbox
from rasa_chattigo.sandbox.receiver import WebhookReceiver

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Rasa Pro imports LiteLLM, which otherwise spends ~7 s offline fetching a price list.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DID = "5492644710400"
OTHER_DID = "5491140001234"  # a second business number (most inbound fixtures are sent to it)
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


#: Rasa Pro's CLI (`rasa train`, `rasa run`, `rasa shell`, `rasa data validate`, `rasa run
#: actions`) exits without a license key; Rasa 3.6 needs none.
requires_rasa_cli = pytest.mark.skipif(
    RASA_PRO and not os.environ.get("RASA_LICENSE"),
    reason="set RASA_LICENSE to run the Rasa Pro end-to-end tests",
)
#: The demo bots use DIETClassifier and TEDPolicy: built into Rasa 3.6, in Rasa Pro they come
#: with rasa-pro[nlu] (TensorFlow), which exists for Python 3.11 and 3.12 only.
requires_nlu = pytest.mark.skipif(
    RASA_PRO and importlib.util.find_spec("tensorflow") is None,
    reason="the demo bots' DIETClassifier and TEDPolicy need rasa-pro[nlu] "
    "(TensorFlow, Python 3.11 and 3.12)",
)
#: Where `rasa train` leaves a bot's models: Rasa Pro cannot load what Rasa 3.6 trains.
MODELS = "models/pro" if RASA_PRO else "models"


class Collector:
    """Stands in for Rasa's agent: records every UserMessage the channel hands over."""

    def __init__(self) -> None:
        self.messages: List[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)


#: Tests call the webhook from loopback: that is their authentication unless they set another.
LOOPBACK_ONLY = ["127.0.0.1/32"]


def channel_settings(**overrides: Any) -> Dict[str, Any]:
    """A credentials.yml block for the channel, pointing nowhere unless overridden.

    The webhook answers loopback only (`allowed_ips`), unless `webhook_token`, `app_secret`,
    `allowed_ips` or `allow_unauthenticated` is given: a channel never starts open.
    """
    auth = ("webhook_token", "app_secret", "allowed_ips", "allow_unauthenticated")
    default_auth = {} if any(key in overrides for key in auth) else {
        "allowed_ips": LOOPBACK_ONLY}
    return {"did": DID, "username": USERNAME, "password": PASSWORD, "bot_name": "Aynux",
            "base_url": "http://127.0.0.1:9", **default_auth, **overrides}


@pytest.fixture(autouse=True)
def _own_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's channels keep their inbox in the test's own folder, not the working one, so
    a message one test left is never resumed into another test's bot.
    """
    from rasa_chattigo.settings import ChattigoSettings

    field = ChattigoSettings.__fields__["inbox_path"]
    monkeypatch.setattr(field, "default", str(tmp_path / "inbox" / "inbox.db"))


@pytest.fixture
def collector() -> Collector:
    return Collector()


def load_fixture(area: str, name: str) -> Any:
    """The JSON fixture tests/fixtures/<area>/<name>.json, parsed."""
    return json.loads((FIXTURES / area / f"{name}.json").read_text(encoding="utf-8"))


class Clock:
    """A clock the test moves by hand (`clock.now += 5`), so expiry needs no sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the sandbox ---------------------------------------------------------------------------


def one_user_sandbox(**options: Any) -> Sandbox:
    """A Sandbox (not yet started) where USERNAME/PASSWORD may send from DID.

    Args:
        **options: more `Sandbox` arguments (e.g. `statuses=True`); `dids` replaces the default.
    """
    return Sandbox(**{"users": {USERNAME: PASSWORD}, "dids": {USERNAME: [DID]}, **options})


async def login(http: httpx.AsyncClient) -> str:
    """Logs USERNAME in on the sandbox `http` points at; the access token."""
    answer = await http.post("/login", json={"username": USERNAME, "password": PASSWORD})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@asynccontextmanager
async def logged_in(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for `sandbox` sending USERNAME's Bearer token with every request."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        http.headers["Authorization"] = f"Bearer {await login(http)}"
        yield http


def text_send(message_id: str = "m-1", content: str = "hola") -> Dict[str, Any]:
    """A valid proprietary-format text send (POST /webhooks/inbound) from DID to USER."""
    return {
        "id": message_id,
        "did": DID,
        "msisdn": USER,
        "type": "text",
        "channel": "WHATSAPP",
        "content": content,
        "name": "Aynux",
        "isAttachment": False,
    }


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A running `one_user_sandbox()` on 127.0.0.1; stopped after the test."""
    async with one_user_sandbox() as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the `sandbox` fixture, logged in as USERNAME."""
    async with logged_in(sandbox) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A running WebhookReceiver on 127.0.0.1, recording what a sandbox posts to it."""
    async with WebhookReceiver() as running:
        yield running


@asynccontextmanager
async def sandbox_posting_to(receiver: WebhookReceiver, **options: Any) -> AsyncIterator[Sandbox]:
    """A running `one_user_sandbox(**options)` that posts the webhooks of DID to `receiver`."""
    async with one_user_sandbox(**options) as running:
        running.state.webhooks[DID] = receiver.url()
        yield running


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """A headless Chromium for one module's browser tests (see `webchat.py`), quit after them."""
    from webchat import new_driver

    browser = new_driver()
    try:
        yield browser
    finally:
        browser.quit()


def parsing_settings(**extra: Any) -> Any:
    """Parsed channel settings for DID with a placeholder login, for pure parsing tests."""
    from rasa_chattigo.settings import parse_settings

    return parse_settings({"did": DID, "username": "u", "password": "p", **extra})


@pytest.fixture(scope="module")
def agent() -> Any:
    """The trained demo bot loaded as `rasa run` loads it (in-memory tracker and lock stores)."""
    import asyncio

    from rasa.core.agent import load_agent

    from bots import MODEL, PROJECT, ensure_model  # bots imports this module: imported here

    return asyncio.run(load_agent(model_path=str(ensure_model(PROJECT, MODEL))))
