"""Tests of Fernet keyrings, `enc:` values, key loading and the Secret holder."""

import copy
import logging
import os
import pickle

import pytest
from cryptography.fernet import Fernet

from rasa_chattigo.credentials._crypto import (
    ENC_PREFIX,
    Keyring,
    Secret,
    encrypt_value,
    fingerprint,
    generate_key,
    load_keyring,
    resolve_secret,
)
from rasa_chattigo.errors import CredentialError

KEY_A = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # bytes 0..31
KEY_B = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="  # bytes 32..63
# printf %s KEY_A | sha256sum, first 8 hex characters
KEY_A_PRINT = "905f28de"
PASSWORD = "Chattigo-Passw0rd!"
WHAT = "password of DID 5492644710400"
WHAT_TO_DO = ("set CHATTIGO_SECRET_KEY to the key that encrypted it, or re-encrypt with "
              "`rasa-chattigo encrypt`")
WRONG_KEY = (f"cannot decrypt {WHAT}: no configured key opens it (wrong key, or the value was "
             f"altered); {WHAT_TO_DO}")


def failure(value: str, keyring: Keyring) -> CredentialError:
    with pytest.raises(CredentialError) as caught:
        resolve_secret(value, keyring, what=WHAT)
    return caught.value


def test_round_trip_gives_back_the_plain_value():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    assert value.startswith(ENC_PREFIX)
    assert PASSWORD not in value
    assert resolve_secret(value, Keyring([KEY_A]), what=WHAT) == PASSWORD


def test_value_is_a_standard_fernet_token_after_the_prefix():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    assert Fernet(KEY_A).decrypt(value[len(ENC_PREFIX):].encode()).decode() == PASSWORD


def test_plain_value_passes_through_without_any_key():
    assert resolve_secret(PASSWORD, Keyring(), what=WHAT) == PASSWORD


def test_first_key_encrypts():
    value = encrypt_value(PASSWORD, Keyring([KEY_B, KEY_A]))

    assert resolve_secret(value, Keyring([KEY_B]), what=WHAT) == PASSWORD
    assert failure(value, Keyring([KEY_A])).args == (WRONG_KEY,)


def test_old_key_still_decrypts_after_a_new_key_is_put_first():
    old_value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    assert resolve_secret(old_value, Keyring([KEY_B, KEY_A]), what=WHAT) == PASSWORD


def test_reencrypt_moves_a_token_to_the_first_key():
    old_token = Keyring([KEY_A]).encrypt(PASSWORD)

    new_token = Keyring([KEY_B, KEY_A]).reencrypt(old_token, what=WHAT)

    assert new_token != old_token
    assert Keyring([KEY_B]).decrypt(new_token, what=WHAT) == PASSWORD


def test_wrong_key_names_what_failed_and_what_to_do():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    assert str(failure(value, Keyring([KEY_B]))) == WRONG_KEY


def test_missing_key_names_what_failed_and_what_to_do():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    assert str(failure(value, Keyring())) == (
        f"cannot decrypt {WHAT}: no key is configured; {WHAT_TO_DO}")


def test_tampered_value_is_refused_like_a_wrong_key():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))
    middle = len(value) // 2
    tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]

    assert str(failure(tampered, Keyring([KEY_A]))) == WRONG_KEY


def test_garbage_after_the_prefix_is_refused_like_a_wrong_key():
    assert str(failure("enc:not-a-token", Keyring([KEY_A]))) == WRONG_KEY


def test_failure_hides_secret_key_and_token_and_its_cause():
    value = encrypt_value(PASSWORD, Keyring([KEY_A]))

    error = failure(value, Keyring([KEY_B]))

    text = repr(error) + str(error)
    for secret in (PASSWORD, KEY_A, KEY_B, value[len(ENC_PREFIX):]):
        assert secret not in text
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


def test_encrypting_without_a_key_says_how_to_get_one():
    with pytest.raises(CredentialError) as caught:
        encrypt_value(PASSWORD, Keyring())

    assert str(caught.value) == ("cannot encrypt: no key is configured; set CHATTIGO_SECRET_KEY "
                                 "(make a key with `rasa-chattigo keygen`)")


def test_fingerprint_is_the_start_of_the_keys_sha256():
    assert fingerprint(KEY_A) == KEY_A_PRINT


def test_keyring_repr_shows_count_and_fingerprint_only():
    keyring = Keyring([KEY_A, KEY_B])

    assert repr(keyring) == f"Keyring(keys=2, primary='{KEY_A_PRINT}')"


def test_malformed_key_is_named_by_position_without_showing_it():
    with pytest.raises(CredentialError) as caught:
        Keyring([KEY_A, "too-short-key"], source="CHATTIGO_SECRET_KEY")

    assert str(caught.value) == (
        "CHATTIGO_SECRET_KEY: key 2 is not a valid Fernet key (32 url-safe base64-encoded "
        "bytes); make one with `rasa-chattigo keygen`")


def test_generated_key_is_a_working_fernet_key():
    key = generate_key()

    assert Keyring([key]).decrypt(Keyring([key]).encrypt("x"), what=WHAT) == "x"


def test_env_keys_are_comma_separated_newest_first():
    keyring = load_keyring(environ={"CHATTIGO_SECRET_KEY": f" {KEY_B} , {KEY_A} ,"})

    assert keyring.fingerprints == [fingerprint(KEY_B), KEY_A_PRINT]


def test_no_env_key_gives_an_empty_keyring():
    assert len(load_keyring(environ={})) == 0


def test_key_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2024-05\n{KEY_B}  # current\n\n{KEY_A}\n")
    os.chmod(path, 0o600)

    keyring = load_keyring(str(path), environ={})

    assert keyring.fingerprints == [fingerprint(KEY_B), KEY_A_PRINT]


def test_key_file_wins_over_the_environment(tmp_path):
    path = tmp_path / "keys"
    path.write_text(KEY_A + "\n")
    os.chmod(path, 0o600)

    keyring = load_keyring(str(path), environ={"CHATTIGO_SECRET_KEY": KEY_B})

    assert keyring.fingerprints == [KEY_A_PRINT]


def test_missing_key_file_is_named(tmp_path):
    path = tmp_path / "absent"

    with pytest.raises(CredentialError) as caught:
        load_keyring(str(path), environ={})

    assert str(caught.value) == (
        f"secret_key_file {path}: cannot read it (No such file or directory)")


def test_key_file_without_keys_is_refused(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# nothing yet\n")

    with pytest.raises(CredentialError) as caught:
        load_keyring(str(path), environ={})

    assert str(caught.value) == (
        f"secret_key_file {path}: holds no key (one Fernet key per line)")


def test_key_file_readable_by_others_is_warned_about(tmp_path, caplog):
    path = tmp_path / "keys"
    path.write_text(KEY_A + "\n")
    os.chmod(path, 0o644)

    with caplog.at_level(logging.WARNING, logger="rasa_chattigo.credentials._crypto"):
        load_keyring(str(path), environ={})

    assert [r.getMessage() for r in caplog.records] == [
        f"Secret key file {path} is readable by other users; chmod 600 it"]


def test_secret_hides_itself_everywhere_but_reveal():
    secret = Secret(PASSWORD)

    assert repr(secret) == "Secret('***')"
    assert str(secret) == "Secret('***')"
    assert f"{secret}" == "Secret('***')"
    assert secret.reveal() == PASSWORD


def test_secrets_compare_by_value():
    assert Secret(PASSWORD) == Secret(PASSWORD)
    assert Secret(PASSWORD) != Secret("other")


def test_secret_refuses_pickling_but_copies():
    secret = Secret(PASSWORD)

    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert copy.deepcopy(secret).reveal() == PASSWORD
