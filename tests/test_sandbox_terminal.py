"""The terminal chat's agent and clock commands (`:agente`, `:devolver`, `:reloj`)."""

import io

import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.devtools._chat import ChatSession, control_for_line

from conftest import DID, USER, channel_settings, serve_sanic


@pytest.mark.parametrize(("line", "control"), [
    (":agente Hola, soy Marta", ("agente", "Hola, soy Marta")),
    (":devolver", ("devolver", "")),
    (":reloj +25h", ("reloj", "+25h")),
    (":foto", None),
    ("hola", None),
])
def test_a_line_is_an_agent_or_clock_command(line, control):
    assert control_for_line(line) == control


@pytest.mark.parametrize("line", [":agente", ":reloj"])
def test_a_command_without_its_argument_says_how_to_use_it(line):
    with pytest.raises(ValueError, match="uso:"):
        control_for_line(line)


async def test_the_agent_takes_over_writes_and_hands_back_from_the_terminal(sandbox):
    channel = ChattigoInput.from_credentials(channel_settings(base_url=sandbox.url))

    async def bot(message):
        if "persona" in message.text:
            responses = [{"text": "Te paso con una persona"}, {"custom": {"type": "transfer"}}]
        else:
            responses = [{"text": f"eco: {message.text}"}]
        for response in responses:
            await message.output_channel.send_response(message.sender_id, response)

    app = Sanic(f"terminal_{id(channel)}", configure_logging=False)
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/chattigo")
    async with serve_sanic(app) as url:
        sandbox.state.webhooks[DID] = f"{url}/webhooks/chattigo/webhook"
        session = ChatSession(sandbox.url, did=DID, phone=USER, name="Ana", quiet_seconds=0.3)
        out = io.StringIO()
        lines = "quiero una persona\n:agente Hola, soy Marta\n:devolver\n:reloj +25h\n"
        code = await session.run(io.StringIO(lines), out)

    assert code == 0
    printed = out.getvalue().splitlines()
    assert printed[:4] == ["Tú: quiero una persona", "Aynux: Te paso con una persona",
                           "Aynux: [chat transferido a un agente]", "Agente: Hola, soy Marta"]
    assert printed[4] == "Sandbox: (el agente devolvió el chat al bot)"
    assert printed[5].startswith("Aynux: eco: /")  # the bot's answer to the hand-back
    assert printed[6:] == ["Sandbox: (reloj del sandbox +25 h)"]
