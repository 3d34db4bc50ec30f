"""The web chat in headless Chromium against a real `rasa run` on the trained demo bot."""

from typing import Any, Iterator

import pytest

from rasa_chattigo.devtools._stack import LocalStack

from conftest import requires_nlu, requires_rasa_cli, server_logs
from test_e2e import DID, PROJECT, ensure_model
from webchat import NO_BROWSER, native_credentials, requires_browser

pytest.importorskip("selenium", reason=NO_BROWSER)
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [requires_browser, pytest.mark.e2e, requires_rasa_cli, requires_nlu]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    model = ensure_model()
    logs = server_logs("webchat-e2e")
    running = LocalStack(PROJECT, model, did=DID, logs=logs,
                         credentials=str(native_credentials(PROJECT, logs)),
                         sandbox_args=["--statuses"])
    try:
        running.start()
        yield running
    finally:
        running.stop()


def open_chat(driver: Any, stack: LocalStack, phone: str) -> WebDriverWait:
    driver.get(f"{stack.sandbox_url}/?phone={phone}&did={DID}")
    wait = WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: d.execute_script("return document.body.dataset.live") == "yes")
    return wait


def bot_rows(driver: Any) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#chat .row.bot")


def test_the_demo_bots_native_buttons_are_tapped_in_the_browser(driver, stack):
    wait = open_chat(driver, stack, "5492644200001")
    driver.find_element(By.ID, "text").send_keys("qué podés hacer?" + Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chat .row.bot .choice"))

    next(b for b in driver.find_elements(By.CSS_SELECTOR, "#chat .row.bot .choice")
         if b.text == "Planes y precios").click()
    wait.until(lambda d: any(b.text == "Premium · 1000 Mb"
                             for b in d.find_elements(By.CSS_SELECTOR, "#chat .row.bot .choice")))
    next(b for b in driver.find_elements(By.CSS_SELECTOR, "#chat .row.bot .choice")
         if b.text == "Premium · 1000 Mb").click()

    wait.until(lambda d: "1000 Mb simétricos" in bot_rows(d)[-1].text)
    wait.until(lambda d: bot_rows(d)[-1].get_attribute("data-status") == "read")


def test_a_location_shared_from_the_form_is_answered_by_the_demo_bot(driver, stack):
    wait = open_chat(driver, stack, "5492644200002")
    driver.find_element(By.ID, "attach").click()
    driver.find_element(By.CSS_SELECTOR, "[data-attach=location]").click()
    driver.find_element(By.CSS_SELECTOR, "#form button[type=submit]").click()

    wait.until(lambda d: bot_rows(d) and "Av. 9 de Julio s/n" in bot_rows(d)[-1].text)
