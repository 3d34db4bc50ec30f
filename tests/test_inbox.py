"""The durable inbox through the real Sanic app: kept before the 200, resumed after a stop."""

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any, List

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.errors import ChattigoStartupError
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

from conftest import DID, channel_settings, free_port, requires_postgres, serve_sanic

WEBHOOK = "/webhooks/chattigo/webhook"
Sanic.test_mode = True


def make_app(channel: ChattigoInput, on_new_message: Any) -> Sanic:
    app = Sanic(f"test_inbox_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")
    return app


def kept(path: Path) -> List[str]:
    """The message keys the SQLite inbox file holds, in arrival order (read by plain sqlite3)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key FROM chattigo_delivery WHERE box = ? ORDER BY seq",
                          ("rasa_chattigo/in",))
        return [key for (key,) in rows]


def body(user: str, text: str, wamid: str) -> Any:
    return build_cloud_webhook("text", did=DID, msisdn=user, text=text, message_id=wamid)


class Bot:
    """Stands in for Rasa's agent: records texts, and blocks while `gate` is clear."""

    def __init__(self) -> None:
        self.texts: List[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.seen_in_inbox: List[bool] = []
        self.inbox: Path = Path()

    async def __call__(self, message: Any) -> None:
        self.seen_in_inbox.append(f"{DID}:{message.message_id}" in kept(self.inbox))
        self.entered.set()
        await self.gate.wait()
        self.texts.append(message.text)


async def test_a_message_is_in_the_inbox_while_the_bot_handles_it_and_gone_after(tmp_path):
    inbox = tmp_path / "inbox.db"
    channel = ChattigoInput.from_credentials(channel_settings(inbox_path=str(inbox)))
    bot = Bot()
    bot.inbox = inbox
    async with serve_sanic(make_app(channel, bot)) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(WEBHOOK, json=body("5491100000001", "hola", "wamid.A1"))
        assert answer.status_code == 200
        await bot.entered.wait()
        while channel.dispatcher.pending:
            await asyncio.sleep(0.01)
    assert bot.seen_in_inbox == [True]
    assert bot.texts == ["hola"]
    assert kept(inbox) == []


async def test_what_a_stop_left_is_resumed_in_order_once_by_the_next_start(tmp_path):
    inbox = tmp_path / "inbox.db"
    settings = channel_settings(inbox_path=str(inbox), shutdown_grace_seconds=0.01)
    first, bot = ChattigoInput.from_credentials(settings), Bot()
    bot.inbox, texts = inbox, [f"mensaje {n}" for n in range(6)]
    bot.gate.clear()
    async with serve_sanic(make_app(first, bot)) as url, httpx.AsyncClient(base_url=url) as http:
        for n, text in enumerate(texts):
            answer = await http.post(WEBHOOK, json=body("5491100000002", text, f"wamid.B{n}"))
            assert answer.json()["messages"] == 1
        await bot.entered.wait()
    assert bot.texts == []
    assert kept(inbox) == [f"{DID}:wamid.B{n}" for n in range(6)]

    second, again = ChattigoInput.from_credentials(settings), Bot()
    again.inbox = inbox
    async with serve_sanic(make_app(second, again)) as url:
        while kept(inbox):
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=url) as http:  # a redelivery is not run again
            answer = await http.post(WEBHOOK, json=body("5491100000002", texts[0], "wamid.B0"))
    assert answer.json()["duplicates"] == 1
    assert again.texts == texts


async def test_a_message_the_inbox_cannot_keep_is_refused_with_503_and_not_claimed(tmp_path):
    store = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    channel = ChattigoInput.from_credentials(channel_settings(inbox_store=store))
    bot = Bot()
    bot.inbox = tmp_path / "unused.db"
    async with serve_sanic(make_app(channel, bot)) as url, httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(WEBHOOK, json=body("5491100000003", "hola", "wamid.C1"))
        assert answer.status_code == 503
        assert "delivery store" in answer.json()["reason"]
        assert await channel.dedup.claim(f"{DID}:wamid.C1") is True  # released: claimable


@pytest.mark.parametrize("key,value,problem", [
    ("inbox_store", "mysql://db/x", "expected memory, sqlite"),
    ("outbox_max_age_seconds", -1, "must be a positive number of seconds"),
    ("delivery_lease_seconds", 0, "must be a positive number of seconds"),
    ("inbox_path", "/proc/no/such/inbox.db", "cannot create /proc/no/such"),
    ("store_namespace", "a b", "without spaces"),
])
def test_a_wrong_delivery_setting_stops_start_up_naming_the_key(key, value, problem):
    with pytest.raises(ChattigoStartupError) as caught:
        ChattigoInput.from_credentials(channel_settings(**{key: value}))
    assert f"setting '{key}'" in str(caught.value)
    assert problem in str(caught.value)


@requires_postgres
async def test_postgresql_inbox_resumes_what_a_stop_left():
    settings = channel_settings(inbox_store="postgresql://postgres@127.0.0.1:5432/test",
                                shutdown_grace_seconds=0.01)
    user = f"54911{uuid.uuid4().int % 10**8:08d}"
    blocked = Blocked()
    first = ChattigoInput.from_credentials(settings)
    async with serve_sanic(make_app(first, blocked)) as url, httpx.AsyncClient(base_url=url) as h:
        for n in range(3):
            await h.post(WEBHOOK, json=body(user, f"pg {n}", f"wamid.{user}.{n}"))
        await blocked.entered.wait()
    second, collected = ChattigoInput.from_credentials(settings), Collect(user, 3)
    async with serve_sanic(make_app(second, collected)):
        await collected.complete.wait()
    assert collected.texts == ["pg 0", "pg 1", "pg 2"]


class Blocked:
    """A bot that never finishes: what it holds at shutdown is cancelled."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def __call__(self, message: Any) -> None:
        self.entered.set()
        await asyncio.Event().wait()


class Collect:
    """A bot recording one user's texts until it has `count`."""

    def __init__(self, user: str, count: int) -> None:
        self.user, self.count, self.texts = user, count, []
        self.complete = asyncio.Event()

    async def __call__(self, message: Any) -> None:
        if message.sender_id == self.user:
            self.texts.append(message.text)
        if len(self.texts) >= self.count:
            self.complete.set()
