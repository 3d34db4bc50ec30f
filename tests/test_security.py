"""Tests of the webhook guard: size, client address, token, signature, and URL redaction."""

import json
import logging
from pathlib import Path

import pytest
from multidict import CIMultiDict

from rasa_chattigo.errors import ConfigError, WebhookRejected
from rasa_chattigo.guard import RedactTokenFilter, WebhookGuard, redact_url
from rasa_chattigo.settings import ChattigoSettings

FIXTURES = Path(__file__).parent / "fixtures" / "security"
BODY = (FIXTURES / "text_message_meta_escaped.json").read_bytes()
TOKEN = "s3cr3t-Token_0123456789abcdef"
APP_SECRET = "test-app-secret-1234"
# computed independently: openssl dgst -sha256 -hmac test-app-secret-1234 <fixture>
BODY_SIGNATURE = "sha256=c20b9476584b2c9a99744572ade91d1ae72117bc1bda21af5fe34428bc94c3a1"


AUTH_KEYS = {"webhook_token", "app_secret", "allowed_ips", "allow_unauthenticated"}


def guard(**settings) -> WebhookGuard:
    """A guard; open on purpose (`allow_unauthenticated`) when no rule is given."""
    if not AUTH_KEYS & set(settings):
        settings["allow_unauthenticated"] = True
    return WebhookGuard(ChattigoSettings(**settings))


def rejection(g: WebhookGuard, *, headers=None, query=None, peer_ip="203.0.113.7", body=BODY):
    with pytest.raises(WebhookRejected) as caught:
        g.check(headers=headers or {}, query=query or {}, peer_ip=peer_ip, body=body)
    return caught.value


# --- token -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, {"token": [TOKEN]}),
        ({}, {"token": TOKEN}),
        ({}, f"token={TOKEN}&x=1"),
        ({}, f"?x=1&token={TOKEN}"),
        ({"X-Webhook-Token": TOKEN}, {}),
        ({"x-webhook-token": TOKEN}, {}),
        ({"Authorization": f"Bearer {TOKEN}"}, {}),
        ({"authorization": f"bearer  {TOKEN} "}, {}),
    ],
    ids=["args-list", "args-str", "query-string", "query-string-?", "header", "header-lower",
         "bearer", "bearer-lower"],
)
def test_token_is_accepted_from_each_place(headers, query):
    guard(webhook_token=TOKEN).check(headers=headers, query=query, peer_ip="1.2.3.4", body=BODY)


@pytest.mark.parametrize(
    ("headers", "query", "reason"),
    [
        ({}, {}, "webhook token missing"),
        ({}, {"token": [""]}, "webhook token missing"),
        ({"Authorization": f"Basic {TOKEN}"}, {}, "webhook token missing"),
        ({}, {"token": ["wrong-token-of-another-length"]}, "webhook token wrong"),
        ({}, {"token": [TOKEN[:-1] + "X"]}, "webhook token wrong"),
        ({}, {"token": [TOKEN + "X"]}, "webhook token wrong"),
        ({"X-Webhook-Token": "ñandú-€"}, {}, "webhook token wrong"),
        ({"Authorization": "Bearer x"}, {}, "webhook token wrong"),
        ({}, {"TOKEN": [TOKEN]}, "webhook token missing"),
    ],
    ids=["absent", "empty", "basic-scheme", "longer-wrong", "same-length", "prefix-match",
         "non-ascii", "short-bearer", "name-is-case-sensitive"],
)
def test_token_missing_or_wrong_is_refused_with_401(headers, query, reason):
    refused = rejection(guard(webhook_token=TOKEN), headers=headers, query=query)
    assert (refused.status, refused.reason) == (401, reason)


def test_refusal_does_not_echo_the_offered_token():
    offered = "attacker-supplied-value-123"
    refused = rejection(guard(webhook_token=TOKEN), query={"token": [offered]})
    assert offered not in str(refused) and TOKEN not in str(refused)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        (CIMultiDict([("X-Webhook-Token", "stale"), ("X-Webhook-Token", TOKEN)]), {}),
        ({}, {"token": ["bad", TOKEN]}),
        ({"X-Webhook-Token": "guess"}, {"token": [TOKEN]}),
        ({"Authorization": f"Bearer {TOKEN}"}, "token=guess"),
    ],
    ids=["two-headers", "two-query-values", "header-and-query", "bearer-and-query"],
)
def test_two_different_tokens_in_one_request_are_refused(headers, query):
    refused = rejection(guard(webhook_token=TOKEN), headers=headers, query=query)
    assert (refused.status, refused.reason) == (401, "more than one webhook token")


def test_the_same_token_sent_twice_is_one_token():
    guard(webhook_token=TOKEN).check(headers={"X-Webhook-Token": TOKEN},
                                     query={"token": [TOKEN]}, peer_ip=None, body=BODY)


@pytest.mark.parametrize("header", ["X-Webhook-Token", "Authorization"])
def test_undecodable_header_bytes_are_a_401_not_an_error(header):
    # Sanic keeps bytes that are not UTF-8 as surrogates (surrogateescape)
    value = "Bearer tok\udcff" if header == "Authorization" else "tok\udcff\udcfe"
    refused = rejection(guard(webhook_token=TOKEN), headers={header: value})
    assert (refused.status, refused.reason) == (401, "webhook token wrong")


def test_undecodable_signature_bytes_are_a_401_not_an_error():
    refused = rejection(guard(app_secret=APP_SECRET),
                        headers={"X-Hub-Signature-256": "sha256=ab\udcff"})
    assert (refused.status, refused.reason) == (401, "X-Hub-Signature-256 does not match the body")


def test_no_token_configured_means_no_token_needed_when_open_on_purpose():
    guard(allow_unauthenticated=True).check(headers={}, query={}, peer_ip=None, body=BODY)


def test_a_webhook_without_authentication_does_not_start():
    with pytest.raises(ConfigError) as caught:
        WebhookGuard(ChattigoSettings())
    assert caught.value.key == "webhook_token"
    assert "allow_unauthenticated: true" in str(caught.value)


# --- signature -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature", [BODY_SIGNATURE, BODY_SIGNATURE.upper().replace("SHA256=", "sha256="),
                  f"  {BODY_SIGNATURE} "],
    ids=["exact", "upper-hex", "padded"],
)
def test_signature_over_raw_body_is_accepted(signature):
    headers = {"X-Hub-Signature-256": signature}
    guard(app_secret=APP_SECRET).check(headers=headers, query={}, peer_ip=None, body=BODY)


def reencoded_signature() -> str:
    import hashlib
    import hmac

    decoded = json.dumps(json.loads(BODY), separators=(",", ":"), ensure_ascii=False).encode()
    return "sha256=" + hmac.new(APP_SECRET.encode(), decoded, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "X-Hub-Signature-256 header missing"),
        ({"X-Hub-Signature": "sha1=" + "0" * 40}, "X-Hub-Signature-256 header missing"),
        ({"X-Hub-Signature-256": BODY_SIGNATURE[7:]},
         "X-Hub-Signature-256 header malformed, want sha256=<hex>"),
        ({"X-Hub-Signature-256": "sha1=" + BODY_SIGNATURE[7:]},
         "X-Hub-Signature-256 header malformed, want sha256=<hex>"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64},
         "X-Hub-Signature-256 does not match the body"),
        ({"X-Hub-Signature-256": "sha256=zz"}, "X-Hub-Signature-256 does not match the body"),
        ({"X-Hub-Signature-256": "sha256=ä"}, "X-Hub-Signature-256 does not match the body"),
        ({"X-Hub-Signature-256": reencoded_signature()},
         "X-Hub-Signature-256 does not match the body"),
    ],
    ids=["absent", "sha1-only", "no-prefix", "wrong-prefix", "wrong", "short", "non-ascii",
         "over-re-encoded-json"],
)
def test_signature_missing_malformed_or_wrong_is_refused_with_401(headers, reason):
    refused = rejection(guard(app_secret=APP_SECRET), headers=headers)
    assert (refused.status, refused.reason) == (401, reason)


def test_signature_of_another_body_is_refused():
    headers = {"X-Hub-Signature-256": BODY_SIGNATURE}
    refused = rejection(guard(app_secret=APP_SECRET), headers=headers, body=BODY + b" ")
    assert refused.status == 401


# --- client address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "peer"),
    [
        (["203.0.113.0/24"], "203.0.113.7"),
        (["203.0.113.7"], "203.0.113.7"),
        (["2001:db8::/32"], "2001:db8::1"),
        (["2001:db8::/32"], "[2001:db8::1]:443"),
        (["203.0.113.0/24"], "::ffff:203.0.113.7"),
        (["203.0.113.0/24"], "203.0.113.7:51000"),
        (["10.0.0.0/8", "2001:db8::/32"], "2001:db8:ffff::9"),
    ],
    ids=["v4-cidr", "v4-host", "v6-cidr", "v6-bracketed-port", "v4-mapped-v6", "v4-port", "mixed"],
)
def test_peer_inside_allowed_ips_is_accepted(allowed, peer):
    guard(allowed_ips=allowed).check(headers={}, query={}, peer_ip=peer, body=BODY)


@pytest.mark.parametrize(
    ("allowed", "peer"),
    [
        (["203.0.113.0/24"], "198.51.100.7"),
        (["2001:db8::/32"], "2001:db9::1"),
        (["203.0.113.0/24"], "2001:db8::1"),
        (["2001:db8::/32"], "203.0.113.7"),
        (["203.0.113.0/24"], "not-an-ip"),
        (["203.0.113.0/24"], ""),
        (["203.0.113.0/24"], None),
    ],
    ids=["v4-outside", "v6-outside", "v6-vs-v4-list", "v4-vs-v6-list", "garbage", "empty", "none"],
)
def test_peer_outside_allowed_ips_is_refused_with_403(allowed, peer):
    refused = rejection(guard(allowed_ips=allowed), peer_ip=peer)
    assert (refused.status, refused.reason) == (403, "client address not allowed")


def test_forwarded_for_from_untrusted_peer_is_ignored():
    g = guard(allowed_ips=["203.0.113.0/24"])
    refused = rejection(g, headers={"X-Forwarded-For": "203.0.113.7"}, peer_ip="198.51.100.9")
    assert refused.status == 403


def test_forwarded_for_from_trusted_proxy_names_the_client():
    g = guard(allowed_ips=["203.0.113.0/24"], trusted_proxies=["10.0.0.0/8"])
    g.check(headers={"X-Forwarded-For": "203.0.113.7"}, query={}, peer_ip="10.1.2.3", body=BODY)


def test_client_behind_trusted_proxy_cannot_spoof_by_prepending():
    g = guard(allowed_ips=["203.0.113.0/24"], trusted_proxies=["10.0.0.0/8"])
    headers = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}
    refused = rejection(g, headers=headers, peer_ip="10.1.2.3")
    assert refused.status == 403


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        (["198.51.100.9, 203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        (["198.51.100.9", "203.0.113.7, 10.0.0.2"], "203.0.113.7"),
        (["10.0.0.3, 10.0.0.2"], "10.0.0.3"),
        ([], "10.1.2.3"),
        (["2001:db8::5, fd00::1"], "2001:db8::5"),
        (["203.0.113.7, unknown"], None),
    ],
    ids=["chain", "two-header-lines", "all-proxies", "no-header", "ipv6", "garbage-hop"],
)
def test_client_ip_is_right_most_untrusted_hop(forwarded, client):
    g = guard(trusted_proxies=["10.0.0.0/8", "fd00::/8"])
    headers = CIMultiDict([("X-Forwarded-For", value) for value in forwarded])
    assert g.client_ip("10.1.2.3", headers) == client


def test_client_ip_of_untrusted_peer_is_the_peer():
    g = guard(trusted_proxies=["10.0.0.0/8"])
    assert g.client_ip("198.51.100.9", {"X-Forwarded-For": "10.0.0.1"}) == "198.51.100.9"


@pytest.mark.parametrize("key", ["allowed_ips", "trusted_proxies"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR network"),
        ("example.com", "'example.com' is not an IP address or CIDR network"),
        ("10.0.0.5/24", "'10.0.0.5/24' has host bits set; did you mean 10.0.0.0/24?"),
    ],
)
def test_bad_cidr_names_the_key(key, value, problem):
    with pytest.raises(ConfigError) as caught:
        guard(**{key: ["192.0.2.0/24", value]})
    assert (caught.value.key, caught.value.problem) == (key, problem)


# --- size and order --------------------------------------------------------------------------


def test_body_over_limit_is_refused_with_413():
    refused = rejection(guard(max_body_bytes=len(BODY) - 1))
    expected = f"body larger than max_body_bytes ({len(BODY) - 1})"
    assert (refused.status, refused.reason) == (413, expected)


def test_body_at_limit_is_accepted():
    guard(max_body_bytes=len(BODY)).check(headers={}, query={}, peer_ip=None, body=BODY)


@pytest.mark.parametrize(
    ("value", "status"), [("101", 413), (" 101 ", 413), ("-1", 400), ("ten", 400)]
)
def test_content_length_is_checked_before_reading(value, status):
    with pytest.raises(WebhookRejected) as caught:
        guard(max_body_bytes=100).check_content_length(value)
    assert caught.value.status == status


@pytest.mark.parametrize("value", [None, "100", "0"])
def test_content_length_within_limit_or_absent_passes(value):
    guard(max_body_bytes=100).check_content_length(value)


@pytest.mark.parametrize(
    ("settings", "peer", "status"),
    [
        ({"max_body_bytes": 10, "allowed_ips": ["192.0.2.0/24"], "webhook_token": TOKEN},
         "1.1.1.1", 413),
        ({"allowed_ips": ["192.0.2.0/24"], "webhook_token": TOKEN}, "1.1.1.1", 403),
    ],
    ids=["size-first", "address-before-token"],
)
def test_rules_run_in_order(settings, peer, status):
    assert rejection(guard(**settings), peer_ip=peer).status == status


def test_token_is_checked_before_signature():
    refused = rejection(guard(webhook_token=TOKEN, app_secret=APP_SECRET))
    assert refused.reason == "webhook token missing"


def test_all_rules_together_accept_a_good_request():
    g = guard(webhook_token=TOKEN, app_secret=APP_SECRET, allowed_ips=["2001:db8::/32"],
              max_body_bytes=len(BODY))
    headers = {"X-Hub-Signature-256": BODY_SIGNATURE}
    g.check(headers=headers, query={"token": [TOKEN]}, peer_ip="2001:db8::7", body=BODY)


# --- configuration hygiene -------------------------------------------------------------------


def test_repr_hides_secrets():
    text = repr(guard(webhook_token=TOKEN, app_secret=APP_SECRET))
    assert TOKEN not in text and APP_SECRET not in text


def test_open_webhook_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo.guard"):
        guard()
    assert "accepts any caller" in caplog.text


@pytest.mark.parametrize(("token", "warning"), [("Zq9xK2", "shorter than 16"),
                                                 ("with spaces and/slashes!!", "percent-encoded")])
def test_weak_token_warns_without_showing_it(caplog, token, warning):
    with caplog.at_level(logging.WARNING, logger="rasa_chattigo.guard"):
        guard(webhook_token=token)
    assert warning in caplog.text and token not in caplog.text


# --- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/webhooks/chattigo/webhook?token=abc", "/webhooks/chattigo/webhook?token=***"),
        ("https://bot.example.com/webhooks/chattigo/webhook?x=1&token=abc&y=2",
         "https://bot.example.com/webhooks/chattigo/webhook?x=1&token=***&y=2"),
        ("/w?token=a&token=b", "/w?token=***&token=***"),
        ("/w?Token=abc", "/w?Token=***"),
        ("/w?tok%65n=abc", "/w?tok%65n=***"),
        ("/w?token=abc#frag", "/w?token=***#frag"),
        ("/w?mytoken=abc&token_x=1", "/w?mytoken=abc&token_x=1"),
        ("/w?token", "/w?token"),
        ("/w", "/w"),
        ("POST http://h:5005/webhooks/chattigo/webhook?token=abc HTTP/1.1",
         "POST http://h:5005/webhooks/chattigo/webhook?token=*** HTTP/1.1"),
    ],
    ids=["path", "full-url", "repeated", "any-case", "encoded-name", "fragment", "similar-names",
         "no-value", "no-query", "log-line"],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_access_log_filter_redacts_the_request_field():
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", None, None)
    record.request = "POST http://127.0.0.1:5005/webhooks/chattigo/webhook?token=abc"
    assert RedactTokenFilter().filter(record) is True
    assert record.request == "POST http://127.0.0.1:5005/webhooks/chattigo/webhook?token=***"
