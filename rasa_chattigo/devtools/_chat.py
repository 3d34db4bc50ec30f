"""A terminal chat as a WhatsApp user, through the sandbox: type a line, see the bot's replies."""

import asyncio
import logging
import shlex
import threading
from typing import Any, Dict, List, Optional, TextIO, Tuple

import httpx

logger = logging.getLogger(__name__)

HELP = """Escribí como un usuario de WhatsApp. Comandos para otros tipos de mensaje:
  :ubicacion LAT LNG [NOMBRE [DIRECCION]]   comparte una ubicación
  :foto [LEYENDA]                           envía una foto
  :audio                                    envía una nota de voz
  :documento [NOMBRE_ARCHIVO]               envía un documento
  :boton ID [TITULO]                        toca un botón de respuesta (interactive)
Como el agente humano de Chattigo y con el reloj del sandbox:
  :agente TEXTO                             el agente toma el chat y le escribe al usuario
  :devolver                                 el agente devuelve el chat al bot
  :reloj +25h                               adelanta el reloj (ventana de 24 h de WhatsApp)
  :ayuda                                    muestra esta ayuda"""
CONTROLS = ("agente", "devolver", "reloj")


def message_for_line(line: str) -> Optional[Dict[str, Any]]:
    """The sandbox `send` body a typed line stands for (None for `:ayuda` and blank lines).

    Raises:
        ValueError: a command with wrong arguments, with a message saying how to use it.
    """
    line = line.strip()
    if not line:
        return None
    if not line.startswith(":"):
        return {"type": "text", "text": line}
    words = shlex.split(line[1:])
    command, rest = (words[0].lower(), words[1:]) if words else ("", [])
    if command in ("ayuda", "help", ""):
        return None
    if command == "ubicacion":
        if len(rest) < 2:
            raise ValueError("uso: :ubicacion LAT LNG [NOMBRE [DIRECCION]]")
        body: Dict[str, Any] = {"type": "location", "latitude": float(rest[0]),
                                "longitude": float(rest[1])}
        if len(rest) > 2:
            body["place_name"] = rest[2]
        if len(rest) > 3:
            body["address"] = " ".join(rest[3:])
        return body
    if command == "foto":
        return {"type": "image", **({"caption": " ".join(rest)} if rest else {})}
    if command == "audio":
        return {"type": "audio", "voice": True}
    if command == "documento":
        return {"type": "document", "filename": rest[0] if rest else "factura.pdf"}
    if command == "boton":
        if not rest:
            raise ValueError("uso: :boton ID [TITULO]")
        return {"type": "button_reply", "reply_id": rest[0],
                "title": " ".join(rest[1:]) or rest[0]}
    raise ValueError(f"comando desconocido :{command} (escribí :ayuda)")


def control_for_line(line: str) -> Optional[Tuple[str, str]]:
    """`(command, argument)` for the agent and clock commands; None for anything else.

    Raises:
        ValueError: a command with wrong arguments, with a message saying how to use it.
    """
    line = line.strip()
    if not line.startswith(":"):
        return None
    command, _, rest = line[1:].partition(" ")
    command, rest = command.lower(), rest.strip()
    if command not in CONTROLS:
        return None
    if command == "agente" and not rest:
        raise ValueError("uso: :agente TEXTO")
    if command == "reloj" and not rest:
        raise ValueError("uso: :reloj +25h (también 90m, 1d o segundos)")
    return command, rest


class ChatSession:
    """One WhatsApp user talking to one business number through the sandbox.

    Args:
        sandbox_url: the sandbox's base URL.
        did: the business number the user writes to.
        phone: the user's number.
        name: the user's WhatsApp profile name.
        reply_timeout: seconds to wait for the first reply to each message.
        quiet_seconds: a reply burst is over after this long without a new message.
    """

    def __init__(self, sandbox_url: str, *, did: str, phone: str, name: str,
                 reply_timeout: float = 60.0, quiet_seconds: float = 1.5) -> None:
        self._url = sandbox_url.rstrip("/")
        self._did = did
        self._phone = phone
        self._name = name
        self._reply_timeout = reply_timeout
        self._quiet = quiet_seconds
        self._seq = 0

    async def run(self, stdin: TextIO, stdout: TextIO) -> int:
        """Chats until end of input; returns 0, or 1 if a message got no reply."""
        interactive = stdin.isatty()
        failures = 0
        lines = _line_reader(stdin)
        async with httpx.AsyncClient(timeout=httpx.Timeout(40.0)) as http:
            self._seq = await self._latest_seq(http)
            if interactive:
                print(HELP, file=stdout)
            while True:
                if interactive:
                    print("Tú: ", end="", file=stdout, flush=True)
                line = await lines.get()
                if not line:
                    return 1 if failures else 0
                try:
                    control = control_for_line(line)
                    body = None if control else message_for_line(line)
                except ValueError as exc:
                    print(str(exc), file=stdout, flush=True)
                    continue
                if control is not None:
                    for reply in await self.control(http, *control):
                        print(_shown(reply), file=stdout, flush=True)
                    continue
                if body is None:
                    if line.strip():
                        print(HELP, file=stdout, flush=True)
                    continue
                if not interactive:
                    print(f"Tú: {line.strip()}", file=stdout, flush=True)
                replies = await self.say(http, body)
                if not replies:
                    failures += 1
                    print("(sin respuesta del bot)", file=stdout, flush=True)
                for reply in replies:
                    print(_shown(reply), file=stdout, flush=True)

    async def say(self, http: httpx.AsyncClient, body: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Sends one message as the user and returns the bot's replies to it, in order."""
        answer = await http.post(f"{self._url}/sandbox/users/{self._phone}/send",
                                 json={"did": self._did, "name": self._name, **body})
        if answer.status_code != 200 or answer.json().get("webhook_status") != 200:
            logger.error("The sandbox could not deliver the message: %s", answer.text[:300])
            return []
        agent = f"{self._url}/sandbox/agent/{self._did}/{self._phone}"
        if (await http.get(agent)).json().get("holder") == "agent":
            # The bot keeps quiet while an agent has the chat: no long wait for its reply.
            return await self._collect(http, self._quiet) or [
                _note("el chat lo tiene un agente: el bot no responde; :agente TEXTO contesta")]
        return await self._collect(http, self._reply_timeout)

    async def control(self, http: httpx.AsyncClient, command: str,
                      argument: str) -> List[Dict[str, Any]]:
        """Plays Chattigo's agent (`agente`, `devolver`) or moves the clock (`reloj`); returns
        what the user then sees: the agent's message, or the bot's greeting after a hand-back."""
        agent = f"{self._url}/sandbox/agent/{self._did}/{self._phone}"
        if command == "reloj":
            answer = await http.post(f"{self._url}/sandbox/clock", json={"advance": argument})
            if answer.status_code != 200:
                return [_note(answer.json().get("reason", answer.text))]
            return [_note(f"reloj del sandbox +{answer.json()['offset_seconds'] / 3600:g} h")]
        if command == "devolver":
            answer = await http.post(f"{agent}/handback")
            if answer.status_code != 200:
                return [_note(answer.json().get("reason", answer.text))]
            replies = await self._collect(http, self._reply_timeout)
            return [_note("el agente devolvió el chat al bot"), *replies]
        if (await http.get(agent)).json().get("holder") != "agent":
            await http.post(f"{agent}/take")
        answer = await http.post(f"{agent}/messages", json={"text": argument})
        if answer.status_code != 200:
            return [_note(answer.json().get("reason", answer.text))]
        self._seq = max(self._seq, answer.json()["seq"])
        return [{"text": argument, "payload": {"name": "Agente"}}]

    async def _collect(self, http: httpx.AsyncClient, wait: float) -> List[Dict[str, Any]]:
        replies: List[Dict[str, Any]] = []
        while True:
            batch = await self._poll(http, wait)
            outgoing = [m for m in batch if m["direction"] == "out"]
            replies.extend(outgoing)
            if not batch or (not outgoing and replies):
                return replies
            if outgoing:
                wait = self._quiet

    async def _poll(self, http: httpx.AsyncClient, wait: float) -> List[Dict[str, Any]]:
        # Long-polls in slices, because the sandbox caps one wait at 30 s.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = max(0.0, deadline - loop.time())
            answer = await http.get(
                f"{self._url}/sandbox/conversations/{self._did}/{self._phone}",
                params={"after": self._seq, "wait": min(left, 25.0)},
            )
            answer.raise_for_status()
            messages = answer.json()["messages"]
            if messages:
                self._seq = max(m["seq"] for m in messages)
                return messages
            if loop.time() >= deadline:
                return []

    async def _latest_seq(self, http: httpx.AsyncClient) -> int:
        answer = await http.get(f"{self._url}/sandbox/conversations/{self._did}/{self._phone}")
        answer.raise_for_status()
        return max((m["seq"] for m in answer.json()["messages"]), default=0)


def _shown(reply: Dict[str, Any]) -> str:
    return f"{reply.get('payload', {}).get('name') or 'Bot'}: {reply['text']}"


def _note(text: str) -> Dict[str, Any]:
    return {"text": f"({text})", "payload": {"name": "Sandbox"}}


def _line_reader(stdin: TextIO) -> "asyncio.Queue[str]":
    """Lines of `stdin` ("" at its end), read by a daemon thread.

    Not the loop's default executor: at Ctrl-C, asyncio.run waits for that executor's
    threads, and one blocked in readline would hang the exit until Enter was pressed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        while True:
            line = stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue
