"""Issue 12's attacks, each through the real Sanic app on 127.0.0.1: no 5xx, no hang, bounded.

Every test ends by asking the server's health check with a one-second client timeout: a server
the attack stopped fails there, without any timing assertion. Memory bounds are stated per test
(`RSS_BOUND_MB`); the webhook token is looked for in every log record.
"""

import asyncio
import json
import logging
import os
import uuid
from typing import Any, Dict, List, Tuple

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo import webhook as webhook_module
from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.compat import sanic_api
from rasa_chattigo.credentials._admin_api import MAX_BODY_BYTES, add_admin_routes
from rasa_chattigo.credentials._crypto import Keyring, generate_key
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.delivery import INBOX
from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.inbound._limits import (
    MAX_ENTITY_CHARS,
    MAX_FLOW_ENTITIES,
    MAX_METADATA_BYTES,
    MAX_TEXT_CHARS,
)
from rasa_chattigo.sandbox.whatsapp import build_cloud_webhook, build_status_webhook, new_wamid

from conftest import DID, Collector, channel_settings, load_fixture, serve_sanic

Sanic.test_mode = True

WEBHOOK = "/webhooks/chattigo/webhook"
HEALTH = "/webhooks/chattigo/"
WEBHOOK_TOKEN = "attack-webhook-token-0123456789abcdef"
ADMIN_TOKEN = "attack-admin-token-0123456789abcdef"
#: How much more memory (MB) the test process may hold after an attack than before it.
RSS_BOUND_MB = 150
USER = "5492644470001"
#: httpx logs every URL it requests: the tests send the token in a header, never in a URL
#: httpx sees, so the test run's own log holds no token either.
AUTH = {"X-Webhook-Token": WEBHOOK_TOKEN}


def make_app(channel: ChattigoInput, on_new_message: Any) -> Sanic:
    """The channel's blueprint, plus a route of someone else's that fails (as Rasa's can)."""
    app = Sanic(f"attacks_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/chattigo")

    @app.post("/other/echo")
    async def echo(request: Any) -> Any:
        return sanic_api.json_response({"bytes": len(request.body)})

    @app.get("/other/boom")
    async def boom(request: Any) -> Any:
        raise RuntimeError("a route that is not ours fails")

    return app


def token_channel(**settings: Any) -> ChattigoInput:
    return ChattigoInput.from_credentials(channel_settings(webhook_token=WEBHOOK_TOKEN,
                                                          **settings))


def rss_mb() -> float:
    """This process's resident memory, in MB (Linux)."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def raw_exchange(url: str, request: bytes, *, closes: bool = True) -> Tuple[bytes, bool]:
    """Sends raw bytes; the status line, and whether the server closed the connection after
    (only waited for when `closes`)."""
    host, port = url.rsplit("/", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await asyncio.wait_for(reader.readexactly(length), 5)
        closed = closes and await asyncio.wait_for(reader.read(1), 5) == b""
    finally:
        writer.close()
    return head.split(b"\r\n", 1)[0], closed


async def healthy(url: str) -> bool:
    """The health check answers within a second (a client timeout, not a timing assertion)."""
    async with httpx.AsyncClient(base_url=url, timeout=1.0) as http:
        return (await http.get(HEALTH)).status_code == 200


def head(path: str, content_length: str, extra: str = "", body: bytes = b'{"a":1}') -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {content_length}\r\n{extra}\r\n").encode() + body


# --- Content-Length: what Sanic 21.12 gets wrong --------------------------------------------


@pytest.mark.parametrize("value", ["-1", "1e3", "abc", "0x10", "+5", "1,2", "١٢"])
@pytest.mark.parametrize("path", [WEBHOOK + f"?token={WEBHOOK_TOKEN}", "/other/echo"],
                         ids=["channel", "not-ours"])
async def test_a_content_length_that_is_not_a_length_gets_400_and_a_closed_connection(
        collector, value, path):
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        status, closed = await raw_exchange(url, head(path, value))
        assert (status.split(b" ")[1], closed) == (b"400", True)
        assert await healthy(url)
    assert collector.messages == []


@pytest.mark.parametrize("value", ["gzip, chunked", "xchunked", "identity", "chunked, chunked"])
async def test_a_transfer_encoding_other_than_chunked_gets_400_not_500(collector, value):
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        request = (f"POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n"
                   f"Transfer-Encoding: {value}\r\n\r\n7\r\n{{\"a\":1}}\r\n0\r\n\r\n")
        status, closed = await raw_exchange(url, request.encode())
        assert (status.split(b" ")[1], closed) == (b"400", True)
        assert await healthy(url)
    assert collector.messages == []


@pytest.mark.parametrize(("encoding", "size"), [("Chunked", None), ("chunked", "zz"),
                                                ("chunked", "-5")])
async def test_a_chunked_body_is_read_whatever_the_case_and_a_bad_chunk_size_gets_400(
        collector, encoding, size):
    body = json.dumps(build_cloud_webhook("text", did=DID, msisdn=USER, text="hola",
                                          message_id=f"wamid.te.{encoding}.{size}")).encode()
    chunk = f"{size or format(len(body), 'x')}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (f"POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n"
               f"Transfer-Encoding: {encoding}\r\nConnection: close\r\n\r\n").encode() + chunk
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        status, _ = await raw_exchange(url, request, closes=False)
        assert await healthy(url)
    assert status.split(b" ")[1] == (b"200" if size is None else b"400")
    assert len(collector.messages) == (1 if size is None else 0)


async def test_two_different_content_lengths_get_400(collector):
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        status, closed = await raw_exchange(
            url, head(WEBHOOK, "7", extra="Content-Length: 3\r\n"))
        assert (status.split(b" ")[1], closed) == (b"400", True)
        assert await healthy(url)


#: helper-30's and helper-31's heads: each framed a body that Sanic or a proxy would read
#: otherwise, or made the check itself fail (500). `{length}` is the body's own length; the body
#: is chunked where the head says chunked, so a lax server would take the message.
FRAMING_ATTACKS = {
    "5,000-digit length": "Content-Length: " + "1" * 5000 + "\r\n",
    "Kelvin sign in chunked": "Transfer-Encoding: chun\u212aed\r\n",
    "no-break space after chunked": "Transfer-Encoding: chunked\u00a0\r\n",
    "vertical tab before chunked": "Transfer-Encoding: \x0bchunked\r\n",
    "no-break space after a length": "Content-Length: {length}\u00a0\r\n",
    "no-break space before a length": "Content-Length: \u00a0{length}\r\n",
    "space before the colon": "Transfer-Encoding : chunked\r\n",
    "bare LF in a value": "X-A: b\nTransfer-Encoding: chunked\r\n",
    "NUL in a value": "X-A: b\x00c\r\nTransfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("extra", FRAMING_ATTACKS.values(), ids=FRAMING_ATTACKS.keys())
async def test_a_head_framed_otherwise_than_sanic_reads_it_gets_400(collector, extra):
    body = json.dumps(build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")).encode()
    if "{length}" in extra:
        extra = extra.format(length=len(body))
    else:
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (f"POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"
               .encode() + body)
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        status, closed = await raw_exchange(url, request)
        assert (status.split(b" ")[1], closed) == (b"400", True)
        assert await healthy(url)
    assert collector.messages == []


async def test_what_follows_a_chunked_body_is_never_read_as_a_request(collector):
    # Sanic 21.12 read a trailer after the last chunk as the next request; Sanic 25 refuses it.
    def webhook(message_id: str) -> bytes:
        return json.dumps(build_cloud_webhook("text", did=DID, msisdn=USER, text="hola",
                                              message_id=message_id)).encode()
    first, second = webhook("wamid.first"), webhook("wamid.smuggled")
    smuggled = (f"a:POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {len(second)}\r\n\r\n").encode() + second
    request = (f"POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n{len(first):x}\r\n").encode()
    request += first + b"\r\n0\r\n" + smuggled
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        _, closed = await raw_exchange(url, request)
        assert closed
        assert await healthy(url)
    assert "wamid.smuggled" not in [message.message_id for message in collector.messages]


@pytest.mark.parametrize(("framing", "partial_body"), [
    ("Content-Length: 4000", b'{"a"'), ("Transfer-Encoding: chunked", b'40\r\n{"a"'),
], ids=["length", "chunked"])
async def test_a_body_that_stops_coming_gets_408_and_a_closed_connection(
        collector, framing, partial_body):
    # Sanic times a streamed body by its response timeout (an hour under `rasa run`).
    app = make_app(token_channel(), collector)
    app.config.REQUEST_TIMEOUT = 1
    request = (f"POST {WEBHOOK}?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n"
               .encode() + partial_body)
    async with serve_sanic(app) as url:
        status, closed = await raw_exchange(url, request)
        assert (status.split(b" ")[1], closed) == (b"408", True)
        assert await healthy(url)
    assert collector.messages == []


async def test_chunked_in_an_http_1_0_request_gets_400(collector):
    body = b'7\r\n{"a":1}\r\n0\r\n\r\n'
    request = (b"POST /other/echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: keep-alive\r\n\r\n") + body
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        status, closed = await raw_exchange(url, request)
        assert (status.split(b" ")[1], closed) == (b"400", True)


@pytest.mark.parametrize("path", [WEBHOOK + f"?token={WEBHOOK_TOKEN}", "/other/echo"],
                         ids=["channel", "not-ours"])
async def test_a_length_and_a_chunked_encoding_together_get_400(collector, path):
    # Sanic 21.12 would read the body as chunked; a proxy trusting the length would not.
    body = b'7\r\n{"a":1}\r\n0\r\n\r\n'
    request = head(path, str(len(body)), extra="Transfer-Encoding: chunked\r\n", body=body)
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        status, closed = await raw_exchange(url, request)
        assert (status.split(b" ")[1], closed) == (b"400", True)
        assert await healthy(url)
    assert collector.messages == []


@pytest.mark.parametrize("value", ["999999999999999999999999", "10485760"])
async def test_an_oversized_content_length_gets_413_without_reading_the_body(collector, value):
    channel = token_channel(max_body_bytes=64 * 1024)
    async with serve_sanic(make_app(channel, collector)) as url:
        # only 7 of the announced bytes are sent: an answer means nothing waited for the rest
        status, closed = await raw_exchange(url, head(WEBHOOK + f"?token={WEBHOOK_TOKEN}", value))
        assert (status.split(b" ")[1], closed) == (b"413", True)
        assert await healthy(url)


# --- authentication ---------------------------------------------------------------------------


def test_without_authentication_the_channel_does_not_start():
    with pytest.raises(ChattigoError) as caught:
        ChattigoInput.from_credentials({**channel_settings(), "allowed_ips": None})
    assert "setting 'webhook_token'" in str(caught.value)
    assert "allow_unauthenticated" in str(caught.value)


async def test_allow_unauthenticated_opens_the_webhook_on_purpose_only(collector):
    channel = ChattigoInput.from_credentials({**channel_settings(), "allowed_ips": None,
                                              "allow_unauthenticated": True})
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
            assert (await http.post(WEBHOOK, json=body)).status_code == 200


@pytest.mark.parametrize("header", ["X-Webhook-Token", "Authorization", "X-Hub-Signature-256"])
async def test_bytes_that_are_not_ascii_in_an_auth_header_get_401(collector, header):
    channel = token_channel(app_secret="attack-app-secret-0123456789")
    value = b"Bearer \xff\xfe" if header == "Authorization" else b"\xff\xfe\x80"
    raw = (f"POST {WEBHOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n").encode() + \
        header.encode() + b": " + value + b"\r\n\r\n{}"
    async with serve_sanic(make_app(channel, collector)) as url:
        status, _ = await raw_exchange(url, raw, closes=False)
        assert status.split(b" ")[1] == b"401"
        assert await healthy(url)


async def test_several_token_guesses_in_one_request_get_401(collector):
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
            answer = await http.post(f"{WEBHOOK}?token=bad&token=worse", json=body)
            both = await http.post(f"{WEBHOOK}?token=bad", json=body, headers=AUTH)
    assert (answer.status_code, answer.json()["reason"]) == (401, "more than one webhook token")
    assert (both.status_code, both.json()["reason"]) == (401, "more than one webhook token")
    assert collector.messages == []


# --- no secret in any log ---------------------------------------------------------------------


async def test_the_token_is_in_no_log_line_even_when_sanic_logs_an_error(collector, caplog):
    caplog.set_level(logging.DEBUG)
    body = json.dumps(build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")).encode()
    async with serve_sanic(make_app(token_channel(), collector)) as url:
        failed, _ = await raw_exchange(
            url, f"GET /other/boom?token={WEBHOOK_TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            closes=False)
        refused, _ = await raw_exchange(url, head(f"{WEBHOOK}?token={WEBHOOK_TOKEN}x", "2",
                                                  body=b"{}"), closes=False)
        accepted, _ = await raw_exchange(url, head(f"{WEBHOOK}?token={WEBHOOK_TOKEN}",
                                                   str(len(body)), body=body), closes=False)
    assert [s.split(b" ")[1] for s in (failed, refused, accepted)] == [b"500", b"401", b"200"]
    sanic_errors = [r for r in caplog.records if r.name == "sanic.error"]
    assert any("token=***" in r.getMessage() for r in sanic_errors)  # it did log the URL
    assert not [r.getMessage() for r in caplog.records if WEBHOOK_TOKEN in r.getMessage()]


# --- bounded everything -----------------------------------------------------------------------


def flow_reply(fields: int) -> Dict[str, Any]:
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="x", message_id=new_wamid(USER))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    response = {f"campo_{n}": "v" * 8 for n in range(fields)}
    response["flow_token"] = "flow-1"
    message.pop("text")
    message.update(type="interactive", interactive={"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": json.dumps(response)}})
    return body


async def test_a_flow_reply_with_20000_fields_yields_bounded_entities_and_metadata(collector):
    before = rss_mb()
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            for fields in (8_000, 20_000):
                answer = await http.post(WEBHOOK, json=flow_reply(fields))
                assert answer.status_code == 200
        assert await healthy(url)
    for message in collector.messages:
        entities = json.loads(message.text[len("/whatsapp_flow_reply"):])
        assert len(entities) == MAX_FLOW_ENTITIES
        assert len(message.text) <= MAX_TEXT_CHARS
        assert len(json.dumps(message.metadata).encode()) <= MAX_METADATA_BYTES + 4096
    assert rss_mb() - before < RSS_BOUND_MB


async def test_a_long_entity_value_is_cut_and_the_whole_value_stays_in_metadata(collector):
    body = flow_reply(1)
    reply = body["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["nfm_reply"]
    reply["response_json"] = json.dumps({"nota": "n" * 5000})
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            assert (await http.post(WEBHOOK, json=body)).status_code == 200
    (message,) = collector.messages
    assert message.text == '/whatsapp_flow_reply{"nota":"' + "n" * MAX_ENTITY_CHARS + '"}'
    assert message.metadata["flow"]["response"] == {"nota": "n" * 5000}


async def test_twenty_message_ids_of_a_megabyte_are_kept_in_bytes_not_megabytes(collector):
    channel = token_channel(ack="inline")
    before = rss_mb()
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            for n in range(20):
                huge_id = f"wamid.{n:02d}" + "A" * (1 << 20)
                body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola",
                                           message_id=huge_id)
                assert (await http.post(WEBHOOK, json=body)).status_code == 200
            again = await http.post(WEBHOOK, json=body)  # a redelivery is still recognised
        assert await healthy(url)
    assert again.json()["duplicates"] == 1
    assert all(m.message_id.startswith("sha256:") for m in collector.messages)
    assert channel.dedup.size_bytes < 20 * 400
    assert rss_mb() - before < RSS_BOUND_MB


def backlog_app(channel: ChattigoInput, gate: "asyncio.Event", collector: Collector) -> Sanic:
    async def slow_bot(message: Any) -> None:
        await gate.wait()
        await collector(message)

    return make_app(channel, slow_bot)


async def test_beyond_max_pending_messages_new_webhooks_get_503_with_retry_after(collector):
    gate = asyncio.Event()
    channel = token_channel(max_pending_messages=3)
    async with serve_sanic(backlog_app(channel, gate, collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            answers = [await http.post(WEBHOOK, json=build_cloud_webhook(
                "text", did=DID, msisdn=f"54926440{n:05d}", text=f"m{n}")) for n in range(5)]
            gate.set()
            while channel.dispatcher.pending:
                await asyncio.sleep(0.01)
            later = await http.post(WEBHOOK, json=build_cloud_webhook(
                "text", did=DID, msisdn="5492644099999", text="later"))
    assert [a.status_code for a in answers] == [200, 200, 200, 503, 503]
    assert answers[3].headers["Retry-After"] == "5"
    assert later.status_code == 200
    assert sorted(m.text for m in collector.messages) == ["later", "m0", "m1", "m2"]


# --- poison messages ---------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = {"id": "wamid.parent"}
    for _ in range(depth):
        value = {"quoted": value}
    return value


@pytest.mark.parametrize("ack", ["background", "inline"])
async def test_deep_context_and_a_lone_surrogate_reach_the_bot_encodable(collector, ack):
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["context"] = nested(900)
    raw = json.dumps(body).replace(f'"from": "{USER}"', f'"from": "{USER}\\ud800"').encode()
    channel = token_channel(ack=ack)
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            answer = await http.post(WEBHOOK, content=raw)
            while channel.dispatcher.pending:
                await asyncio.sleep(0.01)
    assert answer.status_code == 200
    (received,) = collector.messages
    assert received.sender_id == USER + "\ufffd"
    json.dumps(received.metadata).encode("utf-8")  # a tracker store can write it


@pytest.mark.parametrize("error", [TypeError("unhashable type: 'dict'"), KeyError("from"),
                                   RecursionError("maximum recursion depth exceeded"),
                                   ValueError("forged\nCRITICAL line")])
async def test_a_parser_bug_costs_its_request_a_logged_400_and_the_next_one_is_served(
        collector, monkeypatch, caplog, error):
    real_parse = webhook_module.parse_webhook

    def buggy_parse(body: Any, settings: Any, **kwargs: Any) -> Any:
        if body.get("bug"):
            raise error  # what a parser bug the fuzz tests missed would raise
        return real_parse(body, settings, **kwargs)

    monkeypatch.setattr(webhook_module, "parse_webhook", buggy_parse)
    buggy = {**build_cloud_webhook("text", did=DID, msisdn=USER, text="hola"), "bug": True}
    fine = build_cloud_webhook("text", did=DID, msisdn=USER, text="chau")
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            refused = await http.post(WEBHOOK, json=buggy)
            served = await http.post(WEBHOOK, json=fine)
    assert (refused.status_code, refused.json()["field"]) == (400, "body")
    assert (served.status_code, served.json()["messages"]) == (200, 1)
    assert [m.text for m in collector.messages] == ["chau"]
    (logged,) = [r for r in caplog.records if "the parser failed" in r.getMessage()]
    assert logged.levelname == "ERROR" and type(error).__name__ in logged.getMessage()
    # where: the innermost line of the package (this stand-in parser lives in the tests)
    assert "rasa_chattigo/webhook.py:" in logged.getMessage() and "sha256" in logged.getMessage()
    assert "\n" not in logged.getMessage() and str(error)[:6] not in refused.text


async def test_a_bug_past_the_parser_gets_a_logged_503_so_chattigo_sends_it_again(
        collector, monkeypatch, caplog):
    channel = token_channel(ack="inline")
    calls: List[int] = []
    original = type(channel.delivery.intake).accept

    async def buggy_accept(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the intake")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(type(channel.delivery.intake), "accept", buggy_accept)
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
    async with serve_sanic(make_app(channel, collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            failed = await http.post(WEBHOOK, json=body)
            again = await http.post(WEBHOOK, json=body)  # Chattigo's redelivery
    assert failed.status_code == 503 and "a bug" not in failed.text
    assert (again.status_code, again.json()["messages"]) == (200, 1)
    assert [m.text for m in collector.messages] == ["hola"]
    (logged,) = [r for r in caplog.records if "asked to send it again" in r.getMessage()]
    assert logged.levelname == "ERROR"
    assert "RuntimeError: a bug in the intake" in logged.getMessage()


@pytest.mark.parametrize("ack", ["background", "inline"])
async def test_a_message_the_bot_fails_on_is_handled_once_and_answered_with_the_fallback(
        sandbox, ack, caplog):
    calls: List[str] = []

    async def failing_bot(message: Any) -> None:
        calls.append(message.message_id)
        raise RuntimeError("the bot cannot handle this")

    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, ack=ack, webhook_token=WEBHOOK_TOKEN,
        fallback_reply="Perdón, algo falló."))
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
    async with serve_sanic(make_app(channel, failing_bot)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            first = await http.post(WEBHOOK, json=body)
            while channel.dispatcher.pending:
                await asyncio.sleep(0.01)
            again = await http.post(WEBHOOK, json=body)
    await channel.client.aclose()
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert (first.status_code, again.status_code, again.json()["duplicates"]) == (200, 200, 1)
    assert calls == [wamid]
    replies = [m.payload["content"] for m in sandbox.state.select(direction="out", msisdn=USER)]
    assert replies == ["Perdón, algo falló."]
    assert any(wamid in r.getMessage() and "cannot handle this" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


@pytest.mark.parametrize("ack", ["background", "inline"])
async def test_a_message_failing_while_a_store_is_down_is_kept_and_processed_once_it_is_back(
        sandbox, ack, caplog):
    from rasa.core.lock_store import LockError

    calls: List[str] = []

    async def bot_with_a_lock_store_down_once(message: Any) -> None:
        calls.append(message.message_id)
        if len(calls) == 1:
            raise LockError("Could not acquire lock for conversation")

    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, ack=ack, webhook_token=WEBHOOK_TOKEN, delivery_lease_seconds=0.3,
        inbox_store="memory"))
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
    async with serve_sanic(make_app(channel, bot_with_a_lock_store_down_once)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            first = await http.post(WEBHOOK, json=body)
            while len(calls) < 2 or channel.dispatcher.pending:  # the upkeep round retries
                await asyncio.sleep(0.01)
            again = await http.post(WEBHOOK, json=body)
            assert await channel.delivery.store.records(INBOX) == []
    await channel.client.aclose()
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert first.status_code == (503 if ack == "inline" else 200)
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    assert calls == [wamid, wamid]
    assert sandbox.state.select(direction="out", msisdn=USER) == []  # no fallback reply
    assert any("not processed for now (LockError" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)


async def test_a_store_down_for_longer_than_an_hour_makes_it_a_poison_message(
        sandbox, monkeypatch):
    monkeypatch.setattr("rasa_chattigo.delivery._intake.RETRY_FOR_SECONDS", 0.0)

    async def bot_with_the_tracker_store_down(message: Any) -> None:
        raise ConnectionError("tracker store unreachable")

    channel = ChattigoInput.from_credentials(channel_settings(
        base_url=sandbox.url, webhook_token=WEBHOOK_TOKEN, inbox_store="memory",
        fallback_reply="Perdón, algo falló."))
    body = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola")
    async with serve_sanic(make_app(channel, bot_with_the_tracker_store_down)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            assert (await http.post(WEBHOOK, json=body)).status_code == 200
            while channel.dispatcher.pending:
                await asyncio.sleep(0.01)
            assert await channel.delivery.store.records(INBOX) == []
    await channel.client.aclose()
    replies = [m.payload["content"] for m in sandbox.state.select(direction="out", msisdn=USER)]
    assert replies == ["Perdón, algo falló."]


# --- log injection -----------------------------------------------------------------------------


async def test_newlines_in_payload_values_forge_no_log_line(collector, caplog):
    caplog.set_level(logging.DEBUG, logger="rasa_chattigo")
    forged = "x\n2026-01-01 00:00:00 ERROR forged line\r\x1b[31m"
    status = build_status_webhook("failed", did=DID, recipient=forged, wamid=forged)
    value = status["entry"][0]["changes"][0]["value"]
    value["statuses"][0]["errors"] = [{"code": 131047, "title": forged}]
    value["errors"] = [{"code": 1, "title": forged}]
    text = build_cloud_webhook("text", did=DID, msisdn=USER, text="hola", message_id=forged)
    text["entry"][0]["changes"][0]["value"]["messages"][0]["errors"] = [
        {"code": 2, "title": forged}]
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            for body in (status, text):
                assert (await http.post(WEBHOOK, json=body)).status_code == 200
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("rasa_chattigo")]
    assert any("forged line" in line for line in ours)  # logged, escaped
    assert [line for line in ours if "\n" in line or "\r" in line or "\x1b" in line] == []


# --- the admin API ------------------------------------------------------------------------------


def admin_app(tmp_path: Any) -> Tuple[Sanic, CredentialStore]:
    store = CredentialStore(f"sqlite:///{tmp_path}/admin.db", Keyring([generate_key()]))
    store.create_all()
    blueprint = sanic_api.new_blueprint(f"admin_{uuid.uuid4().hex}")

    @blueprint.get("/")
    async def health(request: Any) -> Any:
        return sanic_api.json_response({"status": "ok"})

    async def login_check(did: str) -> None:
        return None

    add_admin_routes(blueprint, store, admin_token=ADMIN_TOKEN, login_check=login_check)
    app = Sanic(f"admin_attacks_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(blueprint, url_prefix="/webhooks/chattigo")
    return app, store


async def test_the_admin_api_refuses_a_huge_body_before_reading_it(tmp_path):
    app, store = admin_app(tmp_path)
    before = rss_mb()
    async with serve_sanic(app) as url:
        answers = []
        for token in ("wrong-token-0123456789", ADMIN_TOKEN):
            # 95 MB announced, a few bytes sent: the answer comes without waiting for the rest
            request = head("/webhooks/chattigo/admin/credentials", str(95 * 1024 * 1024),
                           extra=f"Authorization: Bearer {token}\r\n")
            answers.append(await raw_exchange(url, request))
        assert await healthy(url)
    store.close()
    assert [(status.split(b" ")[1], closed) for status, closed in answers] == [
        (b"401", True), (b"400", True)]
    assert rss_mb() - before < RSS_BOUND_MB


@pytest.mark.parametrize(("body", "field"), [
    (json.dumps({"did": DID, "username": "u", "password": "p", "bot_name": "A\u0000B"}).encode(),
     "bot_name"),
    (b'{"did": "' + DID.encode() + b'", "username": "u\\ud800", "password": "p"}', "username"),
    (b'{"did": ' + b"[" * 5000 + b"]" * 5000 + b"}", "deep"),
    (b"{" + b'"k": 1,' * (MAX_BODY_BYTES // 7) + b'"z": 2}', "body"),
], ids=["nul", "lone-surrogate", "deep", "over-the-cap"])
async def test_bad_admin_bodies_get_a_json_400_never_a_500(tmp_path, body, field):
    app, store = admin_app(tmp_path)
    async with serve_sanic(app) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post("/webhooks/chattigo/admin/credentials", content=body,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert await healthy(url)
    store.close()
    # Python 3.13's JSON decoder accepts 5,000 levels: then `did` is refused as no string.
    expected = ("body", "did") if field == "deep" else (field,)
    assert answer.status_code == 400 and answer.json()["field"] in expected


# --- real payloads are acknowledged --------------------------------------------------------------


async def test_a_real_meta_payload_with_errors_is_acknowledged_and_reaches_the_bot(collector):
    body = load_fixture("inbound", "interactive_unsupported_with_value_error")
    raw = json.dumps(body).replace("5491140001234", DID)
    async with serve_sanic(make_app(token_channel(ack="inline"), collector)) as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            answer = await http.post(WEBHOOK, content=raw)
    assert (answer.status_code, answer.json()["messages"]) == (200, 1)
    (message,) = collector.messages
    assert message.text == "/whatsapp_unsupported"
    assert [e["code"] for e in message.metadata["errors"]] == [131000]
