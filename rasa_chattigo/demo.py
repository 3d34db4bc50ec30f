"""`rasa-chattigo demo`: the sandbox, `rasa run` and a terminal chat as a WhatsApp user."""

import argparse
import asyncio
import logging
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, TextIO

import httpx

from rasa_chattigo.chat import ChatSession
from rasa_chattigo.client import ChattigoClient, Login
from rasa_chattigo.credentials import InlineCredentials
from rasa_chattigo.settings import parse_settings

logger = logging.getLogger(__name__)

DEMO_DID = "5492644710400"
DEMO_USER = "5492644472542"
DEMO_USERNAME = "demo@sandbox"


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the `demo` verb."""
    parser = subparsers.add_parser(
        "demo",
        help="run the sandbox and `rasa run`, then chat as a WhatsApp user",
        description="Starts the Chattigo sandbox and `rasa run` with the chattigo channel, "
        "registers the webhook through the real PATCH call, then reads lines from standard "
        "input and sends each as a WhatsApp user, printing the bot's replies as the sandbox "
        "received them. Ends at end of input or Ctrl-C, stopping everything it started.",
    )
    parser.add_argument("--project", default="bot_project", help="the Rasa project folder")
    parser.add_argument("--model", default=None, help="model file or folder (default: project's models/)")
    parser.add_argument("--did", default=DEMO_DID, help="the business number")
    parser.add_argument("--phone", default=DEMO_USER, help="the WhatsApp user's number")
    parser.add_argument("--name", default="Usuario Demo", help="the WhatsApp user's profile name")
    parser.add_argument("--logs", default="run", help="folder for sandbox.log and rasa.log")
    parser.add_argument("--reply-timeout", type=float, default=60.0,
                        help="seconds to wait for the first reply to a message")
    parser.set_defaults(handler=_run)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Child processes that are always stopped, whatever happens."""

    def __init__(self) -> None:
        self._children: List[subprocess.Popen] = []

    def start(self, argv: List[str], *, env: Dict[str, str], log: Path, cwd: Optional[str] = None
              ) -> subprocess.Popen:
        """Starts `argv` with its output going to `log`."""
        handle = open(log, "ab")  # noqa: SIM115 - closed with the process
        child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        self._children.append(child)
        return child

    def stop(self) -> None:
        """SIGTERM each child, then SIGKILL what is still there after 20 s."""
        for child in reversed(self._children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(self._children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()


async def wait_until_up(url: str, child: subprocess.Popen, *, timeout: float, what: str) -> None:
    """Polls `url` until it answers 200; fails early if the process died."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{what} exited with code {child.returncode}")
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")
            await asyncio.sleep(0.3)


def _run(args: argparse.Namespace) -> int:
    processes = Processes()
    try:
        return asyncio.run(_demo(args, processes, sys.stdin, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"rasa-chattigo demo: {exc}", file=sys.stderr)
        return 1
    finally:
        processes.stop()


async def _demo(args: argparse.Namespace, processes: Processes, stdin: TextIO, stdout: TextIO
                ) -> int:
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    project = Path(args.project).resolve()
    model = Path(args.model).resolve() if args.model else project / "models"
    password = secrets.token_urlsafe(18)  # a throw-away sandbox password, never printed
    sandbox_port, rasa_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = dict(os.environ, CHATTIGO_BASE_URL=sandbox_url, CHATTIGO_DID=args.did,
               CHATTIGO_USERNAME=DEMO_USERNAME, CHATTIGO_PASSWORD=password,
               RASA_TELEMETRY_ENABLED="false")
    bin_dir = Path(sys.executable).parent
    sandbox = processes.start(
        [sys.executable, "-m", "rasa_chattigo", "sandbox", "--host", "127.0.0.1",
         "--port", str(sandbox_port), "--username", DEMO_USERNAME, "--did", args.did],
        env=env, log=logs / "sandbox.log",
    )
    rasa = processes.start(
        [str(bin_dir / "rasa"), "run", "-i", "127.0.0.1", "-p", str(rasa_port), "-m", str(model),
         "--credentials", "credentials.yml", "--endpoints", "endpoints.yml"],
        env=env, log=logs / "rasa.log", cwd=str(project),
    )
    print(f"Starting the Chattigo sandbox and rasa run (logs in {logs}/) ...", file=sys.stderr)
    await wait_until_up(f"{sandbox_url}/sandbox/health", sandbox, timeout=30, what="the sandbox")
    webhook = f"http://127.0.0.1:{rasa_port}/webhooks/chattigo/webhook"
    await wait_until_up(f"http://127.0.0.1:{rasa_port}/webhooks/chattigo/", rasa, timeout=180,
                        what="rasa run")
    settings = parse_settings({"base_url": sandbox_url, "did": args.did,
                               "username": DEMO_USERNAME, "password": password})
    client = ChattigoClient(settings, InlineCredentials(Login(args.did, DEMO_USERNAME, password)))
    try:
        await client.register_webhook(args.did, webhook)
    finally:
        await client.aclose()
    print(f"Webhook of {args.did} registered: {webhook}", file=sys.stderr)
    session = ChatSession(sandbox_url, did=args.did, phone=args.phone, name=args.name,
                          reply_timeout=args.reply_timeout)
    return await session.run(stdin, stdout)
