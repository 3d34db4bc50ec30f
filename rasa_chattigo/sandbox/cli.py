"""The `sandbox` sub-command: serve a local Chattigo until SIGINT or SIGTERM."""

import argparse
import asyncio
import logging
import os
import signal
import sys
from typing import Any, List, Optional

from rasa_chattigo.sandbox.app import DEFAULT_DID, DEFAULT_PASSWORD, DEFAULT_USERNAME, Sandbox
from rasa_chattigo.sandbox.tokens import DEFAULT_TOKEN_TTL

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8090


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the sandbox options to `parser`."""
    _add_server_arguments(parser)
    _add_account_arguments(parser)
    _add_behaviour_arguments(parser)
    parser.set_defaults(handler=run)


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to bind (default {DEFAULT_PORT}; 0 picks a free one, printed when ready)",
    )


def _add_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--username",
        default=None,
        help=f"the account's user (default $CHATTIGO_USERNAME, else {DEFAULT_USERNAME})",
    )
    parser.add_argument(
        "--password",
        default=None,
        help="the account's password (default $CHATTIGO_PASSWORD, else the documented default)",
    )
    parser.add_argument(
        "--did",
        action="append",
        default=None,
        metavar="NUMBER",
        help=f"a business number of the user; repeatable (default $CHATTIGO_DID, {DEFAULT_DID})",
    )
    parser.add_argument(
        "--token-ttl",
        type=float,
        default=DEFAULT_TOKEN_TTL,
        help=f"seconds a login token stays valid (default {DEFAULT_TOKEN_TTL})",
    )


def _add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--statuses",
        action="store_true",
        help="post sent/delivered/read status webhooks after every accepted send",
    )
    parser.add_argument(
        "--no-window",
        dest="window",
        action="store_false",
        help="deliver free-form sends whenever they come, ignoring WhatsApp's 24-hour window "
        "(by default a free-form send outside it is answered 200, then reported failed, 131047)",
    )
    parser.add_argument(
        "--bot-name", default=None, help="the name the web chat shows before the bot's first send"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level of the sandbox's own log lines on stderr (default INFO)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Adds the `sandbox` sub-command to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run a local Chattigo stand-in",
        description="Serve a local Chattigo (login, webhooks, sends) and WhatsApp user simulation.",
    )
    add_arguments(parser)
    return parser


def build_sandbox(args: argparse.Namespace) -> Sandbox:
    """The sandbox the parsed options describe, with environment defaults applied."""
    username = args.username or os.environ.get("CHATTIGO_USERNAME") or DEFAULT_USERNAME
    password = args.password or os.environ.get("CHATTIGO_PASSWORD") or DEFAULT_PASSWORD
    dids = args.did or [os.environ.get("CHATTIGO_DID") or DEFAULT_DID]
    return Sandbox(
        users={username: password},
        dids={username: dids},
        token_ttl=args.token_ttl,
        statuses=args.statuses,
        window=args.window,
        bot_name=args.bot_name,
        host=args.host,
        port=args.port,
    )


def run(args: argparse.Namespace) -> int:
    """Serves until SIGINT or SIGTERM; returns the exit code."""
    _configure_logging(args.log_level)
    try:
        sandbox = build_sandbox(args)
    except ValueError as exc:
        print(f"rasa-chattigo sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(sandbox))
    except OSError as exc:
        print(
            f"rasa-chattigo sandbox: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _serve(sandbox: Sandbox) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sandbox.start()
    try:
        print(f"Chattigo sandbox listening on {sandbox.url}", flush=True)
        print(f"WhatsApp web chat: {sandbox.url}/", flush=True)
        users = ", ".join(f"{u} ({', '.join(d)})" for u, d in sandbox.state.dids.items())
        logger.info("Sandbox: accounts: %s", users)
        await stop.wait()
    finally:
        await sandbox.stop()


def _configure_logging(level: str) -> None:
    package = logging.getLogger("rasa_chattigo")
    package.setLevel(level)
    if not package.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        package.addHandler(handler)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m rasa_chattigo.sandbox`: the sub-command's options, as a program of its own."""
    parser = argparse.ArgumentParser(
        prog="python -m rasa_chattigo.sandbox", description="Run a local Chattigo stand-in."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))
