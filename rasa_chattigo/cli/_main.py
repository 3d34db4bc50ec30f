"""The `rasa-chattigo` command: sandbox, demo chat, credentials, keys and Chattigo checks."""

import argparse
import logging
import sys
from typing import Any, List, Optional

logger = logging.getLogger(__name__)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is logged, not when the CLI started
    (called in-process, as the tests do, the stream of that moment may be closed later)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


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
    """Runs one verb and returns its exit code (0 ok, 1 failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    package = logging.getLogger("rasa_chattigo")
    package.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not package.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        package.addHandler(handler)
    return int(args.handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
