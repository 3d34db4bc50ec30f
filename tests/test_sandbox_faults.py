"""Sandbox fault injection: 500, 429 with Retry-After, stalls, and a seeded failure rate."""

from typing import Any, Dict, List

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox

from conftest import DID, PASSWORD, USER, USERNAME, text_send

CLOUD_TEXT = {
    "messaging_product": "whatsapp",
    "to": USER,
    "type": "text",
    "text": {"body": "hola"},
}


async def test_mode_500_fails_the_next_sends_then_recovers(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/sandbox/faults", json={"mode": "500", "count": 2})

    codes = [
        (await client.post("/webhooks/inbound", json=text_send("m-1"))).status_code
        for _ in range(3)
    ]

    assert codes == [500, 500, 200]
    assert len(sandbox.state.messages) == 1


async def test_mode_500_answers_a_json_reason(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "500"})

    answer = await client.post("/webhooks/inbound", json=text_send("m-1"))

    assert answer.json() == {
        "error": "server_error",
        "reason": "injected fault: internal server error",
        "field": None,
    }


async def test_retry_after_a_fault_is_not_counted_as_duplicate(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "500", "count": 1})

    await client.post("/webhooks/inbound", json=text_send("m-1"))
    await client.post("/webhooks/inbound", json=text_send("m-1"))

    stats = (await client.get("/sandbox/stats")).json()
    assert (stats["accepted"], stats["duplicate_ids"], stats["faults_injected"]) == (1, 0, 1)


@pytest.mark.parametrize(("retry_after", "header"), [(3, "3"), (0.5, "0.5")])
async def test_mode_429_answers_retry_after(
    client: httpx.AsyncClient, retry_after: float, header: str
) -> None:
    await client.post(
        "/sandbox/faults", json={"mode": "429", "count": 1, "retry_after": retry_after}
    )

    answer = await client.post("/webhooks/inbound", json=text_send("m-1"))

    assert (answer.status_code, answer.headers["Retry-After"]) == (429, header)


async def test_stall_closes_the_connection_without_answering(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/sandbox/faults", json={"mode": "stall", "count": 1, "stall_seconds": 0.1})

    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/webhooks/inbound", json=text_send("m-1"))

    assert sandbox.state.messages == []
    assert (await client.post("/webhooks/inbound", json=text_send("m-1"))).status_code == 200


async def test_faults_apply_to_the_cloud_api_route(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "429", "count": 1})

    answer = await client.post(f"/v15.0/{DID}/messages", json=CLOUD_TEXT)

    assert answer.status_code == 429


async def test_faults_do_not_touch_login(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "500", "count": 1})

    answer = await client.post("/login", json={"username": USERNAME, "password": PASSWORD})

    assert answer.status_code == 200


async def _codes_with_rate(client: httpx.AsyncClient, seed: int) -> List[int]:
    await client.post("/sandbox/faults", json={"rate": 0.5, "modes": ["500", "429"], "seed": seed})
    return [
        (await client.post("/webhooks/inbound", json=text_send(f"m-{n}"))).status_code
        for n in range(20)
    ]


async def test_rate_with_a_seed_fails_the_same_sends_every_time(client: httpx.AsyncClient) -> None:
    first = await _codes_with_rate(client, seed=7)
    second = await _codes_with_rate(client, seed=7)

    assert first == second
    assert set(first) == {200, 429, 500}


async def test_rate_faults_are_counted(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    codes = await _codes_with_rate(client, seed=7)

    stats = (await client.get("/sandbox/stats")).json()
    assert stats["faults_injected"] == sum(1 for code in codes if code != 200)
    assert stats["accepted"] == len(sandbox.state.messages) == codes.count(200)


async def test_delete_clears_faults(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "500", "count": 5})

    cleared = await client.delete("/sandbox/faults")

    assert cleared.json() == {"mode": None}
    assert (await client.post("/webhooks/inbound", json=text_send("m-1"))).status_code == 200


async def test_plan_is_shown(client: httpx.AsyncClient) -> None:
    await client.post("/sandbox/faults", json={"mode": "429", "count": 2, "retry_after": 4})

    assert (await client.get("/sandbox/faults")).json() == {
        "mode": "429",
        "remaining": 2,
        "retry_after": 4.0,
        "stall_seconds": 5.0,
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "mode: give either 'mode' (with 'count') or 'rate' (with 'modes')"),
        (
            {"mode": "500", "rate": 0.2},
            "mode: give either 'mode' (with 'count') or 'rate' (with 'modes')",
        ),
        ({"mode": "503"}, "mode: must be one of 500, 429, stall, slow"),
        ({"mode": "500", "count": 0}, "count: must be a whole number of at least 1"),
        ({"mode": "500", "count": 1.5}, "count: must be a whole number of at least 1"),
        ({"rate": 1.5}, "rate: must be above 0 and at most 1"),
        ({"rate": 0.3, "modes": ["500", "boom"]}, "modes.1: must be one of 500, 429, stall, slow"),
        ({"rate": 0.3, "seed": "7"}, "seed: must be an integer"),
        ({"mode": "429", "retry_after": -1}, "retry_after: must be zero or more seconds"),
        ({"mode": "stall", "stall_seconds": 0}, "stall_seconds: must be above 0 and at most 120"),
    ],
)
async def test_bad_fault_plans_are_400(
    client: httpx.AsyncClient, body: Dict[str, Any], reason: str
) -> None:
    answer = await client.post("/sandbox/faults", json=body)

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)


async def test_reset_clears_faults_and_counters_but_keeps_webhooks(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.patch(
        "/webhooks/inbound", json={"waId": DID, "externalWebhook": "http://127.0.0.1:9/hook"}
    )
    await client.post("/webhooks/inbound", json=text_send("m-1"))
    await client.post("/sandbox/faults", json={"mode": "500", "count": 3})

    await client.post("/sandbox/reset")

    stats = (await client.get("/sandbox/stats")).json()
    assert stats == {
        "logins": 0,
        "accepted": 0,
        "rejected": 0,
        "duplicate_ids": 0,
        "faults_injected": 0,
        "webhooks": {DID: "http://127.0.0.1:9/hook"},
    }
    assert sandbox.state.messages == []
    assert (await client.post("/webhooks/inbound", json=text_send("m-1"))).status_code == 200


async def test_reset_with_webhooks_forgets_them(client: httpx.AsyncClient) -> None:
    await client.patch(
        "/webhooks/inbound", json={"waId": DID, "externalWebhook": "http://127.0.0.1:9/hook"}
    )

    answer = await client.post("/sandbox/reset", json={"webhooks": True})

    assert answer.json() == {"reset": True, "webhooks": {}}
