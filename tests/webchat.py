"""Browser-test helpers: headless Debian Chromium, and a world of sandbox + real channels + bot.

The world runs in a background thread's event loop, because selenium is synchronous: the
sandbox (window enforced, statuses on), two real `ChattigoInput` channels on real Sanic apps
(one business number with native buttons, one with numbered menus) and a small scripted bot
standing in for Rasa's agent.
"""

import asyncio
import contextlib
import json
import shutil
import threading
from pathlib import Path
from typing import Any, Awaitable, Dict, List, Optional, TypeVar

import pytest

from rasa_chattigo.sandbox import Sandbox

from conftest import DID, OTHER_DID, PASSWORD, USERNAME, channel_settings, serve_sanic

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NO_BROWSER = "no Chromium: install Debian's chromium and chromium-driver"
LONG_TEXT = " ".join(f"Frase número {n} de una respuesta muy larga." for n in range(1, 160))
PLANS = [("Básico · 100 Mb", "basico"), ("Estándar · 300 Mb", "estandar"),
         ("Premium · 1000 Mb", "premium")]
ZONES = ["Centro", "Norte", "Sur", "Oeste", "Este"]


def browser_missing() -> Optional[str]:
    """Why no browser test can run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return NO_BROWSER
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "no selenium: install the dev extra (make setup)"
    return None


requires_browser = pytest.mark.skipif(browser_missing() is not None,
                                      reason=browser_missing() or "")


def new_driver(width: int = 1280, height: int = 860) -> Any:
    """A headless Chromium driven through Debian's chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--lang=es-AR", f"--window-size={width},{height}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def native_credentials(project: Path, folder: Path) -> Path:
    """A copy of the project's credentials.yml with `buttons: native`, written to `folder`."""
    import yaml

    credentials = yaml.safe_load((project / "credentials.yml").read_text(encoding="utf-8"))
    credentials["rasa_chattigo.ChattigoInput"]["buttons"] = "native"
    path = folder / "credentials-native.yml"
    path.write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
    return path.resolve()


class ScriptedBot:
    """Answers like a tiny Rasa bot: a few keywords, the menu payloads and the hand-back."""

    def __init__(self) -> None:
        self.sandbox_url = ""
        self.heard: List[str] = []

    async def __call__(self, message: Any) -> None:
        self.heard.append(message.text)
        out = message.output_channel
        for response in self.answer(message.text or ""):
            await out.send_response(message.sender_id, response)

    def answer(self, text: str) -> List[Dict[str, Any]]:
        """The Rasa responses for one user message."""
        lowered = text.lower()
        if lowered.startswith("/elegir_plan"):
            plan = json.loads(text[len("/elegir_plan"):])["plan"]
            return [{"text": f"Elegiste el plan *{plan}* ✅"}]
        if lowered.startswith("/elegir_zona"):
            return [{"text": f"Zona {text.split(':', 1)[1]} anotada 📍"}]
        if lowered.startswith("/whatsapp_location"):
            place = json.loads(text[len("/whatsapp_location"):])
            return [{"text": f"Recibí tu ubicación: {place.get('address')} 📍"}]
        if lowered.startswith("/whatsapp_image"):
            return [{"text": "¡Gracias por la foto! 📷"}]
        if lowered.startswith(("/chattigo_handback", "/whatsapp_unknown")):
            return [{"text": "¡Volví! Soy el bot otra vez. ¿En qué más te ayudo?"}]
        return self._keyword(lowered, text)

    def _keyword(self, lowered: str, text: str) -> List[Dict[str, Any]]:
        if "plan" in lowered:
            return [{"text": "¿Qué plan te interesa?", "buttons": [
                {"title": title, "payload": f'/elegir_plan{{"plan":"{plan}"}}'}
                for title, plan in PLANS]}]
        if "zona" in lowered:
            return [{"text": "¿En qué zona vivís?", "buttons": [
                {"title": zone, "payload": f"/elegir_zona:{zone}"} for zone in ZONES]}]
        if "foto" in lowered:
            return [{"text": "Así se ven las luces del módem:",
                     "image": f"{self.sandbox_url}/static/demo.png"}]
        if "archivos" in lowered:
            return [{"custom": _media(f"{self.sandbox_url}/static/{name}", mime, caption)}
                    for name, mime, caption in (("factura.pdf", "application/pdf", "Tu factura"),
                                                ("saludo.ogg", "audio/ogg", ""),
                                                ("tutorial.mp4", "video/mp4", "Cómo reiniciar"))
                    ] + [{"custom": {"messaging_product": "whatsapp", "type": "location",
                                     "location": {"latitude": -31.5375, "longitude": -68.5364,
                                                  "name": "Sucursal Centro",
                                                  "address": "Mitre 250, San Juan"}}}]
        if "largo" in lowered:
            return [{"text": LONG_TEXT}]
        if "persona" in lowered:
            return [{"text": "Te paso con una persona del equipo 🙋"},
                    {"custom": {"type": "transfer"}}]
        if "hola" in lowered:
            return [{"text": "¡Hola! Soy *Aynux* 👋, el asistente de _Aynux Telecom_. "
                             "Mirá https://example.com/planes o escribí ~nada~ ```plan```."}]
        return [{"text": f"Dijiste: {text}"}]


def _media(url: str, mime: str, caption: str) -> Dict[str, Any]:
    return {"type": "media", "content": caption, "isAttachment": True,
            "attachment": {"mediaUrl": url, "mimeType": mime, "fileName": url.rsplit("/", 1)[1]}}


class World:
    """The sandbox, two channels and the scripted bot, served from a background thread."""

    def __init__(self) -> None:
        self.bot = ScriptedBot()
        self.outputs: Dict[str, Any] = {}
        self.sandbox: Optional[Sandbox] = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webchat-world",
                                        daemon=True)
        self._stack = contextlib.AsyncExitStack()

    @property
    def url(self) -> str:
        assert self.sandbox is not None
        return self.sandbox.url

    def run(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        """Runs a coroutine in the world's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)  # type: ignore[arg-type]

    def start(self) -> "World":
        self._thread.start()
        self.run(self._start(), timeout=120)
        return self

    async def _start(self) -> None:
        from sanic import Sanic

        from rasa_chattigo.channel import ChattigoInput

        self.sandbox = await self._stack.enter_async_context(Sandbox(
            users={USERNAME: PASSWORD}, dids={USERNAME: [DID, OTHER_DID]}, statuses=True,
            status_delay=0.05, window=True, bot_name="Aynux"))
        self.bot.sandbox_url = self.sandbox.url
        for did, buttons in ((DID, "native"), (OTHER_DID, "menu")):
            channel = ChattigoInput.from_credentials(channel_settings(
                did=did, base_url=self.sandbox.url, buttons=buttons, backoff_seconds=0.05))
            app = Sanic(f"webchat_{did}", configure_logging=False)
            app.blueprint(channel.blueprint(self.bot), url_prefix="/webhooks/chattigo")
            url = await self._stack.enter_async_context(serve_sanic(app))
            self.sandbox.state.webhooks[did] = f"{url}/webhooks/chattigo/webhook"
            self.outputs[did] = channel.get_output_channel()

    def push(self, did: str, phone: str, response: Dict[str, Any]) -> None:
        """The bot writes first (a reminder, an external intent), through the real channel."""
        self.run(self.outputs[did].send_response(phone, response))

    def stop(self) -> None:
        try:
            self.run(self._stack.aclose())
            self.run(_cancel_the_rest())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()


async def _cancel_the_rest() -> None:
    """Ends the connection tasks Sanic leaves behind, so the loop closes quietly."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
