"""The webhook front: a process of its own answers Chattigo, `rasa run`'s turns reply (through
the real Sanic app with the demo bot, the real front process and the sandbox as Chattigo)."""

import asyncio
import os
import signal
from typing import Any, Dict

import httpx

from rasa_chattigo.sandbox import build_cloud_webhook

from conftest import DID, free_port, requires_nlu, requires_rasa_cli
from demo_agent import Stack, stack

pytestmark = [requires_rasa_cli, requires_nlu]  # the model Rasa trains


async def post_front(running: Stack, body: Dict[str, Any]) -> httpx.Response:
    assert running.channel.front is not None and running.channel.front.url is not None
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(running.channel.front.url, json=body)


def hola(running: Stack, message_id: str) -> Dict[str, Any]:
    return build_cloud_webhook("text", did=DID, msisdn=running.user, text="hola",
                               message_id=message_id)


async def replies(running: Stack, count: int, timeout: float = 30.0) -> list:
    """The bot's sends to the user once there are `count` (fails after `timeout`)."""
    for _ in range(int(timeout / 0.05)):
        if len(running.sent()) >= count:
            return running.sent()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(running.sent())} replies, expected {count}")


async def started_again(running: Stack, old_pid: int, timeout: float = 60.0) -> None:
    """Waits until a new front process answers its health check."""
    front = running.channel.front
    assert front is not None and front.url is not None
    health = front.url.rsplit("/", 1)[0] + "/"
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(int(timeout / 0.1)):
            if front._process is not None and front._process.pid != old_pid:
                try:
                    if (await http.get(health)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(0.1)
    raise AssertionError("the front did not come back")


async def test_a_message_to_the_front_is_answered_by_the_bot(agent: Any) -> None:
    async with stack(agent, ack="background", front_port=free_port()) as running:
        answer = await post_front(running, hola(running, "wamid.front-1"))
        assert answer.status_code == 200
        assert answer.json()["messages"] == 1
        sent = await replies(running, 1)
        assert "Aynux" in str(sent[0])


async def test_inline_ack_answers_once_the_bot_replied(agent: Any) -> None:
    async with stack(agent, ack="inline", front_port=free_port()) as running:
        answer = await post_front(running, hola(running, "wamid.front-inline"))
        assert answer.status_code == 200
        assert len(running.sent()) >= 1  # replied before the webhook was answered


async def test_a_redelivery_to_the_front_is_answered_once(agent: Any) -> None:
    async with stack(agent, ack="inline", front_port=free_port()) as running:
        first = await post_front(running, hola(running, "wamid.front-dup"))
        again = await post_front(running, hola(running, "wamid.front-dup"))
        assert (first.json()["messages"], again.json()["duplicates"]) == (1, 1)
        count = len(running.sent())
        await asyncio.sleep(0.5)
        assert len(running.sent()) == count


async def test_the_front_refuses_a_caller_the_channel_refuses(agent: Any) -> None:
    async with stack(agent, ack="background", front_port=free_port(),
                     allowed_ips=["10.0.0.1/32"]) as running:
        answer = await post_front(running, hola(running, "wamid.front-refused"))
        assert answer.status_code == 403
        await asyncio.sleep(0.3)
        assert running.sent() == []


async def test_a_front_killed_after_acknowledging_comes_back_and_the_message_is_answered_once(
    agent: Any,
) -> None:
    async with stack(agent, ack="background", front_port=free_port(),
                     delivery_lease_seconds=1.5) as running:
        front = running.channel.front
        assert front is not None and front._process is not None
        old_pid = front._process.pid
        answer = await post_front(running, hola(running, "wamid.front-killed"))
        assert answer.status_code == 200
        os.kill(old_pid, signal.SIGKILL)
        await replies(running, 1)
        await started_again(running, old_pid)
        await asyncio.sleep(2.0)  # the new front took over the dead one's inbox meanwhile
        second = await post_front(running, hola(running, "wamid.front-after"))
        assert second.status_code == 200
        sent = await replies(running, 2)
        await asyncio.sleep(0.5)
        assert len(running.sent()) == len(sent) == 2
