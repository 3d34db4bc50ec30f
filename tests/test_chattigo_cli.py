"""`rasa-chattigo webhook register` and `send-test` against the real sandbox."""

import pytest

from rasa_chattigo.cli._main import build_parser
from rasa_chattigo.credentials._crypto import Keyring, encrypt_value, generate_key
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.sandbox import ThreadedSandbox

from conftest import DID, PASSWORD, USER, USERNAME

OTHER_DID = "5491140001234"
WEBHOOK = "https://bot.example.com/webhooks/chattigo/webhook?token=abc"


@pytest.fixture
def sandbox():
    with ThreadedSandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID, OTHER_DID]}) as running:
        yield running


@pytest.fixture
def login_env(monkeypatch, sandbox):
    monkeypatch.setenv("CHATTIGO_BASE_URL", sandbox.url)
    monkeypatch.setenv("CHATTIGO_USERNAME", USERNAME)
    monkeypatch.setenv("CHATTIGO_PASSWORD", PASSWORD)
    monkeypatch.delenv("CHATTIGO_CREDENTIALS_STORE", raising=False)
    monkeypatch.delenv("CHATTIGO_SECRET_KEY", raising=False)


def run(capsys, *argv):
    args = build_parser().parse_args(list(argv))
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_webhook_register_patches_the_webhook_of_the_number(capsys, sandbox, login_env):
    code, out, err = run(capsys, "webhook", "register", "--did", DID, "--url", WEBHOOK)
    assert (code, out, err) == (0, f"ok: webhook of {DID} registered\n", "")
    assert sandbox.state.webhooks == {DID: WEBHOOK}


def test_webhook_register_with_a_wrong_password_fails_without_showing_it(
        capsys, monkeypatch, sandbox, login_env):
    monkeypatch.setenv("CHATTIGO_PASSWORD", "not-the-Passw0rd")
    code, out, err = run(capsys, "webhook", "register", "--did", DID, "--url", WEBHOOK)
    assert (code, out) == (1, "")
    assert err.startswith("rasa-chattigo: Chattigo answered HTTP 401")
    assert "not-the-Passw0rd" not in err
    assert sandbox.state.webhooks == {}


def test_send_test_sends_one_text_in_chattigo_format(capsys, sandbox, login_env):
    code, out, _ = run(capsys, "send-test", "--did", DID, "--phone", USER, "--text", "Prueba")
    assert (code, out) == (0, f"ok: sent to {USER} from {DID} (accepted by Chattigo)\n")
    [sent] = sandbox.state.select(direction="out")
    assert {k: v for k, v in sent.payload.items() if k != "id"} == {
        "did": DID, "msisdn": USER, "type": "text", "channel": "WHATSAPP", "content": "Prueba",
        "name": "Bot", "isAttachment": False}


def test_send_test_with_an_encrypted_password(capsys, monkeypatch, sandbox, login_env):
    key = generate_key()
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", key)
    monkeypatch.setenv("CHATTIGO_PASSWORD", encrypt_value(PASSWORD, Keyring([key])))
    code, _, err = run(capsys, "send-test", "--did", DID, "--phone", USER)
    assert (code, err) == (0, "")
    assert sandbox.state.stats.accepted == 1


def test_send_test_from_the_credentials_store_uses_that_numbers_bot_name(
        capsys, monkeypatch, tmp_path, sandbox, login_env):
    key = generate_key()
    url = f"sqlite:///{tmp_path}/store.db"
    store = CredentialStore(url, Keyring([key]))
    store.create_all()
    store.add(OTHER_DID, username=USERNAME, password=PASSWORD, bot_name="Ventas")
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", key)
    code, _, _ = run(capsys, "send-test", "--did", OTHER_DID, "--phone", USER, "--store", url)
    assert code == 0
    [sent] = sandbox.state.select(direction="out")
    assert (sent.payload["did"], sent.payload["name"]) == (OTHER_DID, "Ventas")


def test_a_missing_login_is_one_clear_error(capsys, monkeypatch, sandbox, login_env):
    monkeypatch.delenv("CHATTIGO_PASSWORD")
    code, out, err = run(capsys, "send-test", "--did", DID, "--phone", USER)
    assert (code, out) == (1, "")
    assert "CHATTIGO_USERNAME/CHATTIGO_PASSWORD" in err
