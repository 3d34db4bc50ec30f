"""The sandbox command: a real subprocess that prints its URL, serves, and stops on SIGTERM."""

import argparse
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

import httpx
import pytest

from rasa_chattigo.sandbox.cli import build_sandbox, register

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "cli-S3cret-for-tests"  # a sandbox password, not a real secret
READY = re.compile(r"Chattigo sandbox listening on (http://127\.0\.0\.1:(\d+))\n")


def _read_line(proc: "subprocess.Popen[str]", timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the sandbox printed no ready line"
    return proc.stdout.readline()


@pytest.fixture
def running() -> Iterator[Tuple["subprocess.Popen[str]", str]]:
    env = {**os.environ, "CHATTIGO_PASSWORD": PASSWORD, "CHATTIGO_USERNAME": "cli@empresa"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_chattigo.sandbox", "--port", "0", "--did", "5491140001234"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(proc)
        match = READY.fullmatch(line)
        assert match, f"unexpected first line {line!r}"
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_prints_the_ready_line_and_answers_health(
    running: Tuple["subprocess.Popen[str]", str],
) -> None:
    _, url = running

    assert httpx.get(f"{url}/sandbox/health").json() == {"status": "ok"}


def test_cli_uses_the_credentials_from_the_environment(
    running: Tuple["subprocess.Popen[str]", str],
) -> None:
    _, url = running

    answer = httpx.post(f"{url}/login", json={"username": "cli@empresa", "password": PASSWORD})

    assert (answer.status_code, answer.json()["user"]) == (200, "cli@empresa")


def test_cli_stops_on_sigterm_without_printing_the_password(
    running: Tuple["subprocess.Popen[str]", str],
) -> None:
    proc, url = running
    httpx.post(f"{url}/login", json={"username": "cli@empresa", "password": PASSWORD})

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)

    assert proc.returncode == 0
    assert PASSWORD not in out + err
    assert "Sandbox: login of cli@empresa" in err


def test_cli_stops_on_sigint(running: Tuple["subprocess.Popen[str]", str]) -> None:
    proc, _ = running

    proc.send_signal(signal.SIGINT)

    assert proc.wait(timeout=20) == 0


def test_cli_reports_a_busy_port_and_exits_1() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "rasa_chattigo.sandbox", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_register_adds_the_sandbox_sub_command() -> None:
    parser = argparse.ArgumentParser(prog="rasa-chattigo")
    register(parser.add_subparsers(dest="command"))

    args = parser.parse_args(
        ["sandbox", "--port", "0", "--did", "1", "--did", "2", "--statuses", "--token-ttl", "5"]
    )

    assert (args.command, args.port, args.did, args.statuses, args.token_ttl) == (
        "sandbox",
        0,
        ["1", "2"],
        True,
        5.0,
    )
    assert args.handler.__name__ == "run"


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATTIGO_USERNAME", "env@empresa")
    monkeypatch.setenv("CHATTIGO_PASSWORD", PASSWORD)
    monkeypatch.setenv("CHATTIGO_DID", "5215512345678")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    sandbox = build_sandbox(parser.parse_args(["sandbox"]))

    assert sandbox.state.users == {"env@empresa": PASSWORD}
    assert sandbox.state.dids == {"env@empresa": ["5215512345678"]}


def test_built_in_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHATTIGO_USERNAME", "CHATTIGO_PASSWORD", "CHATTIGO_DID"):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    sandbox = build_sandbox(parser.parse_args(["sandbox"]))

    assert sandbox.state.users == {"demo@sandbox": "sandbox-password"}
    assert sandbox.state.dids == {"demo@sandbox": ["5492644710400"]}
    assert sandbox.port == 8090
    assert (sandbox.window, sandbox.statuses) == (True, False)


def test_no_window_turns_the_24_hour_rule_off() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    sandbox = build_sandbox(parser.parse_args(["sandbox", "--no-window", "--bot-name", "Aynux"]))

    assert (sandbox.window, sandbox.bot_name) == (False, "Aynux")
