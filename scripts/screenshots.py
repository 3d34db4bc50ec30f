"""Makes the web chat's screenshots in docs/img/ from real sessions in headless Chromium.

- `webchat.png`: the demo bot (a real `rasa run` on bot_project's trained model, with native
  buttons) over the sandbox: a greeting, buttons tapped, a shared location, a photo.
- `webchat-kinds.png`: real channels with the tests' scripted bot (tests/webchat.py): an image,
  an open list sheet.
- `webchat-handoff.png`: the same: a hand-off to an agent and back, then the clock moved 25 hours:
  a free-form message failed with 131047, a template delivered.

Run after `make model`: `.venv/bin/python scripts/screenshots.py`. Needs Debian's chromium and
chromium-driver.
"""

import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from rasa_chattigo.stack import LocalStack  # noqa: E402

from conftest import DID  # noqa: E402
from webchat import World, native_credentials, new_driver  # noqa: E402

IMAGES = ROOT / "docs" / "img"
PROJECT = ROOT / "bot_project"
MODEL = PROJECT / "models" / "current.tar.gz"


class Phone:
    """The page in a browser, driven like a person would."""

    def __init__(self, driver: Any, url: str) -> None:
        self.driver = driver
        driver.get(url)
        self.wait = WebDriverWait(driver, 90)
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.live") == "yes")

    def all(self, selector: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def until(self, check: Callable[[], Any]) -> None:
        self.wait.until(lambda d: check())

    def bots(self) -> int:
        return len(self.all("#chat .row.bot, #chat .system"))

    def say(self, text: str, replies: int = 1) -> None:
        before = self.bots()
        self.all("#text")[0].send_keys(text + Keys.ENTER)
        self.until(lambda: self.bots() >= before + replies)

    def tap(self, selector: str, text: str, replies: int = 1) -> None:
        before = self.bots()
        self.until(lambda: any(e.text == text for e in self.all(selector)))
        next(e for e in self.all(selector) if e.text == text).click()
        self.until(lambda: self.bots() >= before + replies)

    def attach(self, kind: str, replies: int = 1, **values: str) -> None:
        before = self.bots()
        self.all("#attach")[0].click()
        self.all(f"[data-attach={kind}]")[0].click()
        for name, value in values.items():
            field = self.all(f"#form input[name={name}]")[0]
            field.clear()
            field.send_keys(value)
        self.all("#form button[type=submit]")[0].click()
        self.until(lambda: self.bots() >= before + replies)

    def read(self) -> None:
        """Waits for the blue ticks on the bot's last message."""
        self.until(lambda: self.all("#chat .row.bot")[-1].get_attribute("data-status")
                   in ("read", "failed"))

    def shoot(self, name: str) -> None:
        IMAGES.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(IMAGES / name))
        print(f"wrote docs/img/{name}")


def demo_session(driver: Any) -> None:
    logs = ROOT / "run" / "screenshots"
    logs.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(PROJECT, MODEL, did=DID, logs=logs, sandbox_args=["--statuses"],
                       credentials=str(native_credentials(PROJECT, logs)))
    try:
        stack.start()
        phone = Phone(driver, f"{stack.sandbox_url}/?phone=5492644472542&did={DID}")
        phone.say("hola")
        phone.say("qué podés hacer?")
        phone.tap("#chat .choice", "Planes y precios")
        phone.tap("#chat .choice", "Premium · 1000 Mb")
        phone.attach("location", place_name="Casa", address="Mitre 250, San Juan")
        phone.attach("image", caption="las luces del módem")
        phone.read()
        phone.all("#chat .row.bot .bubble")[-1].click()
        phone.shoot("webchat.png")
    finally:
        stack.stop()


def scripted_sessions(driver: Any) -> None:
    world = World().start()
    try:
        phone = Phone(driver, f"{world.url}/?phone=5492644472542&did={DID}")
        phone.say("hola")
        phone.say("mandame una foto", replies=2)
        phone.say("¿llegan a mi zona?")
        phone.all("#chat .row.bot .choice")[-1].click()
        phone.until(lambda: phone.all(".list-row"))
        phone.shoot("webchat-kinds.png")

        phone = Phone(driver, f"{world.url}/?phone=5491155551234&did={DID}")
        phone.say("hola")
        phone.say("quiero hablar con una persona", replies=2)
        phone.all("#agent-text")[0].send_keys("Hola Lucía, soy Marta. ¿En qué te ayudo?")
        phone.all("#agent-form button")[0].click()
        before = phone.bots()
        phone.all("#agent-back")[0].click()
        phone.until(lambda: phone.bots() >= before + 2)
        phone.all("[data-advance='+25h']")[0].click()
        phone.until(lambda: "cerrada" in phone.all("#window")[0].text)
        world.push(DID, "5491155551234", {"text": "¿Pudiste resolverlo?"})
        world.push(DID, "5491155551234", {"custom": {"type": "HSM", "hsm": {
            "namespace": "aynux", "template": "seguimiento_reclamo", "languageCode": "es_AR",
            "parameters": ["Lucía", "#4521"], "destinations": [{"destination": "5491155551234"}]}}})
        phone.read()
        phone.shoot("webchat-handoff.png")
    finally:
        world.stop()


def main() -> int:
    if not MODEL.exists():
        print("no trained model: run `make model` first", file=sys.stderr)
        return 1
    driver = new_driver(1280, 900)
    try:
        demo_session(driver)
        scripted_sessions(driver)
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
