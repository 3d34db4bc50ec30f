"""parse_webhook on broken input: a 400 only for a body in no known shape; a message that cannot
be mapped reaches the bot as `unsupported`, naming the field; nothing else ever raises."""

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rasa_chattigo.errors import InvalidPayload
from rasa_chattigo.inbound._limits import (
    MAX_METADATA_BYTES,
    bounded_metadata,
    clean_json,
    needs_cleaning,
)
from rasa_chattigo.inbound._parse import parse_webhook
from rasa_chattigo.settings import parse_settings

from conftest import load_fixture, parsing_settings

FIXTURES = Path(__file__).parent / "fixtures" / "inbound"
SETTINGS = parsing_settings()
MESSAGE = "entry.0.changes.0.value.messages.0"


def load(name: str) -> Dict[str, Any]:
    return load_fixture("inbound", name)


def raised(body: Any) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as caught:
        parse_webhook(body, SETTINGS)
    return caught.value


def unsupported(body: Any) -> InvalidPayload:
    """The one problem of a body whose one message reaches the bot as `/whatsapp_unsupported`."""
    parsed = parse_webhook(body, SETTINGS)
    assert [m.text for m in parsed.messages] == ["/whatsapp_unsupported"]
    (problem,) = parsed.problems
    metadata = parsed.messages[0].metadata
    assert metadata["problem"] == {"field": problem.field, "reason": problem.reason}
    assert metadata["raw"] == body["entry"][0]["changes"][0]["value"]["messages"][0]
    return problem


def with_message(change: Dict[str, Any], name: str = "text") -> Dict[str, Any]:
    body = load(name)
    body["entry"][0]["changes"][0]["value"]["messages"][0].update(change)
    return body


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ([], "body", "must be a JSON object, got array"),
        ("hola", "body", "must be a JSON object, got string"),
        (None, "body", "must be a JSON object, got null"),
        (
            {"event": "message"},
            "object",
            "is missing: the body is neither a WhatsApp Cloud API webhook "
            "(object 'whatsapp_business_account') nor a legacy Chattigo message (msisdn, did)",
        ),
        (
            {"object": "page", "entry": []},
            "object",
            "must be 'whatsapp_business_account', got 'page'",
        ),
        ({"object": "whatsapp_business_account"}, "entry", "field required"),
    ],
)
def test_top_level_problems_name_the_field(body, field, reason):
    error = raised(body)
    assert (error.field, error.reason) == (field, reason)


def test_entry_that_is_not_a_list_is_refused():
    error = raised(load("broken_entry_not_list"))
    assert (error.field, error.reason) == ("entry", "value is not a valid list")


def test_unknown_format_fixture_is_refused():
    assert raised(load("broken_unknown_format")).field == "object"


def test_text_without_body_reaches_the_bot_as_unsupported_naming_the_body():
    error = unsupported(load("broken_text_without_body"))
    assert (error.field, error.reason) == (f"{MESSAGE}.text.body", "field required")


def test_message_without_any_sender_is_only_listed_naming_from():
    parsed = parse_webhook(load("broken_message_without_sender"), SETTINGS)
    assert parsed.messages == []
    assert [(p.field, p.reason) for p in parsed.problems] == [
        (f"{MESSAGE}.from", "is missing or empty, and so is from_user_id")]


def test_an_interactive_message_meta_could_not_describe_reaches_the_bot_with_its_errors():
    body = load("interactive_unsupported_with_value_error")
    parsed = parse_webhook(body, SETTINGS)
    (message,) = parsed.messages
    value = body["entry"][0]["changes"][0]["value"]
    assert (message.text, message.kind) == ("/whatsapp_unsupported", "interactive")
    assert message.metadata["errors"] == value["errors"]
    assert message.metadata["raw"] == value["messages"][0]
    assert [(p.field, p.reason) for p in parsed.problems] == [
        (f"{MESSAGE}.interactive", "is missing")]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"text": {"body": "   "}}, f"{MESSAGE}.text.body", "is empty"),
        ({"text": "hola"}, f"{MESSAGE}.text", "must be an object, got string"),
        ({"type": "image"}, f"{MESSAGE}.image", "is missing"),
        ({"id": None}, f"{MESSAGE}.id", "none is not an allowed value"),
        ({"timestamp": "ayer"}, f"{MESSAGE}.timestamp", "must be Unix time in seconds"),
        ({"context": []}, f"{MESSAGE}.context", "value is not a valid dict"),
        (
            {"type": "location", "location": {"latitude": 95, "longitude": 0}},
            f"{MESSAGE}.location.latitude",
            "must be between -90 and 90",
        ),
        (
            {"type": "location", "location": {"latitude": -34.6}},
            f"{MESSAGE}.location.longitude",
            "field required",
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": ""}},
            },
            f"{MESSAGE}.interactive.button_reply.id",
            "is empty and there is no title",
        ),
        (
            {"type": "button", "button": {"payload": "", "text": ""}},
            f"{MESSAGE}.button.payload",
            "is empty and so is button.text",
        ),
        (
            {"type": "contacts", "contacts": [1]},
            f"{MESSAGE}.contacts.0",
            "value is not a valid dict",
        ),
    ],
)
def test_a_broken_message_reaches_the_bot_as_unsupported_naming_the_dotted_field(
        change, field, reason):
    error = unsupported(with_message(change))
    assert (error.field, error.reason) == (field, reason)


def test_batch_with_one_broken_message_delivers_the_others_and_reports_it():
    parsed = parse_webhook(load("batch_one_broken_message"), SETTINGS)
    assert [m.text for m in parsed.messages] == ["Primero", "/whatsapp_unsupported", "Tercero"]
    assert [(p.field, p.reason) for p in parsed.problems] == [
        ("entry.0.changes.0.value.messages.1.text.body", "field required")
    ]


def test_broken_entry_does_not_stop_the_next_entry():
    body = load("text")
    body["entry"].insert(0, "not an entry")
    parsed = parse_webhook(body, SETTINGS)
    assert [m.text for m in parsed.messages] == ["Hola, quiero saber el estado de mi pedido"]
    assert [(p.field, p.reason) for p in parsed.problems] == [
        ("entry.0", "must be an object, got string")
    ]


def test_change_without_value_is_reported_and_the_next_change_delivered():
    body = load("text")
    body["entry"][0]["changes"].insert(0, {"field": "messages"})
    parsed = parse_webhook(body, SETTINGS)
    assert len(parsed.messages) == 1
    assert [(p.field, p.reason) for p in parsed.problems] == [
        ("entry.0.changes.0.value", "is missing")
    ]


def test_broken_contact_is_reported_and_its_message_still_delivered():
    body = load("text")
    body["entry"][0]["changes"][0]["value"]["contacts"].append({"wa_id": {"x": 1}})
    parsed = parse_webhook(body, SETTINGS)
    assert (len(parsed.messages), parsed.messages[0].metadata["name"]) == (1, "Lucía Gómez")
    assert [p.field for p in parsed.problems] == ["entry.0.changes.0.value.contacts.1.wa_id"]


def test_only_broken_items_and_a_status_do_not_raise():
    body = load("batch_messages_and_read")
    for message in body["entry"][0]["changes"][0]["value"]["messages"]:
        del message["text"]
    parsed = parse_webhook(body, SETTINGS)
    assert ([m.text for m in parsed.messages], len(parsed.statuses), len(parsed.problems)) == (
        ["/whatsapp_unsupported"] * 2, 1, 2)


def test_missing_business_number_without_configured_did_is_listed_naming_the_field():
    store_settings = parse_settings({"credentials_store": "sqlite:///x.db"})
    body = load("text")
    del body["entry"][0]["changes"][0]["value"]["metadata"]
    parsed = parse_webhook(body, store_settings)
    assert parsed.messages == []
    assert [p.field for p in parsed.problems] == [
        "entry.0.changes.0.value.metadata.display_phone_number"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
FIELD_NAMES = [
    "object",
    "entry",
    "changes",
    "value",
    "field",
    "messages",
    "statuses",
    "contacts",
    "from",
    "from_user_id",
    "id",
    "type",
    "text",
    "body",
    "timestamp",
    "metadata",
    "interactive",
    "location",
    "latitude",
    "msisdn",
    "did",
    "content",
    "chatType",
    "errors",
    "response_json",
]


def _all_dicts(value: Any) -> List[Dict[str, Any]]:
    found: List[Dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _parse_or_invalid(body: Any) -> None:
    try:
        parsed = parse_webhook(body, SETTINGS, received_at=0)
    except InvalidPayload:
        return
    for message in parsed.messages:
        assert isinstance(message.text, str) and message.text
        json.dumps(message.metadata)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_raises_nothing_but_invalid_payload(body):
    _parse_or_invalid(body)


ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_FIXTURES), st.data())
def test_mutated_fixtures_raise_nothing_but_invalid_payload(name, data):
    body = copy.deepcopy(load(name))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        target = data.draw(st.sampled_from(_all_dicts(body)))
        key = data.draw(st.sampled_from(sorted(target) + FIELD_NAMES))
        action = data.draw(st.sampled_from(["replace", "delete"]))
        if action == "delete":
            target.pop(key, None)
        else:
            target[key] = data.draw(json_values)
    _parse_or_invalid(body)


def test_a_broken_message_whose_errors_field_is_not_a_list_reaches_the_bot_as_unsupported():
    # found by the fuzz test above: `errors: true` on a message that fails validation
    body = copy.deepcopy(load("interactive_unsupported_with_value_error"))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["errors"] = True
    [parsed] = parse_webhook(body, SETTINGS, received_at=0).messages
    assert parsed.kind == "interactive" and parsed.metadata["problem"]["field"].endswith("errors")
    assert all(isinstance(error, dict) for error in parsed.metadata["errors"])


# --- the cleaning pass is skipped only where it would change nothing ---------------------------

_TEXTS = st.text(st.characters(blacklist_categories=()), max_size=12)  # lone surrogates too
_NESTED = st.recursive(st.none() | st.integers() | _TEXTS,
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(_TEXTS, inner, max_size=3), max_leaves=60)


def _as_json_text(value: Any, ascii_only: bool, encoding: str) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode(encoding, errors="surrogatepass")


@hypothesis_settings(max_examples=500, deadline=None)
@given(_NESTED, st.integers(0, 40), st.booleans(), st.booleans(),
       st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_json_text_said_to_need_no_cleaning_decodes_to_what_cleaning_leaves_alone(
        value, depth, in_lists, ascii_only, encoding):
    for _ in range(depth):  # nested up to 40 deep, around whatever was drawn
        value = [value] if in_lists else {"k": value}
    raw = _as_json_text(value, ascii_only, encoding)
    decoded = json.loads(raw)
    if not needs_cleaning(raw):
        assert clean_json(decoded) == decoded


@pytest.mark.parametrize(("raw", "needs"), [
    (b'{"text": "hola", "n": [1, 2]}', False),
    ('{"text": "¿qué tal? 👋"}'.encode(), False),
    (b'{"text": "\\u00bfqu\\u00e9 tal? \\ud83d\\udc4b"}', True),  # a pair: still looked at
    (b'{"text": "\\uD800"}', True),
    (b'{"text": "\xed\xa0\x80"}', True),  # a surrogate encoded in UTF-8
    ('{"text": "hola"}'.encode("utf-16"), True),
    (b"[" * 32 + b"]" * 32, True),
    (b"[" * 31 + b"]" * 31, False),
])
def test_needs_cleaning_says_when_the_walk_cannot_be_skipped(raw, needs):
    assert needs_cleaning(raw) is needs


def test_a_lone_surrogate_is_replaced_when_the_raw_text_is_given_too():
    body = copy.deepcopy(load("text"))
    body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "hola\ud800"
    raw = json.dumps(body).encode()
    [parsed] = parse_webhook(json.loads(raw), SETTINGS, received_at=0, raw=raw).messages
    assert parsed.text == "hola\ufffd"


def test_metadata_under_the_cap_is_kept_as_it_is_and_over_it_cut_largest_first():
    small = {"name": "Ana", "raw": {"a": "x" * 100}}
    assert bounded_metadata(small) == (small, False)
    big = {"name": "Ana", "raw": "x" * MAX_METADATA_BYTES}
    bounded, cut = bounded_metadata(big)
    assert cut and bounded["name"] == "Ana" and bounded["raw"]["truncated"] is True
