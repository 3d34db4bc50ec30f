"""Tests of the CLI verbs keygen, encrypt, credentials ... and rotate-key, run in-process."""

import io
import json
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select

from rasa_chattigo.cli import _credentials as admin_cli
from rasa_chattigo.credentials._crypto import Keyring, fingerprint
from rasa_chattigo.credentials._records import credentials_table
from rasa_chattigo.credentials._store import CredentialStore
from rasa_chattigo.sandbox import ThreadedSandbox

from conftest import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "credentials"
KEY_A = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
KEY_B = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
DID = "5492644710400"
USERNAME = "bot@empresa"
PASSWORD = "Chattigo-Passw0rd!"


@pytest.fixture
def chattigo():
    """The real sandbox, in a thread: the CLI verbs are synchronous."""
    with ThreadedSandbox(users={USERNAME: PASSWORD}, dids={USERNAME: [DID, "5215512345678"]}) as sb:
        yield sb.url


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("CHATTIGO_CREDENTIALS_STORE", url)
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", KEY_A)
    monkeypatch.delenv("CHATTIGO_BASE_URL", raising=False)
    return url


def cli(capsys, monkeypatch, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = admin_cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_number(capsys, monkeypatch, did=DID, password=PASSWORD, *extra):
    return cli(capsys, monkeypatch, "credentials", "add", "--did", did, "--name",
               "WhatsApp Principal", "--username", USERNAME, "--bot-name", "Aynux", *extra,
               stdin=password + "\n")


def stored(env, *keys):
    return CredentialStore(env, Keyring(list(keys or [KEY_A])))


def test_keygen_prints_only_a_fernet_key(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "keygen")

    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    Fernet(out.strip())


def test_encrypt_reads_piped_stdin_and_prints_an_enc_value(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "encrypt", stdin=PASSWORD + "\n")

    assert (code, err) == (0, "")
    assert out.startswith("enc:")
    assert Keyring([KEY_A]).decrypt(out.strip()[4:], what="x") == PASSWORD


def test_encrypt_prompts_without_echo_on_a_terminal(capsys, monkeypatch):
    prompts = []
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or PASSWORD)

    code = admin_cli.run(["encrypt"])
    out, _ = capsys.readouterr()

    assert (code, prompts) == (0, ["Secret to encrypt: "])
    assert Keyring([KEY_A]).decrypt(out.strip()[4:], what="x") == PASSWORD


def test_encrypt_keeps_spaces_that_belong_to_the_secret(capsys, monkeypatch):
    _, out, _ = cli(capsys, monkeypatch, "encrypt", stdin=" pass word \r\n")

    assert Keyring([KEY_A]).decrypt(out.strip()[4:], what="x") == " pass word "


def test_encrypt_never_takes_the_secret_as_an_argument(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "encrypt", PASSWORD)

    assert (code, out) == (2, "")
    assert "unrecognized arguments" in err


def test_encrypt_without_a_key_fails_with_advice(capsys, monkeypatch):
    monkeypatch.delenv("CHATTIGO_SECRET_KEY")

    code, out, err = cli(capsys, monkeypatch, "encrypt", stdin=PASSWORD)

    assert (code, out) == (1, "")
    assert err == ("error: no key: set CHATTIGO_SECRET_KEY or pass --key-file "
                   "(make a key with `rasa-chattigo keygen`)\n")


def test_encrypt_of_nothing_fails(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "encrypt", stdin="\n")

    assert (code, out) == (1, "")
    assert err == "error: no secret given: type it at the prompt or pipe it on stdin\n"


def test_encrypt_with_a_key_file(capsys, monkeypatch, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# newest first\n{KEY_B}\n")
    path.chmod(0o600)

    _, out, _ = cli(capsys, monkeypatch, "encrypt", "--key-file", str(path), stdin=PASSWORD)

    assert Keyring([KEY_B]).decrypt(out.strip()[4:], what="x") == PASSWORD


@pytest.mark.parametrize("verb", [
    ["keygen"], ["encrypt"], ["rotate-key"], ["credentials"], ["credentials", "add"],
    ["credentials", "list"], ["credentials", "show"], ["credentials", "update"],
    ["credentials", "remove"], ["credentials", "test"],
])
def test_every_verb_has_help(capsys, monkeypatch, verb):
    code, out, _ = cli(capsys, monkeypatch, *verb, "--help")

    assert code == 0
    assert out.startswith(f"usage: rasa-chattigo {' '.join(verb)}")


def test_credentials_without_a_verb_is_a_usage_error(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "credentials")

    assert code == 2
    assert "the following arguments are required: VERB" in err


def test_add_stores_the_number_encrypted(capsys, monkeypatch, env):
    code, out, err = add_number(capsys, monkeypatch)

    assert (code, out, err) == (0, "added DID 5492644710400 (WhatsApp Principal)\n", "")
    assert stored(env).get(DID).password.reveal() == PASSWORD


def test_add_asks_twice_on_a_terminal_and_refuses_a_mismatch(capsys, monkeypatch, env):
    answers = iter([PASSWORD, "typo"])
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))

    code = admin_cli.run(["credentials", "add", "--did", DID, "--name", "x", "--username", "u"])

    assert code == 1
    assert capsys.readouterr().err == "error: the two entries differ; nothing was changed\n"
    assert stored(env).list() == []


def test_add_of_a_bad_did_names_the_field(capsys, monkeypatch):
    code, _, err = add_number(capsys, monkeypatch, "+549 264")

    assert (code, err) == (1, "error: did: must be the WhatsApp Business number in digits "
                              "only, without '+'\n")


def test_add_of_a_stored_number_fails(capsys, monkeypatch):
    add_number(capsys, monkeypatch)

    code, _, err = add_number(capsys, monkeypatch)

    assert (code, err) == (1, f"error: credentials for business number {DID} are stored "
                              "already; update or remove them instead\n")


def test_list_prints_a_table_without_passwords(capsys, monkeypatch):
    add_number(capsys, monkeypatch)
    add_number(capsys, monkeypatch, "5215512345678", PASSWORD, "--disabled",
               "--organization-id", "org-7")

    code, out, _ = cli(capsys, monkeypatch, "credentials", "list")

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["DID", "NAME", "USERNAME", "BOT", "NAME", "ORGANIZATION",
                                "ENABLED", "UPDATED"]
    assert lines[1].split()[:7] == ["5215512345678", "WhatsApp", "Principal", USERNAME,
                                    "Aynux", "org-7", "no"]
    assert lines[2].split()[:7] == [DID, "WhatsApp", "Principal", USERNAME, "Aynux", "-", "yes"]
    assert len(lines) == 3


def test_list_of_an_empty_store(capsys, monkeypatch):
    assert cli(capsys, monkeypatch, "credentials", "list") == (0, "no credentials stored\n", "")


def test_list_as_json(capsys, monkeypatch):
    add_number(capsys, monkeypatch)

    _, out, _ = cli(capsys, monkeypatch, "credentials", "list", "--json")

    rows = json.loads(out)
    assert [(row["did"], row["username"], row["enabled"]) for row in rows] == [
        (DID, USERNAME, True)]
    assert "password" not in rows[0]


def test_show_says_the_password_is_set_without_showing_it(capsys, monkeypatch):
    add_number(capsys, monkeypatch)

    code, out, _ = cli(capsys, monkeypatch, "credentials", "show", "--did", DID)

    lines = out.splitlines()
    assert code == 0
    assert lines[:6] == [f"did: {DID}", "name: WhatsApp Principal", f"username: {USERNAME}",
                         "bot_name: Aynux", "organization_id: -", "enabled: yes"]
    assert lines[-1] == "password: (set, encrypted)"


def test_show_of_an_unknown_number_fails(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "credentials", "show", "--did", DID)

    assert (code, out) == (1, "")
    assert err == f"error: no Chattigo credentials stored for business number {DID}\n"


def test_update_changes_the_named_fields(capsys, monkeypatch, env):
    add_number(capsys, monkeypatch)

    code, out, _ = cli(capsys, monkeypatch, "credentials", "update", "--did", DID,
                       "--name", "Ventas", "--disable")

    assert (code, out) == (0, f"updated DID {DID}: enabled, name\n")
    info = stored(env).info(DID)
    assert (info.name, info.enabled) == ("Ventas", False)


def test_update_of_the_password_from_stdin(capsys, monkeypatch, env):
    add_number(capsys, monkeypatch)

    code, out, _ = cli(capsys, monkeypatch, "credentials", "update", "--did", DID,
                       "--password-stdin", stdin="N3w-Password\n")

    assert (code, out) == (0, f"updated DID {DID}: password\n")
    assert stored(env).get(DID).password.reveal() == "N3w-Password"


def test_update_without_changes_is_a_usage_error(capsys, monkeypatch):
    add_number(capsys, monkeypatch)

    code, _, err = cli(capsys, monkeypatch, "credentials", "update", "--did", DID)

    assert code == 2
    assert err.startswith("error: nothing to update: ")


def test_update_of_an_unknown_number_fails_before_reading_a_password(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "credentials", "update", "--did", DID,
                       "--password-stdin", stdin="")

    assert (code, err) == (1, f"error: no Chattigo credentials stored for business number "
                              f"{DID}\n")


def test_remove_deletes_the_number(capsys, monkeypatch, env):
    add_number(capsys, monkeypatch)

    assert cli(capsys, monkeypatch, "credentials", "remove", "--did", DID) == (
        0, f"removed DID {DID}\n", "")
    assert stored(env).list() == []


def test_remove_of_an_unknown_number_fails(capsys, monkeypatch):
    code, _, _ = cli(capsys, monkeypatch, "credentials", "remove", "--did", DID)

    assert code == 1


def test_login_test_says_ok(capsys, monkeypatch, chattigo):
    add_number(capsys, monkeypatch)

    code, out, err = cli(capsys, monkeypatch, "credentials", "test", "--did", DID,
                         "--base-url", chattigo)

    assert (code, out, err) == (0, f"ok: DID {DID} logged in to {chattigo} as {USERNAME}\n", "")


def test_login_test_takes_the_base_url_from_the_environment(capsys, monkeypatch, chattigo):
    add_number(capsys, monkeypatch)
    monkeypatch.setenv("CHATTIGO_BASE_URL", chattigo)

    code, out, _ = cli(capsys, monkeypatch, "credentials", "test", "--did", DID)

    assert (code, out) == (0, f"ok: DID {DID} logged in to {chattigo} as {USERNAME}\n")


def test_login_test_says_why_a_refused_login_failed(capsys, monkeypatch, chattigo):
    add_number(capsys, monkeypatch, DID, "wrong-password")

    code, out, err = cli(capsys, monkeypatch, "credentials", "test", "--did", DID,
                         "--base-url", chattigo)

    assert (code, out) == (1, "")
    assert err.startswith(f"failed: DID {DID} cannot log in to {chattigo}: Chattigo answered "
                          "HTTP 401: ")
    assert "wrong-password" not in err


def test_login_test_says_when_chattigo_cannot_be_reached(capsys, monkeypatch):
    add_number(capsys, monkeypatch)
    base_url = f"http://127.0.0.1:{free_port()}"

    code, _, err = cli(capsys, monkeypatch, "credentials", "test", "--did", DID,
                       "--base-url", base_url)

    assert code == 1
    assert err == (f"failed: DID {DID} cannot log in to {base_url}: cannot reach "
                   f"{base_url}/login (ConnectError)\n")


def test_rotate_key_moves_every_row_to_the_first_key(capsys, monkeypatch, env):
    add_number(capsys, monkeypatch)
    add_number(capsys, monkeypatch, "5215512345678")
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", f"{KEY_B},{KEY_A}")

    code, out, _ = cli(capsys, monkeypatch, "rotate-key")

    assert (code, out) == (0, f"re-encrypted 2 row(s) under key {fingerprint(KEY_B)}\n")
    assert stored(env, KEY_B).get(DID).password.reveal() == PASSWORD


def test_wrong_key_is_reported_with_the_did(capsys, monkeypatch):
    add_number(capsys, monkeypatch)
    monkeypatch.setenv("CHATTIGO_SECRET_KEY", KEY_B)

    code, _, err = cli(capsys, monkeypatch, "credentials", "test", "--did", DID)

    assert code == 1
    assert err.startswith(f"error: cannot decrypt password of DID {DID}: no configured key")


def test_store_option_wins_over_the_environment(capsys, monkeypatch, tmp_path):
    other = f"sqlite:///{tmp_path}/other.db"
    add_number(capsys, monkeypatch, DID, PASSWORD, "--store", other)

    assert cli(capsys, monkeypatch, "credentials", "list")[1] == "no credentials stored\n"
    assert DID in cli(capsys, monkeypatch, "credentials", "list", "--store", other)[1]


def test_no_secret_reaches_output_or_logs(capsys, monkeypatch, caplog, env, chattigo):
    caplog.set_level(logging.DEBUG)
    runs = [
        ("encrypt",),
        ("credentials", "add", "--did", DID, "--name", "n", "--username", USERNAME),
        ("credentials", "list"), ("credentials", "list", "--json"),
        ("credentials", "show", "--did", DID), ("credentials", "show", "--did", DID, "--json"),
        ("credentials", "test", "--did", DID, "--base-url", chattigo),
        ("credentials", "update", "--did", DID, "--password-stdin"),
        ("credentials", "test", "--did", DID, "--base-url", chattigo),
        ("rotate-key",),
    ]
    seen = []
    for argv in runs:
        keys = f"{KEY_B},{KEY_A}" if argv == ("rotate-key",) else KEY_A
        monkeypatch.setenv("CHATTIGO_SECRET_KEY", keys)
        code, out, err = cli(capsys, monkeypatch, *argv, stdin=PASSWORD + "\n")
        assert code == 0, (argv, err)
        seen += [out if argv != ("encrypt",) else "", err]
    engine = create_engine(env, future=True)
    with engine.connect() as conn:
        raw = conn.execute(select(credentials_table.c.password_encrypted)).scalar_one()
    engine.dispose()
    seen += [record.getMessage() for record in caplog.records]
    seen += [record.exc_text or "" for record in caplog.records]
    text = "\n".join(seen)
    assert len(caplog.records) > 0
    for secret in (PASSWORD, KEY_A, KEY_B, raw, raw[4:]):
        assert secret not in text
    assert "eyJ" not in text  # the sandbox's access tokens are JWTs
