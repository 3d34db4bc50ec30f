"""Real `rasa run` processes under load: a slow bot, SIGTERM, and two instances on one number."""

import asyncio
import statistics
import time
import uuid
from typing import Dict, List

import httpx
import pytest
import yaml

from rasa_chattigo.devtools._stack import LocalStack
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook

from bots import DID, MODEL, PROJECT, SLOW_MODEL, SLOW_PROJECT, SLOW_REPLY, ensure_model
from conftest import requires_nlu, requires_postgres, requires_rasa_cli, requires_redis, server_logs

pytestmark = [pytest.mark.e2e, requires_rasa_cli, requires_nlu]


def replies_at(stack: LocalStack) -> List[Dict]:
    answer = httpx.get(f"{stack.sandbox_url}/sandbox/messages", params={"did": DID})
    return answer.json()["messages"]


def test_slow_bot_acknowledges_first_and_sigterm_loses_nothing():
    logs = server_logs("slow-bot")
    model = ensure_model(SLOW_PROJECT, SLOW_MODEL)
    stack = LocalStack(SLOW_PROJECT, model, did=DID, logs=logs,
                       # webhooks posted straight to rasa: the sandbox never saw the users write
                       sandbox_args=["--no-window"],
                       extra_env={"SLOW_BOT_SECONDS": "5"}, endpoints=str(logs / "ep.yml"),
                       credentials=str(logs / "credentials.yml"))
    (logs / "credentials.yml").write_text(yaml.safe_dump({"rasa_chattigo.ChattigoInput": {
        "base_url": "${CHATTIGO_BASE_URL}", "did": "${CHATTIGO_DID}",
        "username": "${CHATTIGO_USERNAME}", "password": "${CHATTIGO_PASSWORD}",
        "bot_name": "Aynux", "webhook_token": "${CHATTIGO_WEBHOOK_TOKEN}",
        "shutdown_grace_seconds": 60}}))
    with stack:
        action_url = stack.start_action_server()
        (logs / "ep.yml").write_text(yaml.safe_dump({"action_endpoint": {"url": action_url}}))
        stack.start()
        users = [f"54926440100{n:02d}" for n in range(10)]
        answer_times: List[float] = []
        with httpx.Client(timeout=30) as http:
            for user in users:
                body = build_cloud_webhook("text", did=DID, msisdn=user, text="hacé la consulta")
                started = time.perf_counter()
                # the token in a header: httpx logs the URLs it requests
                answer = http.post(stack.webhook_url.partition("?")[0], json=body,
                                   headers={"X-Webhook-Token": stack.webhook_token})
                answer_times.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                assert answer.json()["messages"] == 1
            # Acknowledged before the bot answered: no reply existed when the last 200 came back.
            assert replies_at(stack) == []
            assert stack.stop_rasa(0, grace=90) == 0
        replies = replies_at(stack)
    median_ms = statistics.median(answer_times) * 1000
    print(f"\nwebhook answer time with a 5 s bot: median {median_ms:.1f} ms, "
          f"max {max(answer_times) * 1000:.1f} ms over {len(answer_times)}")
    assert sorted(r["msisdn"] for r in replies) == users
    assert {r["payload"]["content"] for r in replies} == {SLOW_REPLY}


STEPS = ["hola", "¿a qué hora atienden?", "gracias", "chau"]


@requires_redis
@requires_postgres
def test_two_instances_sharing_redis_and_postgres_reply_once_in_order():
    logs = server_logs("two-instances")
    model = ensure_model(PROJECT, MODEL)
    run = uuid.uuid4().hex[:8]
    (logs / "endpoints.yml").write_text(yaml.safe_dump({
        "tracker_store": {"type": "SQL", "dialect": "postgresql", "url": "127.0.0.1",
                          "port": 5432, "db": "test", "username": "postgres"},
        "lock_store": {"type": "redis", "url": "127.0.0.1", "port": 6379, "db": 1,
                       "key_prefix": f"e2e{run}"},
    }))
    (logs / "credentials.yml").write_text(yaml.safe_dump({"rasa_chattigo.ChattigoInput": {
        "base_url": "${CHATTIGO_BASE_URL}", "did": "${CHATTIGO_DID}",
        "username": "${CHATTIGO_USERNAME}", "password": "${CHATTIGO_PASSWORD}",
        "bot_name": "Aynux", "dedup_store": "redis://127.0.0.1:6379/2",
        "webhook_token": "${CHATTIGO_WEBHOOK_TOKEN}"}}))
    stack = LocalStack(PROJECT, model, did=DID, logs=logs,
                       # webhooks posted straight to rasa: the sandbox never saw the users write
                       sandbox_args=["--no-window"],
                       endpoints=str(logs / "endpoints.yml"),
                       credentials=str(logs / "credentials.yml"))
    prefix = str(uuid.uuid4().int)[:4]  # fresh conversations in the shared tracker store
    users = [f"549264{prefix}{n:03d}" for n in range(8)]

    async def converse(http: httpx.AsyncClient, user: str, urls: List[str]) -> None:
        for step, text in enumerate(STEPS):
            body = build_cloud_webhook("text", did=DID, msisdn=user, text=text)
            answers = await asyncio.gather(*(http.post(url, json=body, headers=auth)
                                             for url in urls))
            assert sorted(a.json()["messages"] for a in answers) == [0, 1]
            assert sorted(a.json()["duplicates"] for a in answers) == [0, 1]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                mine = [m for m in replies_at(stack) if m["msisdn"] == user]
                if len(mine) > step:
                    break
                await asyncio.sleep(0.2)

    auth = {"X-Webhook-Token": stack.webhook_token}  # in a header: httpx logs URLs
    with stack:
        stack.start(rasa_instances=2)
        urls = [f"{url}/webhooks/chattigo/webhook" for url in stack.rasa_urls]

        async def everyone() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                await asyncio.gather(*(converse(http, user, urls) for user in users))

        asyncio.run(everyone())
        time.sleep(2)  # a duplicate reply would arrive within this
        replies = replies_at(stack)
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text())["responses"]
    expected = ["utter_saludo", "utter_horarios", "utter_de_nada", "utter_despedida"]
    for user in users:
        mine = [m["payload"]["content"] for m in replies if m["msisdn"] == user]
        assert len(mine) == len(STEPS), (user, mine)
        for content, response in zip(mine, expected):
            assert content in [v["text"] for v in domain[response]], (user, content, response)
