"""The terminal chat of `make run`: typed lines to WhatsApp messages, replies printed."""

import io

import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.devtools._chat import ChatSession, message_for_line

from conftest import DID, USER, channel_settings, serve_sanic


@pytest.mark.parametrize(("line", "body"), [
    ("hola\n", {"type": "text", "text": "hola"}),
    ("  \n", None),
    (":ayuda", None),
    (":ubicacion -34.6037 -58.3816 Obelisco Av. 9 de Julio", {
        "type": "location", "latitude": -34.6037, "longitude": -58.3816,
        "place_name": "Obelisco", "address": "Av. 9 de Julio"}),
    (":foto mirá esto", {"type": "image", "caption": "mirá esto"}),
    (":audio", {"type": "audio", "voice": True}),
    (":documento factura.pdf", {"type": "document", "filename": "factura.pdf"}),
    (':boton /afirmar "Sí, quiero"', {"type": "button_reply", "reply_id": "/afirmar",
                                       "title": "Sí, quiero"}),
])
def test_a_line_becomes_the_message_it_stands_for(line, body):
    assert message_for_line(line) == body


@pytest.mark.parametrize("line", [":ubicacion -34.6", ":boton", ":bailar"])
def test_a_wrong_command_says_how_to_use_it(line):
    with pytest.raises(ValueError, match=r"uso:|desconocido"):
        message_for_line(line)


async def test_a_chat_prints_each_reply_as_the_sandbox_received_it(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))

    async def echo_bot(message):
        reply = {"text": f"eco: {message.text}"}
        await message.output_channel.send_response(message.sender_id, reply)

    app = Sanic(f"chat_{id(channel)}", configure_logging=False)
    app.blueprint(channel.blueprint(echo_bot), url_prefix="/webhooks/chattigo")
    async with serve_sanic(app) as url:
        sandbox.state.webhooks[DID] = f"{url}/webhooks/chattigo/webhook"
        session = ChatSession(sandbox.url, did=DID, phone=USER, name="Ana", quiet_seconds=0.3)
        out = io.StringIO()
        code = await session.run(io.StringIO("hola\n:foto\n"), out)
    assert code == 0
    assert out.getvalue().splitlines() == [
        "Tú: hola", "Aynux: eco: hola", "Tú: :foto", "Aynux: eco: /whatsapp_image"]
