"""Settings: defaults in one place, one clear error naming the key."""

import pytest

from rasa_chattigo.errors import ConfigError
from rasa_chattigo.settings import DEFAULT_BASE_URL, parse_settings

from conftest import channel_settings

BASE = {"did": "5492644710400", "username": "u@x", "password": "pw"}


def test_defaults_apply_when_keys_are_absent(monkeypatch):
    monkeypatch.delenv("CHATTIGO_BASE_URL", raising=False)
    monkeypatch.delenv("CHATTIGO_ENABLED", raising=False)
    settings = parse_settings(BASE)
    assert (settings.base_url, settings.bot_name, settings.buttons, settings.ack) == (
        DEFAULT_BASE_URL, "Bot", "menu", "background")
    assert settings.sending_enabled is True


def test_an_unset_environment_variable_counts_as_absent(monkeypatch):
    monkeypatch.delenv("CHATTIGO_BASE_URL", raising=False)
    assert parse_settings({**BASE, "base_url": ""}).base_url == DEFAULT_BASE_URL


def test_base_url_environment_variable_fills_in(monkeypatch):
    monkeypatch.setenv("CHATTIGO_BASE_URL", "http://127.0.0.1:8090/")
    assert parse_settings(BASE).base_url == "http://127.0.0.1:8090"


def test_chattigo_enabled_false_turns_on_test_mode(monkeypatch):
    monkeypatch.setenv("CHATTIGO_ENABLED", "false")
    assert parse_settings(BASE).sending_enabled is False


@pytest.mark.parametrize(
    ("raw", "key", "problem"),
    [
        ({**BASE, "did": "+5492644710400"}, "did", "digits only"),
        ({**BASE, "colour": "blue"}, "colour", "unknown key"),
        ({"did": "1", "username": "u"}, "password", "is required"),
        ({**BASE, "base_url": "ftp://x"}, "base_url", "http:// or https://"),
        ({**BASE, "buttons": "fancy"}, "buttons", "'menu'"),
        ({**BASE, "max_attempts": 0}, "max_attempts", "at least 1"),
        ({**BASE, "timeout": "soon"}, "timeout", "not a valid float"),
        ({**BASE, "max_text_length": 5000}, "max_text_length", "between 1 and 4096"),
        ({**BASE, "max_text_length": 0}, "max_text_length", "between 1 and 4096"),
        ({**BASE, "max_pending_messages": 0}, "max_pending_messages", "at least 1"),
        ({**BASE, "dedup_max_bytes": 0}, "dedup_max_bytes", "at least 1"),
        ({**BASE, "allow_unauthenticated": "maybe"}, "allow_unauthenticated", "bool"),
        ({**BASE, "timeout": -1}, "timeout", "positive number of seconds"),
        ({**BASE, "timeout": "inf"}, "timeout", "positive number of seconds"),
        ({**BASE, "token_refresh_seconds": 0}, "token_refresh_seconds", "positive"),
        ({**BASE, "shutdown_grace_seconds": -5}, "shutdown_grace_seconds", "0 or more"),
        ({**BASE, "backoff_seconds": -0.5}, "backoff_seconds", "0 or more"),
        ({**BASE, "max_body_bytes": -1}, "max_body_bytes", "at least 1"),
        ({**BASE, "dedup_max_entries": 0}, "dedup_max_entries", "at least 1"),
        ({**BASE, "front_port": 0}, "front_port", "1 to 65535"),
        ({**BASE, "front_port": 70000}, "front_port", "1 to 65535"),
        ({**BASE, "front_port": "web"}, "front_port", "integer"),
    ],
)
def test_a_bad_setting_names_its_key(raw, key, problem, monkeypatch):
    monkeypatch.delenv("CHATTIGO_ENABLED", raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw)
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"rasa_chattigo.ChattigoInput: setting '{key}'")


@pytest.mark.parametrize(("given", "meant"), [
    (" Memory ", "memory"), ("MEMORY", "memory"),
    ("REDIS://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("Redis://:PassWord@host/1", "redis://:PassWord@host/1"),  # only the scheme is folded
])
def test_a_store_name_means_what_its_lower_case_spelling_means(given, meant):
    settings = parse_settings({**BASE, "dedup_store": given, "inbox_store": given})
    assert (settings.dedup_store, settings.inbox_store) == (meant, meant)


def test_the_hardening_defaults():
    settings = parse_settings(BASE)
    assert (settings.allow_unauthenticated, settings.max_pending_messages,
            settings.max_text_length, settings.dedup_max_bytes) == (
        False, 1000, 3000, 32 * 1024 * 1024)
    assert settings.fallback_reply.startswith("Lo siento")


def test_repr_hides_secrets():
    settings = parse_settings({**BASE, "password": "hunter2-secret", "webhook_token": "tok-123"})
    assert "hunter2-secret" not in repr(settings)
    assert "tok-123" not in repr(settings)


def test_repr_hides_passwords_inside_store_urls():
    settings = parse_settings({**BASE, "credentials_store": "postgresql://rasa:S3cret-pw@db/x",
                               "dedup_store": "redis://:R3dis-pw@redis:6379/0"})
    assert "S3cret-pw" not in repr(settings)
    assert "R3dis-pw" not in repr(settings)


def test_a_misspelt_dedup_store_stops_start_up_naming_the_key() -> None:
    from rasa_chattigo.channel import ChattigoInput
    from rasa_chattigo.errors import ChattigoStartupError

    with pytest.raises(ChattigoStartupError) as caught:
        ChattigoInput.from_credentials(channel_settings(dedup_store="redsi://127.0.0.1:6379/0"))
    assert str(caught.value) == (
        "rasa_chattigo.ChattigoInput: setting 'dedup_store': must be 'memory' or a redis://, "
        "rediss:// or unix:// URL")
    assert caught.value.key == "dedup_store"
