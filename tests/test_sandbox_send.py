"""Sandbox sends: proprietary format and Cloud API validation, recording and duplicate ids."""

import copy
from typing import Any, Dict

import httpx
import pytest

from rasa_chattigo.sandbox import Sandbox

from conftest import DID, OTHER_DID, USER, USERNAME, load_fixture, logged_in, one_user_sandbox


def fixture(name: str) -> Dict[str, Any]:
    return load_fixture("sandbox", name)


def changed(name: str, path: str, value: Any) -> Dict[str, Any]:
    """The fixture with the dotted `path` set to `value` (or removed when value is DELETE)."""
    body = copy.deepcopy(fixture(name))
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


DELETE = object()


@pytest.mark.parametrize("name", ["send_text", "send_media"])
async def test_valid_send_is_answered_200_with_an_empty_body(
    client: httpx.AsyncClient, name: str
) -> None:
    answer = await client.post("/webhooks/inbound", json=fixture(name))

    assert (answer.status_code, answer.content) == (200, b"")


async def test_accepted_text_is_recorded_with_its_payload(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/webhooks/inbound", json=fixture("send_text"))

    [message] = sandbox.state.messages
    assert (message.direction, message.did, message.msisdn, message.kind) == (
        "out",
        DID,
        USER,
        "text",
    )
    assert (message.text, message.message_id) == (
        "¡Hola! Soy el bot de Aynux",
        "1767225600123-0001",
    )
    assert message.payload == fixture("send_text")


async def test_accepted_media_is_rendered_with_caption_and_link(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/webhooks/inbound", json=fixture("send_media"))

    [message] = sandbox.state.messages
    assert message.kind == "document"
    assert message.text == (
        "Aquí tienes el documento\n[documento documento.pdf: https://example.com/document.pdf]"
    )


async def test_image_media_is_rendered_as_imagen(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    body = changed(
        "send_media",
        "attachment",
        {"mediaUrl": "https://x.example/a.jpg", "mimeType": "image/jpeg"},
    )

    await client.post("/webhooks/inbound", json=body)

    assert (sandbox.state.messages[0].kind, sandbox.state.messages[0].text) == (
        "image",
        "Aquí tienes el documento\n[imagen: https://x.example/a.jpg]",
    )


async def test_hsm_is_recorded_once_per_destination(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    answer = await client.post("/webhooks/inbound", json=fixture("send_hsm"))

    assert answer.status_code == 200
    assert [(m.msisdn, m.kind, m.text) for m in sandbox.state.messages] == [
        (USER, "template", "[plantilla: recordatorio_turno]"),
        ("5215512345678", "template", "[plantilla: recordatorio_turno]"),
    ]
    assert sandbox.state.stats.accepted == 1


async def test_resend_with_the_same_id_is_200_but_recorded_once(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    first = await client.post("/webhooks/inbound", json=fixture("send_text"))
    again = await client.post("/webhooks/inbound", json=fixture("send_text"))

    assert (first.status_code, again.status_code, again.content) == (200, 200, b"")
    assert len(sandbox.state.messages) == 1
    stats = (await client.get("/sandbox/stats")).json()
    assert (stats["accepted"], stats["duplicate_ids"]) == (1, 1)


async def test_same_id_from_another_number_counts_as_new(client: httpx.AsyncClient) -> None:
    async with one_user_sandbox(dids={USERNAME: [DID, OTHER_DID]}) as two:
        async with logged_in(two) as http:
            await http.post("/webhooks/inbound", json=fixture("send_text"))
            await http.post("/webhooks/inbound", json=changed("send_text", "did", OTHER_DID))

        assert (two.state.stats.accepted, two.state.stats.duplicate_ids) == (2, 0)


TEXT_RULES = [
    ("id", DELETE, "id: is required"),
    ("id", "", "id: must not be empty"),
    ("id", 17, "id: must be a string"),
    ("did", DELETE, "did: is required"),
    ("did", "+5492644710400", "did: must contain digits only (no '+', spaces or dashes)"),
    ("did", 5492644710400, "did: must be a string"),
    ("msisdn", DELETE, "msisdn: is required"),
    ("msisdn", "549 264 447-2542", "msisdn: must contain digits only (no '+', spaces or dashes)"),
    ("type", DELETE, "type: is required"),
    ("type", "image", "type: must be one of text, media, HSM, transfer, group, close, timeout"),
    ("channel", DELETE, "channel: is required"),
    ("channel", "whatsapp", "channel: must be one of WHATSAPP, FACEBOOK, WEBCHAT, MESSENGER"),
    ("channel", "TELEGRAM", "channel: must be one of WHATSAPP, FACEBOOK, WEBCHAT, MESSENGER"),
    ("content", DELETE, "content: is required"),
    ("content", "", "content: must not be empty"),
    ("content", "   ", "content: must not be empty"),
    ("content", 42, "content: must be a string"),
    ("content", "x" * 4097, "content: must be at most 4096 characters (got 4097)"),
    ("name", DELETE, "name: is required"),
    ("name", None, "name: is required"),
    ("name", ["Aynux"], "name: must be a string"),
    ("isAttachment", DELETE, "isAttachment: is required"),
    ("isAttachment", "false", "isAttachment: must be a boolean"),
    ("isAttachment", True, "isAttachment: must be false when type is text"),
    (
        "attachment",
        {"mediaUrl": "https://x.example/a.jpg", "mimeType": "image/jpeg"},
        "attachment: is only allowed when type is media",
    ),
]


MEDIA_RULES = [
    ("isAttachment", False, "isAttachment: must be true when type is media"),
    ("attachment", DELETE, "attachment: is required"),
    ("attachment", "https://example.com/document.pdf", "attachment: must be a JSON object"),
    ("attachment.mediaUrl", DELETE, "attachment.mediaUrl: is required"),
    (
        "attachment.mediaUrl",
        "file:///etc/passwd",
        "attachment.mediaUrl: must be an http or https URL",
    ),
    ("attachment.mediaUrl", "https://", "attachment.mediaUrl: must be an http or https URL"),
    ("attachment.mimeType", DELETE, "attachment.mimeType: is required"),
    ("attachment.mimeType", "pdf", "attachment.mimeType: must look like type/subtype"),
    ("attachment.fileName", 3, "attachment.fileName: must be a string"),
    ("attachment.fileName", "", "attachment.fileName: must not be empty"),
    ("content", "x" * 1025, "content: must be at most 1024 characters (got 1025)"),
    ("content", DELETE, "content: is required"),
]


async def test_media_without_caption_or_file_name_is_accepted(client: httpx.AsyncClient) -> None:
    body = changed("send_media", "content", "")
    del body["attachment"]["fileName"]

    assert (await client.post("/webhooks/inbound", json=body)).status_code == 200


HSM_RULES = [
    ("hsm", DELETE, "hsm: is required"),
    ("hsm.template", DELETE, "hsm.template: is required"),
    ("hsm.languageCode", DELETE, "hsm.languageCode: is required"),
    ("hsm.parameters", ["Juan", 3], "hsm.parameters.1: must be a string"),
    ("hsm.destinations", [], "hsm.destinations: must hold at least 1 item(s)"),
    (
        "hsm.destinations",
        [{"destination": "1"}] * 1001,
        "hsm.destinations: must hold at most 1000 items (got 1001)",
    ),
    ("hsm.destinations.1", "5215512345678", "hsm.destinations.1: must be a JSON object"),
    (
        "hsm.destinations.0.destination",
        "+549",
        "hsm.destinations.0.destination: must contain digits only (no '+', spaces or dashes)",
    ),
    (
        "hsm.destinations.0.parameters",
        ["Juan", 3],
        "hsm.destinations.0.parameters.1: must be a string",
    ),
    ("isAttachment", True, "isAttachment: must be false when type is HSM"),
]


SEND_RULES = (
    [("send_text", *rule) for rule in TEXT_RULES]
    + [("send_media", *rule) for rule in MEDIA_RULES]
    + [("send_hsm", *rule) for rule in HSM_RULES]
)


@pytest.mark.parametrize(("name", "field", "value", "reason"), SEND_RULES)
async def test_send_breaking_a_rule_is_400_naming_the_field(
    client: httpx.AsyncClient, sandbox: Sandbox, name: str, field: str, value: Any, reason: str
) -> None:
    answer = await client.post("/webhooks/inbound", json=changed(name, field, value))

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_payload",
        "reason": reason,
        "field": reason.split(":")[0],
    }
    assert sandbox.state.messages == []


async def test_hsm_with_1000_destinations_is_accepted(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    many = [{"destination": str(5491100000000 + n)} for n in range(1000)]

    answer = await client.post(
        "/webhooks/inbound", json=changed("send_hsm", "hsm.destinations", many)
    )

    assert answer.status_code == 200
    assert len(sandbox.state.messages) == 1000


async def test_send_from_a_number_of_another_user_is_403(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    answer = await client.post(
        "/webhooks/inbound", json=changed("send_text", "did", OTHER_DID)
    )

    assert answer.status_code == 403
    assert answer.json() == {
        "error": "forbidden",
        "reason": f"did: business number {OTHER_DID} is not enabled for this user",
        "field": "did",
    }
    assert sandbox.state.stats.rejected == 1


async def test_rejections_are_counted_and_not_recorded(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post("/webhooks/inbound", json=changed("send_text", "content", ""))
    await client.post(
        "/webhooks/inbound", content=b"{", headers={"Content-Type": "application/json"}
    )

    stats = (await client.get("/sandbox/stats")).json()
    assert (stats["rejected"], stats["accepted"], sandbox.state.messages) == (2, 0, [])


async def test_cloud_send_answers_like_the_cloud_api(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    answer = await client.post(f"/v15.0/{DID}/messages", json=fixture("cloud_buttons"))

    assert answer.status_code == 200
    body = answer.json()
    wamid = body["messages"][0]["id"]
    assert body == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": USER, "wa_id": USER}],
        "messages": [{"id": wamid}],
    }
    assert wamid.startswith("wamid.")
    assert sandbox.state.messages[0].message_id == wamid


async def test_cloud_buttons_are_rendered_as_numbered_lines(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post(f"/v15.0/{DID}/messages", json=fixture("cloud_buttons"))

    assert (
        sandbox.state.messages[0].text
        == "Turnos\n¿Confirmás el turno del lunes?\n1. Sí\n2. No\nAynux"
    )


async def test_cloud_list_is_rendered_with_every_row(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    await client.post(f"/v15.0/{DID}/messages", json=fixture("cloud_list"))

    assert sandbox.state.messages[0].text == (
        "¿Cómo querés recibir tu pedido?\n1. Envío express — Llega en 24 a 48 h\n"
        "2. Envío normal\n3. Retiro en sucursal"
    )


def _reply(n: int, title: str = "") -> Dict[str, Any]:
    return {"type": "reply", "reply": {"id": f"b{n}", "title": title or f"Opción {n}"}}


def _rows(count: int) -> Any:
    return [
        {"title": "Todo", "rows": [{"id": f"r{n}", "title": f"Fila {n}"} for n in range(count)]}
    ]


CLOUD_RULES = [
    (
        "cloud_buttons",
        "messaging_product",
        "sms",
        "messaging_product: must be one of whatsapp",
    ),
    ("cloud_buttons", "to", DELETE, "to: is required"),
    ("cloud_buttons", "to", "juan", "to: must be a phone number (digits, '+')"),
    (
        "cloud_buttons",
        "type",
        "carousel",
        "type: must be one of text, image, video, audio, document, sticker, location, reaction, "
        "template, contacts, interactive",
    ),
    (
        "cloud_buttons",
        "interactive.type",
        "poll",
        "interactive.type: must be one of button, list, cta_url, location_request_message",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons",
        [],
        "interactive.action.buttons: must hold at least 1 item(s)",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons",
        [_reply(n) for n in range(4)],
        "interactive.action.buttons: must hold at most 3 items (got 4)",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons.1",
        _reply(1, "x" * 21),
        "interactive.action.buttons.1.reply.title: must be at most 20 characters (got 21)",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons.1",
        _reply(1, "Sí"),
        "interactive.action.buttons.1.reply.title: duplicate title 'Sí'",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons.1.reply.id",
        "/affirm",
        "interactive.action.buttons.1.reply.id: duplicate id '/affirm'",
    ),
    (
        "cloud_buttons",
        "interactive.action.buttons.1.reply.id",
        "i" * 257,
        "interactive.action.buttons.1.reply.id: must be at most 256 characters (got 257)",
    ),
    (
        "cloud_buttons",
        "interactive.body.text",
        "b" * 1025,
        "interactive.body.text: must be at most 1024 characters (got 1025)",
    ),
    ("cloud_buttons", "interactive.body", DELETE, "interactive.body: is required"),
    (
        "cloud_buttons",
        "interactive.footer.text",
        "f" * 61,
        "interactive.footer.text: must be at most 60 characters (got 61)",
    ),
    (
        "cloud_list",
        "interactive.action.sections",
        _rows(11),
        "interactive.action.sections: must hold at most 10 rows in all (got 11)",
    ),
    (
        "cloud_list",
        "interactive.action.sections.0.rows.0.title",
        "t" * 25,
        "interactive.action.sections.0.rows.0.title: must be at most 24 characters (got 25)",
    ),
    (
        "cloud_list",
        "interactive.action.button",
        "b" * 21,
        "interactive.action.button: must be at most 20 characters (got 21)",
    ),
    (
        "cloud_list",
        "interactive.action.sections.1.title",
        DELETE,
        "interactive.action.sections.1.title: is required",
    ),
    (
        "cloud_list",
        "interactive.action.sections.0.rows.0.description",
        "d" * 73,
        "interactive.action.sections.0.rows.0.description: must be at most 72 characters (got 73)",
    ),
    (
        "cloud_list",
        "interactive.header",
        {"type": "image", "image": {"link": "https://x.example/a.jpg"}},
        "interactive.header.type: must be one of text",
    ),
]


@pytest.mark.parametrize(("name", "field", "value", "reason"), CLOUD_RULES)
async def test_cloud_send_breaking_a_rule_is_400_naming_the_field(
    client: httpx.AsyncClient, name: str, field: str, value: Any, reason: str
) -> None:
    answer = await client.post(f"/v15.0/{DID}/messages", json=changed(name, field, value))

    assert answer.status_code == 400
    body = answer.json()
    assert (body["reason"], body["field"], body["error"]["code"]) == (
        reason,
        reason.split(":")[0],
        100,
    )


async def test_cloud_list_with_exactly_ten_rows_is_accepted(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        f"/v15.0/{DID}/messages",
        json=changed("cloud_list", "interactive.action.sections", _rows(10)),
    )

    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"type": "text", "text": {"body": "Hola"}}, "Hola"),
        (
            {"type": "image", "image": {"link": "https://x.example/a.jpg", "caption": "Foto"}},
            "Foto\n[imagen: https://x.example/a.jpg]",
        ),
        (
            {
                "type": "location",
                "location": {"latitude": -34.6, "longitude": -58.4, "name": "Sucursal"},
            },
            "[ubicación: -34.6, -58.4 — Sucursal]",
        ),
        (
            {"type": "template", "template": {"name": "bienvenida", "language": {"code": "es_AR"}}},
            "[plantilla: bienvenida]",
        ),
    ],
)
async def test_cloud_send_of_other_types_is_recorded_and_rendered(
    client: httpx.AsyncClient, sandbox: Sandbox, body: Dict[str, Any], text: str
) -> None:
    answer = await client.post(
        f"/v15.0/{DID}/messages", json={"messaging_product": "whatsapp", "to": USER, **body}
    )

    assert answer.status_code == 200
    assert (sandbox.state.messages[0].kind, sandbox.state.messages[0].text) == (body["type"], text)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"type": "image", "image": {"caption": "Foto"}},
            "image: must have exactly one of 'id' or 'link'",
        ),
        (
            {"type": "sticker", "sticker": {"id": "1", "caption": "x"}},
            "sticker.caption: is not allowed for sticker",
        ),
        (
            {"type": "location", "location": {"latitude": 91, "longitude": 0}},
            "location.latitude: must be between -90 and 90",
        ),
        ({"type": "text", "text": {"body": ""}}, "text.body: must not be empty"),
        ({"type": "contacts", "contacts": []}, "contacts: must hold at least 1 item(s)"),
    ],
)
async def test_cloud_send_of_other_types_is_validated(
    client: httpx.AsyncClient, body: Dict[str, Any], reason: str
) -> None:
    answer = await client.post(
        f"/v15.0/{DID}/messages", json={"messaging_product": "whatsapp", "to": USER, **body}
    )

    assert (answer.status_code, answer.json()["reason"]) == (400, reason)


async def test_cloud_send_from_a_number_of_another_user_is_403(client: httpx.AsyncClient) -> None:
    answer = await client.post(f"/v15.0/{OTHER_DID}/messages", json=fixture("cloud_buttons"))

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == 10


async def test_cloud_send_without_token_is_401_in_graph_style(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        answer = await http.post(f"/v15.0/{DID}/messages", json=fixture("cloud_buttons"))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == 190
