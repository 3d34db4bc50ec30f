"""Starts the sandbox and `rasa run` as child processes on free ports, wired together.

Used by `rasa-chattigo demo`, the end-to-end tests and the benchmarks, so all three run the
same thing a user runs.
"""

import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import httpx

from rasa_chattigo.client import Login, run_with_client
from rasa_chattigo.credentials._providers import InlineCredentials
from rasa_chattigo.settings import parse_settings

logger = logging.getLogger(__name__)

SANDBOX_USERNAME = "demo@sandbox"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalStack:
    """The sandbox and one or more `rasa run` processes serving a Rasa project over Chattigo.

    Args:
        project: the Rasa project folder (its credentials.yml names the chattigo channel).
        model: the trained model file.
        did: the business number the sandbox and the channel use.
        logs: folder for sandbox.log and rasa-N.log.
        extra_env: more environment for the child processes.
        endpoints: the endpoints file, relative to the project (tracker/lock stores).
        credentials: the credentials file, relative to the project.
        sandbox_args: extra `rasa-chattigo sandbox` arguments (e.g. `--token-ttl`).
        rasa_args: extra `rasa run` arguments (e.g. `--enable-api`).
        webhook_token: the channel's `webhook_token` (CHATTIGO_WEBHOOK_TOKEN); a random one
            by default, so the webhook is never open.
    """

    def __init__(
        self,
        project: Path,
        model: Path,
        *,
        did: str,
        logs: Path,
        extra_env: Optional[Dict[str, str]] = None,
        endpoints: str = "endpoints.yml",
        credentials: str = "credentials.yml",
        sandbox_args: Sequence[str] = (),
        rasa_args: Sequence[str] = (),
        webhook_token: Optional[str] = None,
    ) -> None:
        self.project = Path(project).resolve()
        self.model = Path(model).resolve()
        self.did = did
        self.logs = Path(logs)
        self.endpoints = endpoints
        self.credentials = credentials
        self.password = secrets.token_urlsafe(18)  # throw-away sandbox password, never printed
        self.webhook_token = webhook_token or secrets.token_urlsafe(24)
        self.sandbox_url = f"http://127.0.0.1:{free_port()}"
        self.rasa_urls: List[str] = []
        self._sandbox_args = list(sandbox_args)
        self._rasa_args = list(rasa_args)
        self._env = dict(
            os.environ, CHATTIGO_BASE_URL=self.sandbox_url, CHATTIGO_DID=did,
            CHATTIGO_USERNAME=SANDBOX_USERNAME, CHATTIGO_PASSWORD=self.password,
            CHATTIGO_WEBHOOK_TOKEN=self.webhook_token,
            RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", **(extra_env or {}),
        )
        self._sandbox: Optional[subprocess.Popen] = None
        self._actions: Optional[subprocess.Popen] = None
        self._rasa: List[subprocess.Popen] = []

    @property
    def pids(self) -> Dict[str, int]:
        """The pids of the running children: `sandbox`, `actions`, `rasa-0`, `rasa-1`, ..."""
        named = {"sandbox": self._sandbox, "actions": self._actions,
                 **{f"rasa-{n}": child for n, child in enumerate(self._rasa)}}
        return {name: child.pid for name, child in named.items()
                if child is not None and child.poll() is None}

    @property
    def webhook_url(self) -> str:
        """The webhook of the first `rasa run`, with its `?token=`."""
        return self.webhook_of(self.rasa_urls[0])

    def webhook_of(self, rasa_url: str) -> str:
        """The webhook URL, with its `?token=`, of the `rasa run` at `rasa_url`."""
        return f"{rasa_url}/webhooks/chattigo/webhook?token={self.webhook_token}"

    def start(self, *, rasa_instances: int = 1, timeout: float = 240.0) -> "LocalStack":
        """Starts everything and registers the first instance's webhook with the sandbox."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self._sandbox = self._spawn(
            [sys.executable, "-m", "rasa_chattigo", "sandbox", "--host", "127.0.0.1",
             "--port", self.sandbox_url.rsplit(":", 1)[1], "--username", SANDBOX_USERNAME,
             "--did", self.did, *self._sandbox_args],
            self.logs / "sandbox.log", cwd=None,
        )
        for _ in range(rasa_instances):
            self.start_rasa()
        _wait_up(f"{self.sandbox_url}/sandbox/health", self._sandbox, timeout, "the sandbox")
        for url, child in zip(self.rasa_urls, self._rasa):
            _wait_up(f"{url}/webhooks/chattigo/", child, timeout, "rasa run")
        self.register_webhook(self.webhook_url)
        return self

    def start_action_server(self, module: str = "actions", *, timeout: float = 120.0) -> str:
        """Starts `rasa run actions` for the project's custom actions; returns its webhook URL.

        Call it before `start`, and name the URL as `action_endpoint` in the endpoints file.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self._env["SANIC_HOST"] = "127.0.0.1"  # rasa_sdk binds every interface otherwise
        child = self._spawn(
            [str(Path(sys.executable).parent / "rasa"), "run", "actions", "--actions", module,
             "--port", str(port)],
            self.logs / "actions.log", cwd=str(self.project),
        )
        self._actions = child
        _wait_up(f"http://127.0.0.1:{port}/health", child, timeout, "the action server")
        return f"http://127.0.0.1:{port}/webhook"

    def start_rasa(self, *, wait: bool = False, timeout: float = 240.0) -> str:
        """Starts one more `rasa run` on a free port; returns its base URL."""
        url = f"http://127.0.0.1:{free_port()}"
        child = self._spawn(
            [str(Path(sys.executable).parent / "rasa"), "run", "-i", "127.0.0.1",
             "-p", url.rsplit(":", 1)[1], "-m", str(self.model),
             "--credentials", self.credentials, "--endpoints", self.endpoints,
             *self._rasa_args],
            self.logs / f"rasa-{len(self._rasa)}.log", cwd=str(self.project),
        )
        self._rasa.append(child)
        self.rasa_urls.append(url)
        if wait:
            _wait_up(f"{url}/webhooks/chattigo/", child, timeout, "rasa run")
        return url

    def stop_rasa(self, index: int = 0, *, grace: float = 30.0) -> int:
        """Stops one `rasa run` with SIGTERM, as a deployment would; returns its exit code."""
        return _stop(self._rasa[index], grace)

    def kill_rasa(self, index: int = 0) -> int:
        """Kills one `rasa run` with SIGKILL, as a crash would; returns its exit code."""
        child = self._rasa[index]
        child.kill()
        return child.wait()

    def register_webhook(self, url: str, did: Optional[str] = None) -> None:
        """Registers `url` for a business number (default: the stack's) via the real PATCH."""
        did = did or self.did
        settings = parse_settings({"base_url": self.sandbox_url, "did": did,
                                   "username": SANDBOX_USERNAME, "password": self.password})
        credentials = InlineCredentials(Login(did, SANDBOX_USERNAME, self.password))
        run_with_client(settings, credentials, lambda client: client.register_webhook(did, url))

    def stop(self) -> None:
        """Stops every process this stack started."""
        for child in [*self._rasa, self._actions, self._sandbox]:
            if child is not None:
                _stop(child)

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, argv: List[str], log: Path, cwd: Optional[str]) -> subprocess.Popen:
        with open(log, "ab") as handle:
            return subprocess.Popen(  # noqa: S603 - our own commands, no shell
                argv, env=self._env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
            )


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies.

    Children run in their own session, so a Ctrl-C reaches only the parent, which stops them
    in order; this covers the parent dying first (a closed terminal, SIGKILL).
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_up(url: str, child: subprocess.Popen, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{what} exited with code {child.returncode}; see its log")
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up within {timeout:.0f}s; see its log")
            time.sleep(0.3)


def _stop(child: subprocess.Popen, grace: float = 30.0) -> int:
    if child.poll() is None:
        child.terminate()
    try:
        return child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
