"""CLI verbs for keys and stored credentials: keygen, encrypt, credentials ..., rotate-key."""

import argparse
import getpass
import json
import logging
import os
import sys
from typing import Any, Callable, List, Optional, Sequence

from rasa_chattigo.client import Login, run_with_client
from rasa_chattigo.credentials._crypto import KEY_ENV, encrypt_value, generate_key, load_keyring
from rasa_chattigo.credentials._providers import InlineCredentials
from rasa_chattigo.credentials._records import CredentialInfo
from rasa_chattigo.credentials._store import DEFAULT_STORE_URL, STORE_ENV, CredentialStore
from rasa_chattigo.errors import ChattigoError, CredentialNotFound
from rasa_chattigo.settings import DEFAULT_BASE_URL, parse_settings

logger = logging.getLogger(__name__)

OK, FAILED, USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace], int]


class _Failed(Exception):
    """A verb could not do its job; the message goes to stderr as is."""


def check_login(base_url: str, did: str, username: str, password: str, *,
                timeout: float = 10.0) -> None:
    """Logs `did` in to Chattigo once, through the channel's own client, keeping nothing.

    Raises:
        ChattigoError: a subclass saying why (refused login, Chattigo failing, no answer).
    """
    settings = parse_settings({"base_url": base_url, "did": did, "username": username,
                               "password": password, "timeout": timeout, "max_attempts": 1})
    credentials = InlineCredentials(Login(did, username, password))
    run_with_client(settings, credentials, lambda client: client.login(did))


def _read_secret(prompt: str, *, confirm: bool = False) -> str:
    """A secret from a hidden prompt when stdin is a terminal, else all of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        value = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat it: ") != value:
            raise _Failed("the two entries differ; nothing was changed")
    else:
        value = sys.stdin.read() if sys.stdin is not None else ""
        # Only the newline that `echo` or a file adds; other whitespace may be part of it.
        for ending in ("\r\n", "\n"):
            if value.endswith(ending):
                value = value[: -len(ending)]
                break
    if not value:
        raise _Failed("no secret given: type it at the prompt or pipe it on stdin")
    return value


def _store(args: argparse.Namespace) -> CredentialStore:
    url = args.store or os.environ.get(STORE_ENV) or DEFAULT_STORE_URL
    store = CredentialStore(url, load_keyring(args.key_file), cache_seconds=0)
    store.create_all()
    return store


def _guard(handler: Handler) -> Handler:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (ChattigoError, _Failed) as exc:
            print(f"error: {exc}", file=sys.stderr)
        except (KeyboardInterrupt, EOFError):
            print("error: cancelled", file=sys.stderr)
        return FAILED

    return guarded


def _keygen(args: argparse.Namespace) -> int:
    print(generate_key())
    return OK


def _encrypt(args: argparse.Namespace) -> int:
    keyring = load_keyring(args.key_file)
    if not keyring:
        raise _Failed(f"no key: set {KEY_ENV} or pass --key-file "
                      "(make a key with `rasa-chattigo keygen`)")
    print(encrypt_value(_read_secret("Secret to encrypt: "), keyring))
    return OK


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    password = _read_secret(f"Chattigo password for {args.username}: ", confirm=True)
    info = store.add(args.did, name=args.name, username=args.username, password=password,
                     bot_name=args.bot_name, organization_id=args.organization_id,
                     enabled=not args.disabled)
    print(f"added DID {info.did} ({info.name}){'' if info.enabled else ', disabled'}")
    return OK


def _list(args: argparse.Namespace) -> int:
    rows = _store(args).list()
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
        return OK
    if not rows:
        print("no credentials stored")
        return OK
    table = [("DID", "NAME", "USERNAME", "BOT NAME", "ORGANIZATION", "ENABLED", "UPDATED")]
    table += [(r.did, r.name, r.username, r.bot_name, r.organization_id or "-",
               "yes" if r.enabled else "no", r.updated_at.strftime("%Y-%m-%d %H:%M UTC"))
              for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    return OK


def _show(args: argparse.Namespace) -> int:
    info: CredentialInfo = _store(args).info(args.did)
    fields = info.to_dict()
    if args.json:
        print(json.dumps(fields, indent=2))
        return OK
    fields["organization_id"] = fields["organization_id"] or "-"
    fields["enabled"] = "yes" if info.enabled else "no"
    for key, value in fields.items():
        print(f"{key}: {value}")
    print("password: (set, encrypted)")
    return OK


def _update(args: argparse.Namespace) -> int:
    changes: dict = {key: getattr(args, key) for key in
                     ("name", "username", "bot_name", "organization_id", "enabled")
                     if getattr(args, key) is not None}
    if not changes and not args.password_stdin:
        print("error: nothing to update: give --name, --username, --bot-name, "
              "--organization-id, --enable/--disable or --password-stdin", file=sys.stderr)
        return USAGE
    store = _store(args)
    store.info(args.did)  # fail on an unknown DID before asking for a password
    if args.password_stdin:
        changes["password"] = _read_secret(f"New Chattigo password for DID {args.did}: ",
                                           confirm=True)
    store.update(args.did, **changes)
    print(f"updated DID {args.did}: {', '.join(sorted(changes))}")
    return OK


def _remove(args: argparse.Namespace) -> int:
    _store(args).remove(args.did)
    print(f"removed DID {args.did}")
    return OK


def _test(args: argparse.Namespace) -> int:
    base_url = args.base_url or os.environ.get("CHATTIGO_BASE_URL") or DEFAULT_BASE_URL
    creds = _store(args).get(args.did, include_disabled=True)
    if creds is None:
        raise CredentialNotFound(args.did)
    if not creds.enabled:
        print(f"note: DID {args.did} is disabled", file=sys.stderr)
    try:
        check_login(base_url, args.did, creds.username, creds.password.reveal(),
                    timeout=args.timeout)
    except ChattigoError as exc:
        print(f"failed: DID {args.did} cannot log in to {base_url}: {exc}", file=sys.stderr)
        return FAILED
    print(f"ok: DID {args.did} logged in to {base_url} as {creds.username}")
    return OK


def _rotate(args: argparse.Namespace) -> int:
    store = _store(args)
    if not store.keyring:
        raise _Failed(f"no key: set {KEY_ENV} (newest key first) or pass --key-file")
    count = store.rotate()
    print(f"re-encrypted {count} row(s) under key {store.keyring.fingerprints[0]}")
    return OK


def _verb(subparsers: Any, name: str, handler: Handler, text: str,
          parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=text, description=text, parents=list(parents))
    parser.set_defaults(handler=_guard(handler))
    return parser


def register(subparsers: Any) -> None:
    """Adds keygen, encrypt, credentials (add/list/show/update/remove/test) and rotate-key."""
    keys = argparse.ArgumentParser(add_help=False)
    keys.add_argument("--key-file", help=f"file of Fernet keys, newest first (default: {KEY_ENV})")
    store = argparse.ArgumentParser(add_help=False, parents=[keys])
    store.add_argument("--store", help=f"SQLAlchemy URL (default: ${STORE_ENV}, else "
                       f"{DEFAULT_STORE_URL})")
    did = argparse.ArgumentParser(add_help=False)
    did.add_argument("--did", required=True, help="WhatsApp Business number, digits only")

    _verb(subparsers, "keygen", _keygen, "print a new Fernet key")
    _verb(subparsers, "encrypt", _encrypt, "encrypt a secret read from a prompt or stdin; "
          "prints enc:<token>", [keys])
    _verb(subparsers, "rotate-key", _rotate, "re-encrypt every stored password under the "
          "first key", [store])

    group = subparsers.add_parser("credentials", help="manage stored Chattigo logins",
                                  description="Manage the Chattigo logins of business numbers.")
    verbs = group.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    _add_verb(verbs, [store, did])
    for name, handler, text in (("list", _list, "list stored numbers (no passwords)"),
                                ("show", _show, "show one number (no password)")):
        parser = _verb(verbs, name, handler, text, [store, did] if name == "show" else [store])
        parser.add_argument("--json", action="store_true", help="print JSON")
    _update_verb(verbs, [store, did])
    _verb(verbs, "remove", _remove, "delete a stored number", [store, did])
    test = _verb(verbs, "test", _test, "log in to Chattigo with the stored credentials",
                 [store, did])
    test.add_argument("--base-url", help="Chattigo base URL (default: $CHATTIGO_BASE_URL, "
                      f"else {DEFAULT_BASE_URL})")
    test.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")


def _add_verb(verbs: Any, parents: List[argparse.ArgumentParser]) -> None:
    add = _verb(verbs, "add", _add, "store a number; the password is read from a prompt or stdin",
                parents)
    add.add_argument("--name", required=True, help="label for people")
    add.add_argument("--username", required=True, help="Chattigo login")
    add.add_argument("--bot-name", default="Bot", help="sender name on messages (default: Bot)")
    add.add_argument("--organization-id", help="tenant id, free-form")
    add.add_argument("--disabled", action="store_true", help="store it switched off")


def _update_verb(verbs: Any, parents: List[argparse.ArgumentParser]) -> None:
    update = _verb(verbs, "update", _update, "change fields of a stored number", parents)
    update.add_argument("--name", help="new label")
    update.add_argument("--username", help="new Chattigo login")
    update.add_argument("--bot-name", help="new sender name")
    update.add_argument("--organization-id", help="new tenant id; an empty string clears it")
    switch = update.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True,
                        help="serve this number again")
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False,
                        help="keep the row but serve nothing")
    update.add_argument("--password-stdin", action="store_true",
                        help="read a new password from a prompt or stdin")


def run(argv: Optional[List[str]] = None) -> int:
    """Parses `argv` with only these verbs and runs one; returns the exit code."""
    parser = argparse.ArgumentParser(prog="rasa-chattigo")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    register(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2)
        return int(exc.code or 0)
    return int(args.handler(args))
