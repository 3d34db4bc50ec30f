"""The sandbox's web chat in headless Chromium, against real channels and a scripted bot."""

from itertools import count
from typing import Any, Iterator, List

import httpx
import pytest

from conftest import DID, OTHER_DID, PASSWORD, USERNAME
from webchat import LONG_TEXT, World, requires_browser

pytestmark = requires_browser

_phones = count(5492644100001)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    running = World().start()
    try:
        yield running
    finally:
        running.stop()


class Page:
    """The chat page as one simulated user sees it."""

    def __init__(self, driver: Any, world: World, did: str = DID) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.world, self.did = driver, world, did
        self.phone = str(next(_phones))
        driver.get(f"{world.url}/?phone={self.phone}&did={did}")
        # The page redraws its rows and counters as events arrive: an element found just
        # before a redraw is stale, and the check is simply made again.
        self.wait = WebDriverWait(driver, 30,
                                  ignored_exceptions=(StaleElementReferenceException,))
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.live") == "yes")

    def css(self, selector: str) -> List[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def click(self, selector: str, text: str = "") -> None:
        """Clicks the first element matching `selector` whose text contains `text`."""
        self.wait.until(lambda d: any(text in e.text for e in self.css(selector)))
        next(e for e in self.css(selector) if text in e.text).click()

    def type(self, selector: str, text: str) -> None:
        field = self.css(selector)[0]
        field.clear()
        field.send_keys(text)

    def say(self, text: str) -> None:
        from selenium.webdriver.common.keys import Keys

        self.css("#text")[0].send_keys(text + Keys.ENTER)

    def bot_row(self, fragment: str) -> Any:
        """Waits for the bot's bubble containing `fragment`; returns its row."""
        self.wait.until(lambda d: any(fragment in e.text for e in self.css("#chat .row.bot")))
        return next(e for e in self.css("#chat .row.bot") if fragment in e.text)

    def bot_texts(self) -> List[str]:
        return [e.text for e in self.css("#chat .row.bot .bubble > .text")]

    def until(self, check: Any) -> Any:
        return self.wait.until(lambda d: check())


def test_a_text_gets_its_reply_with_whatsapp_formatting(driver, world):
    page = Page(driver, world)
    page.say("hola")

    row = page.bot_row("Soy Aynux")
    html = row.find_element("css selector", ".text").get_attribute("innerHTML")
    assert "<b>Aynux</b>" in html and "<i>Aynux Telecom</i>" in html
    assert "<s>nada</s>" in html and "<code>plan</code>" in html
    assert '<a href="https://example.com/planes"' in html
    assert page.css("#bot-name")[0].text == "Aynux"
    assert page.css("#biz")[0].text == f"+{DID}"


@pytest.mark.parametrize(("text", "html"), [
    ("*negrita* _cursiva_ ~tachado~", "<b>negrita</b> <i>cursiva</i> <s>tachado</s>"),
    ("```a *b* c```", "<code>a *b* c</code>"),
    ("2*3*4 y snake_case_name", "2*3*4 y snake_case_name"),
    ("(*sí*), *no*.", "(<b>sí</b>), <b>no</b>."),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("Mirá https://x.test/a_b?c=1&d=2.", 'Mirá <a href="https://x.test/a_b?c=1&amp;d=2" '
     'target="_blank" rel="noopener">https://x.test/a_b?c=1&amp;d=2</a>.'),
])
def test_whatsapp_formatting_in_the_pages_own_javascript(driver, world, text, html):
    page = Page(driver, world)
    rendered = driver.execute_script(
        "const n = document.createElement('div'); n.innerHTML = format(arguments[0]);"
        "return n.innerHTML", text)
    assert rendered == html
    assert page.css("#chat")[0].text == ""


def test_ticks_go_to_read_and_the_users_message_shows_delivered(driver, world):
    page = Page(driver, world)
    page.say("hola")

    row = page.bot_row("Soy Aynux")
    page.until(lambda: row.get_attribute("data-status") == "read")
    assert row.find_element("css selector", ".ticks.read").text == "✓✓"
    [mine] = page.css("#chat .row.me")
    assert mine.get_attribute("data-status") == "delivered"


def test_tapping_a_native_button_sends_its_payload(driver, world):
    page = Page(driver, world)
    page.say("¿qué planes tienen?")

    page.click("#chat .row.bot .choice", "Premium · 1000 Mb")

    assert "Elegiste el plan premium" in page.bot_row("Elegiste").text
    assert page.css("#chat .row.me .text")[-1].text == "Premium · 1000 Mb"
    assert page.css("#chat .row.me .quote")[-1].text.startswith("¿Qué plan te interesa?")
    reply = [m for m in world.sandbox.state.messages if m.msisdn == page.phone][-2]
    message = reply.payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["interactive"]["button_reply"]["id"] == '/elegir_plan{"plan":"premium"}'


def test_tapping_a_list_row_sends_its_id(driver, world):
    page = Page(driver, world)
    page.say("¿llegan a mi zona?")

    page.click("#chat .row.bot .choice", "☰")
    page.click("#sheet .list-row", "Norte")

    assert page.bot_row("Zona Norte anotada").is_displayed()
    assert page.css("#sheet")[0].is_displayed() is False


def test_a_numbered_menu_is_answered_by_number(driver, world):
    page = Page(driver, world, did=OTHER_DID)
    page.say("¿qué planes tienen?")
    assert "2. Estándar · 300 Mb" in page.bot_row("1. Básico").text

    page.say("2")

    assert "Elegiste el plan estandar" in page.bot_row("Elegiste").text


def test_sharing_a_location_from_the_form(driver, world):
    page = Page(driver, world)
    page.click("#attach")
    page.click("[data-attach=location]", "Ubicación")
    page.type("#form input[name=place_name]", "Casa")
    page.type("#form input[name=address]", "Mitre 250")
    page.click("#form button[type=submit]")

    assert "Recibí tu ubicación: Mitre 250" in page.bot_row("Recibí tu ubicación").text
    card = page.css("#chat .row.me .location")[0]
    assert "Casa" in card.text and "-34.6037, -58.3816" in card.text


def test_an_image_from_the_bot_is_shown(driver, world):
    page = Page(driver, world)
    page.say("mandame una foto")

    row = page.bot_row("")
    page.until(lambda: page.css("#chat .row.bot img"))
    image = page.css("#chat .row.bot img")[0]
    page.until(lambda: driver.execute_script("return arguments[0].naturalWidth", image) == 320)
    assert row is not None


def test_a_photo_from_the_user_is_a_placeholder_with_its_caption(driver, world):
    page = Page(driver, world)
    page.click("#attach")
    page.click("[data-attach=image]", "Foto")
    page.type("#form input[name=caption]", "las luces del módem")
    page.click("#form button[type=submit]")

    # The channel hands a captioned photo to the bot as its caption.
    assert page.bot_row("Dijiste: las luces del módem").is_displayed()
    assert "las luces del módem" in page.css("#chat .row.me .media.image")[0].text


def test_documents_audio_video_and_a_location_from_the_bot_are_cards(driver, world):
    page = Page(driver, world)
    page.say("mandame los archivos")

    page.until(lambda: page.css("#chat .row.bot .location"))
    assert "📄 factura.pdf" in page.css("#chat .row.bot .media.document")[0].text
    assert "Tu factura" in page.css("#chat .row.bot .media.document")[0].text
    assert "🎵 Audio" in page.css("#chat .row.bot .media.audio")[0].text
    assert "Cómo reiniciar" in page.css("#chat .row.bot .media.video")[0].text
    assert "Sucursal Centro" in page.css("#chat .row.bot .location")[0].text


def test_a_voice_note_and_a_sticker_from_the_user(driver, world):
    page = Page(driver, world)
    page.click("#attach")
    page.click("[data-attach=voice]", "Nota de voz")
    page.click("#form button[type=submit]")
    page.bot_row("Dijiste: /whatsapp_voice")
    page.click("#attach")
    page.click("[data-attach=sticker]", "Sticker")
    page.click("#form button[type=submit]")

    page.bot_row("Dijiste: /whatsapp_sticker")
    assert "Nota de voz" in page.css("#chat .row.me .media.voice")[0].text
    assert page.css("#chat .row.me .sticker")[0].text == "😀"


def test_redelivering_a_message_does_not_make_the_bot_answer_twice(driver, world):
    page = Page(driver, world)
    page.say("eco una vez")
    page.bot_row("Dijiste: eco una vez")
    seq = int(page.css("#chat .row.me")[0].get_attribute("data-seq"))
    page.css("#chat .row.me .bubble")[0].click()

    page.click("#json-actions .choice", "Reenviar webhook")

    def deliveries():
        return [e.data for e in world.sandbox.events.after(0)
                if e.kind == "delivery" and e.data["seq"] == seq]
    page.until(lambda: len(deliveries()) == 2)
    assert [d["webhook_body"]["duplicates"] for d in deliveries()] == [0, 1]
    assert world.bot.heard.count("eco una vez") == 1
    assert len(page.css("#chat .row.bot")) == 1


def test_an_expired_token_costs_one_login_and_no_message(driver, world):
    page = Page(driver, world)
    logins = world.sandbox.state.stats.logins

    def expiries():
        return sum(e.kind == "tokens" for e in world.sandbox.events.after(0))
    before = expiries()
    page.click("#expire")
    page.until(lambda: expiries() == before + 1)

    page.say("después de expirar")

    page.bot_row("Dijiste: después de expirar")
    assert world.sandbox.state.stats.logins == logins + 1
    page.until(lambda: page.css("#stat-logins")[0].text == str(logins + 1))


def test_a_long_answer_arrives_as_several_bubbles(driver, world):
    page = Page(driver, world)
    page.say("contame algo largo")

    page.until(lambda: len(page.bot_texts()) == 3)  # 7,046 characters, at most 3,000 a message
    texts = page.bot_texts()
    assert " ".join(texts).split() == LONG_TEXT.split()
    assert all(len(text) <= 3000 for text in texts)


def test_a_failing_send_is_retried_and_delivered_once(driver, world):
    page = Page(driver, world)
    faults_before = world.sandbox.state.stats.faults_injected
    page.type("#fault-count", "1")
    page.click("#fault-set")
    page.until(lambda: "próximos 1" in page.css("#fault-state")[0].text)

    page.say("hola")

    page.bot_row("Soy Aynux")
    assert len(page.css("#chat .row.bot")) == 1
    assert world.sandbox.state.stats.faults_injected == faults_before + 1
    page.until(lambda: page.css("#fault-state")[0].text == "Sin fallas.")


def test_the_agent_takes_the_chat_writes_and_hands_it_back(driver, world):
    page = Page(driver, world)
    page.say("quiero hablar con una persona")
    page.until(lambda: "con un agente" in page.css("#presence")[0].text)
    assert "chat transferido a un agente" in page.css("#chat .system")[0].text

    page.type("#agent-text", "Hola, soy Marta del equipo")
    page.click("#agent-form button")
    page.until(lambda: page.css("#chat .bubble.agent"))
    assert "Hola, soy Marta del equipo" in page.css("#chat .bubble.agent")[0].text
    assert page.css("#chat .bubble.agent .author")[0].text == "🎧 Agente"

    page.click("#agent-back")

    assert page.bot_row("Volví").is_displayed()
    assert page.css("#presence")[0].text == "en línea"
    assert "Hola, soy Marta del equipo" not in world.bot.heard


def test_replying_to_and_reacting_to_a_bot_message(driver, world):
    page = Page(driver, world)
    page.say("hola")
    page.bot_row("Soy Aynux").find_element("css selector", ".bubble").click()
    assert '"content":' in page.css("#json")[0].text

    page.click("#json-actions .choice", "Responder")
    page.say("¿y eso?")
    page.click("#json-actions .choice", "👍")

    page.until(lambda: page.css("#chat .row.bot .reaction.in"))
    assert page.css("#chat .row.bot .reaction.in")[0].text == "👍"
    quoted = page.css("#chat .row.me .quote")
    assert quoted and quoted[0].text.startswith("¡Hola! Soy *Aynux*")
    sent = [m for m in world.sandbox.state.messages
            if m.msisdn == page.phone and m.direction == "in"]
    bot_wamid = page.bot_row("Soy Aynux").get_attribute("data-wamid")
    replied = sent[1].payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert replied["context"]["id"] == bot_wamid


def test_a_refused_send_is_flagged_in_the_chat(driver, world):
    page = Page(driver, world)
    with httpx.Client(base_url=world.url) as http:
        token = http.post("/login", json={"username": USERNAME, "password": PASSWORD}).json()
        bad = {"id": "bad-1", "did": DID, "msisdn": page.phone, "type": "text", "content": "",
               "channel": "WHATSAPP", "name": "Aynux", "isAttachment": False}
        answer = http.post("/webhooks/inbound", json=bad,
                           headers={"Authorization": f"Bearer {token['access_token']}"})
    assert answer.status_code == 400

    page.until(lambda: page.css("#chat .refused"))
    assert "content: must not be empty" in page.css("#chat .refused")[0].text


def test_switching_users_shows_each_conversation(driver, world):
    from selenium.webdriver.support.ui import Select

    page = Page(driver, world)
    page.say("hola")
    page.bot_row("Soy Aynux")
    users = Select(page.css("#user")[0])

    users.select_by_value(next(iter(world.sandbox.people)))
    page.until(lambda: page.bot_texts() == [])
    users.select_by_value(page.phone)

    assert page.bot_row("Soy Aynux").is_displayed()


def test_outside_the_window_a_text_fails_with_131047_and_a_template_arrives(driver, world):
    page = Page(driver, world)
    page.say("hola")
    page.bot_row("Soy Aynux")
    page.click("[data-advance='+25h']")
    page.until(lambda: "cerrada" in page.css("#window")[0].text)

    world.push(DID, page.phone, {"text": "¿Seguís ahí?"})
    row = page.bot_row("¿Seguís ahí?")
    page.until(lambda: row.get_attribute("data-status") == "failed")
    assert "131047 Re-engagement message" in row.find_element("css selector", ".error").text

    world.push(DID, page.phone, {"custom": {"type": "HSM", "hsm": {
        "namespace": "aynux", "template": "recordatorio_turno", "languageCode": "es_AR",
        "parameters": ["Ana", "lunes 10:00"],
        "destinations": [{"destination": page.phone}]}}})
    card = page.bot_row("recordatorio_turno")
    page.until(lambda: card.get_attribute("data-status") == "read")
    assert "{{1}} Ana" in card.text and "{{2}} lunes 10:00" in card.text
    assert len(page.css("#chat .day")) == 2
