"""The `rasa-chattigo` command: sandbox, demo chat, credentials, keys and Chattigo checks."""

import argparse
import logging
import sys
from typing import List, Optional

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The full command line, each group of verbs registered by the module that owns it."""
    from rasa_chattigo.cli import _chattigo as chattigo_cli
    from rasa_chattigo.cli import _credentials as admin_cli
    from rasa_chattigo.cli import _outbox as outbox_cli
    from rasa_chattigo.cli import _templates as templates_cli
    from rasa_chattigo.devtools import _demo as demo
    from rasa_chattigo.sandbox import cli as sandbox_cli

    parser = argparse.ArgumentParser(
        prog="rasa-chattigo",
        description="WhatsApp through Chattigo for Rasa: local sandbox, demo chat, credentials.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    sandbox_cli.register(subparsers)
    demo.register(subparsers)
    admin_cli.register(subparsers)
    chattigo_cli.register(subparsers)
    outbox_cli.register(subparsers)
    templates_cli.register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs one verb and returns its exit code (0 ok, 1 failed, 2 usage).

    The package's log lines go to stderr while the verb runs; the handler is removed after, so
    calling `main` in-process (as the tests do) leaves the logging set-up as it found it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    package = logging.getLogger("rasa_chattigo")
    level = package.level
    package.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    handler = None if package.handlers else logging.StreamHandler(sys.stderr)
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        package.addHandler(handler)
    try:
        return int(args.handler(args) or 0)
    finally:
        package.setLevel(level)
        if handler is not None:
            package.removeHandler(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
