"""Tests of the credentials admin API, through a real Sanic app on 127.0.0.1 and httpx."""

import json
import uuid
from pathlib import Path

import httpx
import pytest
from sanic import Blueprint, Sanic
from sanic.response import json as json_response

from rasa_chattigo.credentials._admin_api import add_admin_routes
from rasa_chattigo.credentials._crypto import Keyring
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.errors import AuthenticationError

from conftest import serve_sanic

FIXTURES = Path(__file__).parent / "fixtures" / "credentials"
CREATE = json.loads((FIXTURES / "create_credentials.json").read_text())
DID = CREATE["did"]
TOKEN = "admin-T0ken_0123456789abcdef"
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PREFIX = "/webhooks/chattigo/admin/credentials"

# Sanic 21.12 rewrites its connection code when an app starts; a second app in one process
# breaks unless test mode keeps the original. It must be set before any app starts.


class Harness:
    """The served app's client, its store, and the DIDs `login_check` was called with."""

    def __init__(self, client: httpx.AsyncClient, store: CredentialStore, checked: list):
        self.client = client
        self.store = store
        self.checked = checked


async def health(request):
    return json_response({"status": "ok"})


def app_with(store, admin_token, login_check):
    """An app like the channel's: its blueprint holds a health route besides the admin ones."""
    blueprint = Blueprint(f"chattigo_{uuid.uuid4().hex}", url_prefix="/webhooks/chattigo")
    blueprint.add_route(health, "/", methods=["GET"])
    added = add_admin_routes(blueprint, store, admin_token=admin_token, login_check=login_check)
    app = Sanic(f"admin_api_{uuid.uuid4().hex}", configure_logging=False)
    app.blueprint(blueprint)
    return app, added


@pytest.fixture
def store(tmp_path):
    store = CredentialStore(f"sqlite:///{tmp_path}/admin.db", Keyring([KEY]))
    store.create_all()
    yield store
    store.close()


@pytest.fixture
async def api(store):
    checked = []

    async def login_check(did):
        checked.append(did)
        creds = await store.arequire(did)
        if creds.password.reveal() == "boom":
            raise RuntimeError("socket closed")
        if creds.password.reveal() != CREATE["password"]:
            raise AuthenticationError(401, "Chattigo refused the username or password")

    app, _ = app_with(store, TOKEN, login_check)
    async with serve_sanic(app) as base_url:
        # No keep-alive: a connection left open would outlive the server and its loop.
        headers = {"Authorization": f"Bearer {TOKEN}", "Connection": "close"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
            yield Harness(client, store, checked)


async def create(api, **changes):
    return await api.client.post(PREFIX, json={**CREATE, **changes})


async def test_without_an_admin_token_no_route_exists(store):
    async def never(did):
        raise AssertionError("not called")

    app, added = app_with(store, None, never)
    headers = {"Authorization": "Bearer x", "Connection": "close"}
    async with serve_sanic(app) as base_url, httpx.AsyncClient(headers=headers) as client:
        answer = await client.get(base_url + PREFIX)

    assert added is False
    assert answer.status_code == 404


async def test_missing_token_is_refused_with_a_reason(api):
    answer = await api.client.get(PREFIX, headers={"Authorization": ""})

    assert answer.status_code == 401
    assert answer.json() == {"status": "error", "reason":
                             "missing bearer token (Authorization: Bearer <admin_token>)"}
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="rasa-chattigo admin"'


async def test_wrong_token_is_refused(api):
    answer = await api.client.get(PREFIX, headers={"Authorization": f"Bearer {TOKEN}x"})

    assert answer.status_code == 401
    assert answer.json() == {"status": "error", "reason": "invalid admin token"}


async def test_other_auth_schemes_are_refused(api):
    answer = await api.client.get(PREFIX, headers={"Authorization": f"Basic {TOKEN}"})

    assert answer.status_code == 401


async def test_refused_request_changes_nothing(api):
    answer = await api.client.post(PREFIX, json=CREATE, headers={"Authorization": "Bearer nope"})

    assert answer.status_code == 401
    assert api.store.list() == []


async def test_create_stores_the_number_and_returns_it_without_password(api):
    answer = await create(api)

    body = answer.json()
    assert answer.status_code == 201
    assert {k: body[k] for k in CREATE if k != "password"} == {
        k: v for k, v in CREATE.items() if k != "password"}
    assert body["enabled"] is True
    assert "password" not in body
    assert api.store.get(DID).password.reveal() == CREATE["password"]


async def test_create_of_a_stored_number_is_a_conflict(api):
    await create(api)

    answer = await create(api, username="other")

    assert answer.status_code == 409
    assert answer.json() == {"status": "error", "reason": f"credentials for business number "
                             f"{DID} are stored already; update or remove them instead"}


async def test_create_without_password_names_the_field(api):
    body = {k: v for k, v in CREATE.items() if k != "password"}

    answer = await api.client.post(PREFIX, json=body)

    assert answer.status_code == 400
    assert answer.json() == {"status": "error", "reason": "password: is required",
                             "field": "password"}


async def test_create_with_a_numeric_did_names_the_field(api):
    answer = await create(api, did=5492644710400)

    assert answer.status_code == 400
    assert answer.json()["reason"] == "did: must be a string"


async def test_create_with_an_unknown_field_names_it(api):
    answer = await create(api, colour="blue")

    assert answer.status_code == 400
    assert answer.json()["field"] == "colour"


@pytest.mark.parametrize("content, reason", [
    (b"", "body: empty body: expected a JSON object"),
    (b"{not json", "body: not valid JSON"),
    (b"[1, 2]", "body: must be a JSON object"),
])
async def test_bad_bodies_are_refused_with_a_reason(api, content, reason):
    answer = await api.client.post(PREFIX, content=content)

    assert answer.status_code == 400
    assert answer.json() == {"status": "error", "reason": reason, "field": "body"}


async def test_list_returns_every_number_without_passwords(api):
    await create(api)
    await create(api, did="5215512345678", enabled=False)

    answer = await api.client.get(PREFIX)

    rows = answer.json()["credentials"]
    assert answer.status_code == 200
    assert [(row["did"], row["enabled"]) for row in rows] == [
        ("5215512345678", False), (DID, True)]
    assert CREATE["password"] not in answer.text


async def test_list_answers_with_a_trailing_slash_too(api):
    await create(api)

    answer = await api.client.get(PREFIX + "/")

    assert answer.status_code == 200
    assert [row["did"] for row in answer.json()["credentials"]] == [DID]


async def test_show_returns_one_number(api):
    await create(api)

    answer = await api.client.get(f"{PREFIX}/{DID}")

    assert answer.status_code == 200
    assert answer.json()["username"] == CREATE["username"]
    assert "password" not in answer.json()


async def test_show_of_an_unknown_number_is_404(api):
    answer = await api.client.get(f"{PREFIX}/{DID}")

    assert answer.status_code == 404
    assert answer.json() == {"status": "error", "reason":
                             f"no Chattigo credentials stored for business number {DID}"}


async def test_did_in_the_path_must_be_digits(api):
    answer = await api.client.get(f"{PREFIX}/549-264")

    assert answer.status_code == 400
    assert answer.json()["field"] == "did"


async def test_patch_changes_only_the_given_fields(api):
    await create(api)

    answer = await api.client.patch(f"{PREFIX}/{DID}", json={"name": "Ventas", "enabled": False})

    assert answer.status_code == 200
    assert (answer.json()["name"], answer.json()["enabled"], answer.json()["bot_name"]) == (
        "Ventas", False, "Aynux")


async def test_put_is_accepted_as_update(api):
    await create(api)

    answer = await api.client.put(f"{PREFIX}/{DID}", json={"did": DID, "bot_name": "Ana"})

    assert answer.status_code == 200
    assert answer.json()["bot_name"] == "Ana"


async def test_patch_of_the_password_is_write_only(api):
    await create(api)

    answer = await api.client.patch(f"{PREFIX}/{DID}", json={"password": "N3w-Password"})

    assert answer.status_code == 200
    assert "N3w-Password" not in answer.text
    assert api.store.get(DID).password.reveal() == "N3w-Password"


async def test_patch_cannot_move_a_number_to_another_did(api):
    await create(api)

    answer = await api.client.patch(f"{PREFIX}/{DID}", json={"did": "5215512345678"})

    assert answer.status_code == 400
    assert answer.json()["reason"] == "did: cannot be changed; remove and add the number"


async def test_patch_without_changes_is_refused(api):
    await create(api)

    answer = await api.client.patch(f"{PREFIX}/{DID}", json={})

    assert answer.status_code == 400
    assert answer.json()["reason"] == "changes: nothing to update"


async def test_patch_of_an_unknown_number_is_404(api):
    answer = await api.client.patch(f"{PREFIX}/{DID}", json={"name": "x"})

    assert answer.status_code == 404


async def test_delete_removes_the_number(api):
    await create(api)

    answer = await api.client.delete(f"{PREFIX}/{DID}")

    assert (answer.status_code, answer.json()) == (200, {"did": DID, "removed": True})
    assert (await api.client.get(f"{PREFIX}/{DID}")).status_code == 404


async def test_delete_of_an_unknown_number_is_404(api):
    assert (await api.client.delete(f"{PREFIX}/{DID}")).status_code == 404


async def test_login_test_answers_ok(api):
    await create(api)

    answer = await api.client.post(f"{PREFIX}/{DID}/test")

    assert (answer.status_code, answer.json()) == (200, {"did": DID, "ok": True})
    assert api.checked == [DID]


async def test_login_test_gives_the_reason_of_a_refusal(api):
    await create(api, password="wrong")

    answer = await api.client.post(f"{PREFIX}/{DID}/test")

    assert answer.json() == {"did": DID, "ok": False, "reason": "Chattigo answered HTTP 401: "
                             "Chattigo refused the username or password"}


async def test_login_test_survives_an_unexpected_error(api):
    await create(api, password="boom")

    answer = await api.client.post(f"{PREFIX}/{DID}/test")

    assert answer.json() == {"did": DID, "ok": False, "reason": "unexpected error (RuntimeError)"}


async def test_login_test_of_an_unknown_number_is_404_without_a_login(api):
    answer = await api.client.post(f"{PREFIX}/{DID}/test")

    assert answer.status_code == 404
    assert api.checked == []


async def test_login_test_reports_a_key_that_cannot_decrypt(api):
    await create(api)
    api.store.keyring = Keyring(["ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="])

    answer = await api.client.post(f"{PREFIX}/{DID}/test")

    assert answer.json()["ok"] is False
    assert answer.json()["reason"].startswith(f"cannot decrypt password of DID {DID}: ")


async def test_create_without_a_key_is_a_server_error(api):
    api.store.keyring = Keyring()

    answer = await create(api)

    assert answer.status_code == 500
    assert answer.json() == {"status": "error", "reason": "cannot encrypt: no key is configured; "
                             "set CHATTIGO_SECRET_KEY (make a key with `rasa-chattigo keygen`)"}
