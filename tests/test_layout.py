"""The package's shape: a curated public surface, pure packages, dev tools off the import path."""

import json
import subprocess
import sys

import pytest

import rasa_chattigo

WEB_LIBRARIES = ("sanic", "httpx", "aiohttp", "rasa", "sqlalchemy", "redis")


def _modules_after(statement: str) -> "set[str]":
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return set(json.loads(out))


def test_every_exported_name_exists_and_nothing_public_is_missing() -> None:
    exported = set(rasa_chattigo.__all__)
    for name in exported:
        assert getattr(rasa_chattigo, name) is not None, name
    errors = {name for name in dir(rasa_chattigo.errors)
              if isinstance(getattr(rasa_chattigo.errors, name), type)
              and issubclass(getattr(rasa_chattigo.errors, name), Exception)}
    assert errors | {"ChattigoStartupError"} <= exported


def test_the_error_tree_has_one_root() -> None:
    for name in rasa_chattigo.__all__:
        value = getattr(rasa_chattigo, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, rasa_chattigo.ChattigoError), name


def test_the_startup_error_is_one_line_for_rasa_and_names_the_key() -> None:
    from rasa.shared.exceptions import RasaException

    error = rasa_chattigo.ChattigoStartupError(rasa_chattigo.ConfigError("did", "is required"))
    assert isinstance(error, RasaException)
    assert isinstance(error, rasa_chattigo.ConfigError)
    assert error.key == "did"
    assert str(error) == "rasa_chattigo.ChattigoInput: setting 'did': is required"


@pytest.mark.parametrize("package", ["rasa_chattigo.inbound", "rasa_chattigo.outbound"])
def test_pure_packages_import_no_web_library(package: str) -> None:
    loaded = _modules_after(f"import {package}")
    assert sorted(m for m in loaded if m.split(".")[0] in WEB_LIBRARIES) == []


def test_the_channel_loads_no_developer_tool() -> None:
    loaded = _modules_after("import rasa_chattigo.channel")
    dev = sorted(m for m in loaded
                 if m.split(".")[:2] in (["rasa_chattigo", "sandbox"],
                                         ["rasa_chattigo", "devtools"], ["rasa_chattigo", "cli"]))
    assert dev == []


def test_the_sandbox_and_the_cli_start_without_rasa() -> None:
    loaded = _modules_after("import rasa_chattigo.sandbox, rasa_chattigo.cli")
    assert sorted(m for m in loaded if m.split(".")[0] == "rasa") == []
