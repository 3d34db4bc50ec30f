"""`rasa-chattigo send-template`: one template to many numbers, at most 1000 a request."""

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Dict, List

from rasa_chattigo.cli._chattigo import _common, _run
from rasa_chattigo.client import ChattigoClient
from rasa_chattigo.errors import ChattigoError, InvalidResponse
from rasa_chattigo.outbound import (
    CHATTIGO_SEND_PATH,
    MAX_DESTINATIONS,
    OutboundRequest,
    campaign_batches,
    new_message_id,
)


def register(subparsers: Any) -> None:
    """Adds `send-template`."""
    send = subparsers.add_parser(
        "send-template", help="send an approved template (HSM) to many numbers",
        description="Sends Chattigo's `type: HSM` request, at most --batch-size destinations "
        "each (Chattigo's limit: 1000). Templates are delivered outside WhatsApp's 24-hour "
        "window; Meta charges for each one delivered (docs/24-hour-window.md).",
    )
    _common(send)
    send.add_argument("--template", required=True, help="the approved template's name")
    send.add_argument("--language", required=True, help="its language code, e.g. es_AR")
    send.add_argument("--namespace", default=None, help="the template namespace, if any")
    send.add_argument("--to", action="append", default=[], metavar="NUMBER",
                      help="a destination, digits only; repeatable")
    send.add_argument("--file", type=Path, default=None,
                      help="a CSV file: one destination a line, its parameters after it")
    send.add_argument("--parameter", action="append", default=[], metavar="TEXT",
                      help="a parameter for every destination given with --to; repeatable")
    send.add_argument("--batch-size", type=int, default=MAX_DESTINATIONS,
                      help=f"destinations per request (default and most {MAX_DESTINATIONS})")
    send.set_defaults(handler=_send_template)


def read_destinations(args: argparse.Namespace) -> List[Dict[str, Any]]:
    """`--to` numbers (with the `--parameter`s) and the CSV file's lines, in order."""
    found: List[Dict[str, Any]] = []
    for number in args.to:
        found.append({"destination": number, **({"parameters": list(args.parameter)}
                                                  if args.parameter else {})})
    if args.file is not None:
        with args.file.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if row and row[0].strip():
                    destination: Dict[str, Any] = {"destination": row[0].strip()}
                    if row[1:]:
                        destination["parameters"] = [cell.strip() for cell in row[1:]]
                    found.append(destination)
    return found


def _send_template(args: argparse.Namespace) -> int:
    template = {"template": args.template, "languageCode": args.language}
    if args.namespace:
        template["namespace"] = args.namespace
    try:
        destinations = read_destinations(args)
        if not destinations:
            raise InvalidResponse("destinations", "none given: use --to or --file")
        batches = list(campaign_batches(template, destinations, args.batch_size))
    except (InvalidResponse, OSError) as exc:
        print(f"rasa-chattigo: {exc}", file=sys.stderr)
        return 2

    async def action(client: ChattigoClient) -> str:
        login = await client.credentials.get(args.did)
        sent = 0
        for number, hsm in enumerate(batches, start=1):
            message_id = new_message_id()
            body = {"id": message_id, "did": args.did, "type": "HSM", "channel": "WHATSAPP",
                    "name": login.bot_name, "hsm": hsm}
            count = len(hsm["destinations"])
            request = OutboundRequest(CHATTIGO_SEND_PATH, body, f"{count} destinations",
                                      message_id, "template")
            try:
                await client.send(args.did, request)
            except ChattigoError as exc:
                raise ChattigoError(f"request {number} of {len(batches)} (destinations "
                                    f"{sent + 1}-{sent + count}) not sent, the {sent} before "
                                    f"it were: {exc}") from None
            sent += count
        return (f"ok: template {args.template} to {sent} destinations in {len(batches)} "
                f"request(s) from {args.did} (accepted by Chattigo)")

    return _run(args, action)
