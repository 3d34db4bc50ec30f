"""CLI verbs for undelivered replies: `outbox list`, `outbox retry`, `outbox drop`."""

import argparse
import datetime
import os
import sys
import time
from typing import Any, Awaitable, Callable, List

from rasa_chattigo.client import run_in_new_loop
from rasa_chattigo.delivery import GIVEN_UP, OUTBOX, PENDING, BoxStore, Record, open_store
from rasa_chattigo.delivery._owner import NOBODY
from rasa_chattigo.errors import ChattigoError
from rasa_chattigo.settings import ChattigoSettings


def register(subparsers: Any) -> None:
    """Adds `outbox list|retry|drop`."""
    outbox = subparsers.add_parser(
        "outbox", help="show and manage replies Chattigo has not taken yet",
        description="Replies Chattigo refused are kept and retried for outbox_max_age_seconds, "
        "then given up. Point --store at the channel's inbox_store.")
    verbs = outbox.add_subparsers(dest="outbox_command", metavar="VERB")
    verbs.required = True
    show = verbs.add_parser("list", help="the replies waiting or given up, oldest first")
    _common(show)
    show.set_defaults(handler=lambda args: _run(args, _list))
    for verb, action, text in (("retry", _retry, "retry given-up replies (a running instance "
                                "takes them within a third of delivery_lease_seconds)"),
                               ("drop", _drop, "forget replies for good")):
        parser = verbs.add_parser(verb, help=text)
        _common(parser)
        parser.add_argument("keys", nargs="*", metavar="ID", help="reply ids (see `list`)")
        parser.add_argument("--given-up", action="store_true", help="every given-up reply")
        parser.set_defaults(handler=lambda args, action=action: _run(args, action))


def _common(parser: argparse.ArgumentParser) -> None:
    defaults = ChattigoSettings.__fields__
    parser.add_argument("--store", default=os.environ.get("CHATTIGO_INBOX_STORE", "sqlite"),
                        help="the channel's inbox_store: sqlite (the file at --path), "
                        "sqlite:///FILE, postgresql://..., redis://... "
                        "(default $CHATTIGO_INBOX_STORE, else sqlite)")
    parser.add_argument("--path", default=defaults["inbox_path"].default,
                        help="the channel's inbox_path, for --store sqlite (relative to where "
                        "rasa run runs; default %(default)s)")
    parser.add_argument("--namespace", default=defaults["store_namespace"].default,
                        help="the channel's store_namespace (default %(default)s)")


Action = Callable[[BoxStore, argparse.Namespace], Awaitable[int]]


def _run(args: argparse.Namespace, action: Action) -> int:
    url = "sqlite:///" + os.path.abspath(args.path) if args.store == "sqlite" else args.store

    async def go() -> int:
        store = open_store(url, args.namespace)
        try:
            return await action(store, args)
        finally:
            await store.aclose()

    try:
        return run_in_new_loop(go())
    except ChattigoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _list(store: BoxStore, args: argparse.Namespace) -> int:
    records = await store.records(OUTBOX)
    if not records:
        print("The outbox is empty.")
        return 0
    for record in records:
        age = time.time() - record.created_at
        print(f"{record.key}  {record.state:<8}  to {record.conversation}  {record.attempts} "
              f"attempt(s)  kept {_when(record.created_at)} ({age:.0f}s ago)  {record.error}")
    return 0


async def _chosen(store: BoxStore, args: argparse.Namespace) -> List[Record]:
    if not args.keys and not args.given_up:
        raise ChattigoError("name reply ids, or --given-up")
    wanted = set(args.keys)
    chosen = [r for r in await store.records(OUTBOX)
              if r.key in wanted or (args.given_up and r.state == GIVEN_UP)]
    missing = wanted - {r.key for r in chosen}
    if missing:
        raise ChattigoError(f"not in the outbox: {', '.join(sorted(missing))}")
    return chosen


async def _retry(store: BoxStore, args: argparse.Namespace) -> int:
    chosen = await _chosen(store, args)
    for record in chosen:
        record.state, record.attempts, record.next_at = PENDING, 0, 0.0
        record.created_at, record.owner, record.error = time.time(), NOBODY, "retry requested"
        await store.save(record)
    print(f"{len(chosen)} reply(ies) queued for another try")
    return 0


async def _drop(store: BoxStore, args: argparse.Namespace) -> int:
    chosen = await _chosen(store, args)
    for record in chosen:
        await store.remove(OUTBOX, record.key)
    print(f"{len(chosen)} reply(ies) dropped")
    return 0


def _when(stamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    return moment.isoformat(timespec="seconds")
