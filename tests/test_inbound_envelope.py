"""parse_webhook on whole envelopes: batches, contacts, statuses, errors and other fields."""

import logging
from typing import Any, Dict

from rasa_chattigo.inbound._parse import StatusUpdate, parse_webhook

from conftest import load_fixture, parsing_settings

OUTGOING = "wamid.HBgNNTQ5MTE1NTU1MTIzNBUCABEYEjQ1QjE3RkM1QUU2RTlFRDRBNwA="


def load(name: str) -> Dict[str, Any]:
    return load_fixture("inbound", name)


def value_of(body: Dict[str, Any]) -> Dict[str, Any]:
    return body["entry"][0]["changes"][0]["value"]


def test_mixed_batch_delivers_every_message_in_order():
    parsed = parse_webhook(load("batch_mixed"), parsing_settings())
    assert [(m.message_id, m.sender_id, m.text, m.business_number) for m in parsed.messages] == [
        ("wamid.MIXED01", "5491155551234", "Hola", "5491140001234"),
        ("wamid.MIXED02", "5215512345678", '/elegir_plan{"plan":"basico"}', "5491140001234"),
        (
            "wamid.MIXED04",
            "5215587654321",
            '/whatsapp_location{"latitude":19.4326,"longitude":-99.1332,"name":"Zócalo"}',
            "525540001234",
        ),
        ("wamid.MIXED05", "5215599990000", "Sin contacto", "525540001234"),
    ]


def test_mixed_batch_matches_each_message_to_its_own_contact():
    parsed = parse_webhook(load("batch_mixed"), parsing_settings())
    names = [m.metadata["name"] for m in parsed.messages]
    assert names == ["Lucía Gómez", "Sofía Torres", "Jorge Ruiz", None]


def test_mixed_batch_keeps_entry_and_phone_number_ids_per_message():
    parsed = parse_webhook(load("batch_mixed"), parsing_settings())
    ids = [(m.metadata["waba_id"], m.metadata["phone_number_id"]) for m in parsed.messages]
    assert ids == [
        ("104567890123456", "109876543210987"),
        ("104567890123456", "109876543210987"),
        ("204567890123456", "209876543210987"),
        ("204567890123456", "209876543210987"),
    ]


def test_mixed_batch_reports_statuses_ignored_and_no_problem():
    parsed = parse_webhook(load("batch_mixed"), parsing_settings())
    assert [(s.id, s.status) for s in parsed.statuses] == [
        ("wamid.OUT01", "delivered"),
        ("wamid.OUT02", "failed"),
    ]
    assert (parsed.ignored, parsed.problems) == (["wamid.MIXED03"], [])


def test_messages_and_read_status_in_one_post_are_both_handled():
    parsed = parse_webhook(load("batch_messages_and_read"), parsing_settings())
    assert [m.text for m in parsed.messages] == ["Hola", "¿Están abiertos?"]
    assert [(s.id, s.status) for s in parsed.statuses] == [(OUTGOING, "read")]


def test_a_lone_contact_for_another_number_is_not_used():
    body = load("text")
    value_of(body)["contacts"][0]["wa_id"] = "5491100000000"
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.sender_id, message.metadata["name"], message.metadata["wa_id"]) == (
        "5491155551234",
        None,
        "5491155551234",
    )
    assert "contact" not in message.metadata


def test_a_lone_contact_without_ids_is_used():
    body = load("text")
    del value_of(body)["contacts"][0]["wa_id"]
    assert parse_webhook(body, parsing_settings()).messages[0].metadata["name"] == "Lucía Gómez"


def test_missing_contacts_leave_the_name_empty():
    body = load("text")
    del value_of(body)["contacts"]
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.sender_id, message.metadata["name"]) == ("5491155551234", None)


def test_sender_with_plus_sign_still_matches_its_contact():
    body = load("text")
    value_of(body)["messages"][0]["from"] = "+5491155551234"
    message = parse_webhook(body, parsing_settings()).messages[0]
    assert (message.sender_id, message.metadata["name"]) == ("+5491155551234", "Lucía Gómez")


def test_status_sent_keeps_conversation_and_pricing():
    assert parse_webhook(load("status_sent"), parsing_settings()).statuses == [
        StatusUpdate(
            id=OUTGOING,
            status="sent",
            recipient_id="5491155551234",
            timestamp=1767225700,
            errors=[],
            conversation={
                "id": "8f842dbba350821654c9dfed31f5635c",
                "expiration_timestamp": "1767312120",
                "origin": {"type": "service"},
            },
            pricing={
                "billable": False,
                "pricing_model": "PMP",
                "type": "free_customer_service",
                "category": "service",
            },
            business_number="5491140001234",
            phone_number_id="109876543210987",
        )
    ]


def test_every_status_kind_becomes_a_status_update_and_never_a_message():
    for name, status in [
        ("status_sent", "sent"),
        ("status_delivered", "delivered"),
        ("status_read", "read"),
        ("status_failed", "failed"),
        ("status_played", "played"),
    ]:
        parsed = parse_webhook(load(name), parsing_settings())
        assert (parsed.messages, [s.status for s in parsed.statuses]) == ([], [status]), name


def test_failed_status_keeps_errors_and_logs_code_and_title(caplog):
    caplog.set_level(logging.WARNING, logger="rasa_chattigo")
    status = parse_webhook(load("status_failed"), parsing_settings()).statuses[0]
    assert status.errors == value_of(load("status_failed"))["statuses"][0]["errors"]
    assert [r.getMessage() for r in caplog.records] == [
        f"WhatsApp could not deliver message {OUTGOING} to 5491155551234: "
        "error 131047 (Re-engagement message)"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_delivered_status_logs_nothing_at_warning(caplog):
    caplog.set_level(logging.WARNING, logger="rasa_chattigo")
    parse_webhook(load("status_delivered"), parsing_settings())
    assert caplog.records == []


def test_status_keeps_callback_data_and_business_scoped_recipient():
    opaque = parse_webhook(load("status_biz_opaque"), parsing_settings()).statuses[0]
    bsuid = parse_webhook(load("status_bsuid"), parsing_settings()).statuses[0]
    assert opaque.biz_opaque_callback_data == "rasa-conv-42:msg-7"
    assert (bsuid.recipient_id, bsuid.recipient_user_id) == (
        "",
        "user.9373795779eb6441c8adb2eaee5b848e7dd174ddd302d7db62142f4722d574b6",
    )


def test_status_without_metadata_from_the_integration_guide_gets_the_configured_did():
    assert parse_webhook(load("guide_status_minimal"), parsing_settings()).statuses == [
        StatusUpdate(
            id="wamid...",
            status="delivered",
            recipient_id=None,
            timestamp=1767030600,
            errors=[],
            business_number="5492644710400",
        )
    ]


def test_integration_guide_text_example_is_delivered():
    message = parse_webhook(load("guide_text"), parsing_settings()).messages[0]
    assert (message.sender_id, message.text, message.business_number) == (
        "5492644472542",
        "Hola",
        "5492644710400",
    )


def test_value_level_errors_are_logged_and_reported(caplog):
    caplog.set_level(logging.WARNING, logger="rasa_chattigo")
    parsed = parse_webhook(load("value_errors"), parsing_settings())
    assert (parsed.messages, parsed.statuses, parsed.problems) == ([], [], [])
    assert [e["code"] for e in parsed.errors] == [130429]
    assert [r.getMessage() for r in caplog.records] == [
        "WhatsApp reported error 130429 (Rate limit hit) for business number 5491140001234"
    ]


def test_other_fields_are_acknowledged_and_ignored(caplog):
    caplog.set_level(logging.DEBUG, logger="rasa_chattigo")
    parsed = parse_webhook(load("field_account_update"), parsing_settings())
    assert (parsed.messages, parsed.statuses, parsed.ignored, parsed.problems) == ([], [], [], [])
    assert [r.getMessage() for r in caplog.records] == [
        "Ignoring entry.0.changes.0: field 'account_update' is not 'messages'"
    ]


def test_empty_entry_list_is_an_empty_result():
    body = {"object": "whatsapp_business_account", "entry": []}
    parsed = parse_webhook(body, parsing_settings())
    assert (parsed.messages, parsed.statuses, parsed.ignored, parsed.problems) == ([], [], [], [])


def test_missing_business_metadata_falls_back_to_the_configured_did():
    body = load("text")
    del value_of(body)["metadata"]
    assert parse_webhook(body, parsing_settings()).messages[0].business_number == "5492644710400"
