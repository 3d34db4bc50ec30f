"""The admin API as a bot designer mounts it: on the channel, against the real sandbox."""

import httpx
import pytest
from sanic import Sanic

from rasa_chattigo.channel import ChattigoInput
from rasa_chattigo.credentials._crypto import Keyring, encrypt_value, generate_key
from rasa_chattigo.errors import ChattigoStartupError
from rasa_chattigo.sandbox import Sandbox

from conftest import DID, LOOPBACK_ONLY, PASSWORD, USERNAME, Collector, serve_sanic

ADMIN_TOKEN = "adm1n-T0ken-for-channel-tests"
OTHER_DID = "5491140001234"


@pytest.fixture
async def admin(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", generate_key())
    async with Sandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID, OTHER_DID]}) as sandbox:
        channel = ChattigoInput.from_credentials({
            "base_url": sandbox.url, "credentials_store": f"sqlite:///{tmp_path}/c.db",
            "admin_token": ADMIN_TOKEN, "allowed_ips": LOOPBACK_ONLY})
        app = Sanic(f"admin_channel_{id(channel)}", configure_logging=False)
        app.blueprint(channel.blueprint(Collector()), url_prefix="/webhooks/chattigo")
        async with serve_sanic(app) as url:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(base_url=f"{url}/webhooks/chattigo/admin/credentials",
                                         headers=headers) as http:
                yield http, sandbox


async def test_create_list_and_test_a_number_against_the_sandbox(admin):
    http, sandbox = admin
    created = await http.post("", json={"did": DID, "name": "Principal", "username": USERNAME,
                                        "password": PASSWORD, "bot_name": "Aynux"})
    assert created.status_code == 201
    assert "password" not in created.json()
    listed = await http.get("")
    assert [row["did"] for row in listed.json()["credentials"]] == [DID]
    tested = await http.post(f"/{DID}/test")
    assert tested.json() == {"did": DID, "ok": True}
    assert sandbox.state.stats.logins == 1


async def test_a_wrong_password_tests_not_ok_and_an_update_fixes_it(admin):
    http, _ = admin
    await http.post("", json={"did": OTHER_DID, "name": "Ventas", "username": USERNAME,
                              "password": "not-it-at-all", "bot_name": "Ventas"})
    failed = await http.post(f"/{OTHER_DID}/test")
    assert (failed.json()["ok"], "not-it-at-all" in failed.text) == (False, False)
    assert (await http.patch(f"/{OTHER_DID}", json={"password": PASSWORD})).status_code == 200
    assert (await http.post(f"/{OTHER_DID}/test")).json() == {"did": OTHER_DID, "ok": True}


async def test_delete_removes_the_number(admin):
    http, _ = admin
    await http.post("", json={"did": DID, "name": "x", "username": USERNAME, "password": PASSWORD})
    assert (await http.delete(f"/{DID}")).json() == {"did": DID, "removed": True}
    assert (await http.get(f"/{DID}")).status_code == 404


async def test_a_wrong_admin_token_is_refused(admin):
    http, _ = admin
    answer = await http.get("", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401


def test_admin_token_without_a_store_stops_start_up():
    with pytest.raises(ChattigoStartupError, match="setting 'admin_token'"):
        ChattigoInput.from_credentials({"did": DID, "username": USERNAME, "password": PASSWORD,
                                        "admin_token": ADMIN_TOKEN, "allowed_ips": LOOPBACK_ONLY})


async def test_an_encrypted_password_round_trips_through_start_up(monkeypatch, sandbox):
    key = generate_key()
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", key)
    password = encrypt_value(PASSWORD, Keyring([key]))
    channel = ChattigoInput.from_credentials({"base_url": sandbox.url, "did": DID,
                                              "username": USERNAME, "password": password,
                                              "allowed_ips": LOOPBACK_ONLY})
    await channel.get_output_channel().send_response("5492644472542", {"text": "hola"})
    await channel.client.aclose()
    assert (sandbox.state.stats.logins, sandbox.state.stats.accepted) == (1, 1)


@pytest.mark.parametrize("keys", ["", "other"])
def test_a_missing_or_wrong_key_stops_start_up_naming_the_setting(monkeypatch, keys):
    password = encrypt_value(PASSWORD, Keyring([generate_key()]))
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", generate_key() if keys == "other" else "")
    with pytest.raises(ChattigoStartupError) as caught:
        ChattigoInput.from_credentials({"did": DID, "username": USERNAME, "password": password})
    message = str(caught.value)
    assert "setting 'password'" in message
    assert "CHATTIGO_SECRET_KEY" in message
    assert password[4:] not in message and PASSWORD not in message
