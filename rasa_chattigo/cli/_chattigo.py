"""CLI verbs that talk to Chattigo: `webhook register` and `send-test` (the guide's script)."""

import argparse
import os
import sys
from typing import Any

from rasa_chattigo.client import ChattigoClient, run_with_client
from rasa_chattigo.credentials._providers import provider_for_cli
from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.outbound._build import SendContext, build_requests
from rasa_chattigo.settings import DEFAULT_BASE_URL, parse_settings


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--did", required=True, help="the business number, digits only")
    parser.add_argument(
        "--base-url", default=None,
        help=f"Chattigo's base URL (default $CHATTIGO_BASE_URL, else {DEFAULT_BASE_URL})",
    )
    parser.add_argument("--store", default=None,
                        help="credentials store URL (default $CHATTIGO_CREDENTIALS_STORE); without "
                        "one, $CHATTIGO_USERNAME and $CHATTIGO_PASSWORD (plain or enc:) are used")
    parser.add_argument("--key-file", default=None, help="file of Fernet keys, one per line")


def register(subparsers: Any) -> None:
    """Adds `webhook register` and `send-test`."""
    webhook = subparsers.add_parser("webhook", help="manage the webhook Chattigo posts to")
    verbs = webhook.add_subparsers(dest="webhook_command", metavar="VERB")
    verbs.required = True
    reg = verbs.add_parser(
        "register", help="register the URL Chattigo posts a number's messages to",
        description="PATCH {base_url}/webhooks/inbound with waId and externalWebhook.",
    )
    _common(reg)
    reg.add_argument("--url", required=True, help="your public HTTPS webhook URL "
                     "(…/webhooks/chattigo/webhook, with ?token=… when webhook_token is set)")
    reg.set_defaults(handler=_register)

    send = subparsers.add_parser(
        "send-test", help="send one text message through Chattigo",
        description="Logs in and sends a text in Chattigo's own format, as the guide's "
        "scripts/test_chattigo.py --send-test does.",
    )
    _common(send)
    send.add_argument("--phone", required=True, help="the recipient's number, digits only")
    send.add_argument("--text", default="Mensaje de prueba de rasa-chattigo",
                      help="the text to send")
    send.set_defaults(handler=_send_test)


def _run(args: argparse.Namespace, action: Any) -> int:
    base_url = args.base_url or os.environ.get("CHATTIGO_BASE_URL") or DEFAULT_BASE_URL
    try:
        settings = parse_settings({"base_url": base_url, "did": args.did, "username": "-",
                                   "password": "-", "enabled": True})
        provider = provider_for_cli(args.did, store=args.store, key_file=args.key_file)
        message = run_with_client(settings, provider, action)
    except ChattigoError as exc:
        print(f"rasa-chattigo: {exc}", file=sys.stderr)
        return 1
    print(message)
    return 0


def _register(args: argparse.Namespace) -> int:
    async def action(client: ChattigoClient) -> str:
        await client.register_webhook(args.did, args.url)
        return f"ok: webhook of {args.did} registered"

    return _run(args, action)


def _send_test(args: argparse.Namespace) -> int:
    async def action(client: ChattigoClient) -> str:
        login = await client.credentials.get(args.did)
        context = SendContext(did=args.did, msisdn=args.phone, bot_name=login.bot_name)
        for request in build_requests({"text": args.text}, context, client.settings):
            await client.send(args.did, request)
        return f"ok: sent to {args.phone} from {args.did} (accepted by Chattigo)"

    return _run(args, action)
