"""Hand-off sends and templates as bot responses: exact bodies, refusals naming the field."""

import pytest

from rasa_chattigo.errors import InvalidResponse
from rasa_chattigo.outbound import (
    CHATTIGO_SEND_PATH,
    MAX_DESTINATIONS,
    SendContext,
    build_requests,
    campaign_batches,
)
from rasa_chattigo.outbound._templates import as_parameter, fill_template

from conftest import DID, USER, parsing_settings

CTX = SendContext(did=DID, msisdn=USER, bot_name="Aynux")
SETTINGS = parsing_settings()
ADDRESS = {"did": DID, "msisdn": USER, "channel": "WHATSAPP", "name": "Aynux"}
HSM = {"namespace": "aynux", "template": "aviso_pendiente", "languageCode": "es_AR",
       "parameters": ["Ana"]}


def without_id(body):
    return {k: v for k, v in body.items() if k != "id"}


@pytest.mark.parametrize("kind", ["transfer", "close", "timeout"])
def test_a_handoff_send_is_chattigos_own_body_addressed(kind):
    [request] = build_requests({"custom": {"type": kind}}, CTX, SETTINGS)
    assert (request.path, request.kind) == (CHATTIGO_SEND_PATH, kind)
    assert without_id(request.json) == {**ADDRESS, "type": kind, "content": "",
                                        "isAttachment": False}


def test_a_transfer_keeps_its_campaign():
    [request] = build_requests({"custom": {"type": "transfer", "idCampaign": "12"}}, CTX,
                               SETTINGS)
    assert request.json["idCampaign"] == "12"


def test_a_group_send_carries_campaign_and_group_code():
    custom = {"type": "group", "idCampaign": "12", "content": "ventas"}
    [request] = build_requests({"custom": custom}, CTX, SETTINGS)
    assert without_id(request.json) == {**ADDRESS, **custom, "isAttachment": False}


def test_the_text_of_the_response_goes_before_the_transfer():
    requests = build_requests({"text": "Te paso con una persona", "custom": {"type": "transfer"}},
                              CTX, SETTINGS)
    assert [(r.kind, r.json["type"]) for r in requests] == [("message", "text"),
                                                           ("transfer", "transfer")]


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"type": "group", "idCampaign": "12"}, "custom.content"),
        ({"type": "group", "content": "ventas"}, "custom.idCampaign"),
        ({"type": "group", "idCampaign": "12", "content": "  "}, "custom.content"),
        ({"type": "transfer", "idCampaign": 12}, "custom.idCampaign"),
        ({"type": "close", "attachment": {"mediaUrl": "https://x/y.png"}}, "custom.attachment"),
    ],
)
def test_a_malformed_handoff_is_refused_naming_the_field(custom, field):
    with pytest.raises(InvalidResponse) as caught:
        build_requests({"text": "hola", "custom": custom}, CTX, SETTINGS)
    assert caught.value.field == field


def test_a_template_is_chattigos_hsm_send_with_the_destination_filled_in():
    [request] = build_requests({"custom": {"type": "HSM", "hsm": HSM}}, CTX, SETTINGS)
    assert request.kind == "template"
    assert without_id(request.json) == {
        **ADDRESS, "type": "HSM", "hsm": {**HSM, "destinations": [{"destination": USER}]}}


def test_with_native_buttons_a_template_is_meta_template_json():
    settings = parsing_settings(buttons="native")
    [request] = build_requests({"custom": {"type": "HSM", "hsm": HSM}}, CTX, settings)
    assert request.path == f"/v15.0/{DID}/messages"
    assert request.json == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": USER,
        "type": "template",
        "template": {"name": "aviso_pendiente", "language": {"code": "es_AR"},
                     "components": [{"type": "body",
                                     "parameters": [{"type": "text", "text": "Ana"}]}]}}


def test_cloud_api_template_json_written_by_the_bot_counts_as_a_template():
    custom = {"messaging_product": "whatsapp", "type": "template",
              "template": {"name": "x", "language": {"code": "es"}}}
    [request] = build_requests({"custom": custom}, CTX, SETTINGS)
    assert (request.kind, request.json["to"]) == ("template", USER)


@pytest.mark.parametrize(
    ("hsm", "field"),
    [
        ({"languageCode": "es_AR"}, "custom.hsm.template"),
        ({"template": "aviso"}, "custom.hsm.languageCode"),
        ({"template": "aviso", "languageCode": "es", "parameters": ["Ana", ""]},
         "custom.hsm.parameters.1"),
        ({"template": "aviso", "languageCode": "es", "parameters": [None]},
         "custom.hsm.parameters.0"),
        ({"template": "aviso", "languageCode": "es",
          "destinations": [{"destination": USER, "parameters": ["None"]}]},
         "custom.hsm.destinations.0.parameters.0"),
        ("aviso", "custom.hsm"),
    ],
)
def test_a_template_missing_a_part_is_refused_naming_it(hsm, field):
    with pytest.raises(InvalidResponse) as caught:
        build_requests({"text": "hola", "custom": {"type": "HSM", "hsm": hsm}}, CTX, SETTINGS)
    assert caught.value.field == field


def test_the_window_template_takes_the_reply_as_one_line_parameter():
    template = {**HSM, "parameters": ["{text}", "fijo"]}
    filled = fill_template(template, "Tu factura\n\nvence   mañana.\t¡Gracias!")
    assert filled["parameters"] == ["Tu factura vence mañana. ¡Gracias!", "fijo"]
    assert template["parameters"] == ["{text}", "fijo"]


def test_a_long_reply_is_cut_to_a_template_parameter():
    assert len(as_parameter("a" * 5000)) == 1024


def test_a_campaign_is_split_into_requests_of_at_most_1000_destinations():
    destinations = [{"destination": f"54926400{n:05d}", "parameters": [f"n{n}"]}
                    for n in range(2500)]
    batches = list(campaign_batches(HSM, destinations))
    assert [len(b["destinations"]) for b in batches] == [MAX_DESTINATIONS, MAX_DESTINATIONS, 500]
    assert batches[2]["destinations"][-1] == destinations[-1]
    assert {b["template"] for b in batches} == {"aviso_pendiente"}


def test_a_campaign_destination_that_is_not_a_number_is_refused_before_any_batch():
    destinations = [{"destination": "5492644000001"}, {"destination": "+54 9 264"}]
    with pytest.raises(InvalidResponse) as caught:
        list(campaign_batches(HSM, destinations))
    assert caught.value.field == "destinations.1.destination"
