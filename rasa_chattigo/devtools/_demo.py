"""`rasa-chattigo demo`: the sandbox, `rasa run` and a terminal chat as a WhatsApp user."""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from rasa_chattigo.devtools._chat import ChatSession
from rasa_chattigo.devtools._stack import LocalStack

logger = logging.getLogger(__name__)

DEMO_DID = "5492644710400"
DEMO_USER = "5492644472542"


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
    parser.add_argument("--model", default=None,
                        help="the trained model (default: the project's models/current.tar.gz)")
    parser.add_argument("--did", default=DEMO_DID, help="the business number")
    parser.add_argument("--phone", default=DEMO_USER, help="the WhatsApp user's number")
    parser.add_argument("--name", default="Usuario Demo", help="the WhatsApp user's profile name")
    parser.add_argument("--logs", default="run", help="folder for sandbox.log and rasa-0.log")
    parser.add_argument("--reply-timeout", type=float, default=60.0,
                        help="seconds to wait for the first reply to a message")
    parser.add_argument("--buttons", choices=("menu", "native"), default=None,
                        help="override the channel's `buttons` setting: native shows tappable "
                        "buttons and lists in the web chat (the terminal then needs :boton ID)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    project = Path(args.project)
    model = Path(args.model) if args.model else project / "models" / "current.tar.gz"
    if not model.exists():
        print(f"rasa-chattigo demo: no model at {model}; train first (make run does)",
              file=sys.stderr)
        return 1
    # Statuses drive the web chat's ticks; the sandbox enforces the 24-hour window by default.
    credentials = "credentials.yml"
    if args.buttons:
        credentials = str(_with_buttons(project, Path(args.logs), args.buttons))
    stack = LocalStack(project, model, did=args.did, logs=Path(args.logs),
                       credentials=credentials, sandbox_args=["--statuses"])
    try:
        print(f"Starting the Chattigo sandbox and rasa run (logs in {args.logs}/) ...",
              file=sys.stderr, flush=True)
        stack.start()
        print(f"Webhook of {args.did} registered: {stack.webhook_url}", file=sys.stderr,
              flush=True)
        print(f"WhatsApp web chat: {stack.sandbox_url}/?phone={args.phone}&did={args.did} "
              "(open it in a browser; this terminal chats too)", file=sys.stderr, flush=True)
        session = ChatSession(stack.sandbox_url, did=args.did, phone=args.phone,
                              name=args.name, reply_timeout=args.reply_timeout)
        return asyncio.run(session.run(sys.stdin, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except RuntimeError as exc:
        print(f"rasa-chattigo demo: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()


def _with_buttons(project: Path, folder: Path, buttons: str) -> Path:
    """A copy of the project's credentials.yml with the channel's `buttons` setting replaced."""
    import yaml

    credentials = yaml.safe_load((project / "credentials.yml").read_text(encoding="utf-8"))
    credentials["rasa_chattigo.ChattigoInput"]["buttons"] = buttons
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"credentials-{buttons}.yml"
    path.write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
    return path.resolve()
