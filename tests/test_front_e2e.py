"""The webhook front under a real `rasa run`: answered through it, kept across a stop, gone with
`rasa run`, and a port in use stopping start-up (real processes, the real sandbox)."""

import os
import socket
import sqlite3
import time
from typing import List, Optional

import pytest

from rasa_chattigo.devtools._stack import LocalStack, free_port

from conftest import requires_nlu, requires_rasa_cli
from test_delivery_e2e import (
    make_stack,
    per_user,
    post_all,
    replies,
    start_slow,
    users_of,
    wait_for,
)

pytestmark = [pytest.mark.e2e, requires_rasa_cli, requires_nlu]


def front_url(port: int, stack: LocalStack) -> str:
    return f"http://127.0.0.1:{port}/webhooks/chattigo/webhook?token={stack.webhook_token}"


def front_pids() -> List[int]:
    """The webhook fronts running on this machine (their command line names the module)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        if b"rasa_chattigo.front" in argv:
            found.append(int(entry))
    return found


def kept_by_front(stack: LocalStack) -> int:
    path = stack.logs / "inbox-front.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM chattigo_delivery WHERE box = ?",
                              ("rasa_chattigo/in",)).fetchone()[0])


def test_a_stop_keeps_what_the_front_acknowledged_for_the_next_start() -> None:
    port = free_port()
    stack = make_stack("front-sigterm", front_port=port, front_host="127.0.0.1",
                       shutdown_grace_seconds=3)
    [user] = users_of(1)
    with stack:
        start_slow(stack)
        fronts = set(front_pids())
        post_all(front_url(port, stack), [user], 20)
        wait_for(lambda: len(replies(stack)) >= 1, "the first reply")
        assert stack.stop_rasa(0, grace=60) == 0
        wait_for(lambda: not fronts & set(front_pids()), "the front to exit", timeout=30)
        before_restart, left = len(replies(stack)), kept_by_front(stack)
        stack.start_rasa(wait=True)
        wait_for(lambda: kept_by_front(stack) == 0, "the front's inbox to empty")
        wait_for(lambda: per_user(stack).get(user, 0) >= 20, "every reply")
        time.sleep(1.0)
        counts = per_user(stack)
    print(f"\nfront, SIGTERM: {before_restart} answered within the grace, {left} kept by the "
          f"front; after restart {counts.get(user, 0)} replies in all")
    assert before_restart + left == 20
    assert counts == {user: 20}


def test_a_front_goes_when_rasa_run_is_killed() -> None:
    stack = make_stack("front-kill", slow=False, front_port=free_port(),
                       front_host="127.0.0.1")
    with stack:
        stack.start()
        before = set(front_pids())
        assert before
        stack.kill_rasa(0)
        wait_for(lambda: not before & set(front_pids()), "the front to exit", timeout=30)


def test_a_front_port_in_use_stops_rasa_run_with_one_line_naming_it() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    stack = make_stack("front-port-taken", slow=False, front_port=taken.getsockname()[1],
                       front_host="127.0.0.1")
    failure: Optional[Exception] = None
    try:
        with stack:
            try:
                stack.start(timeout=240)
            except RuntimeError as exc:
                failure = exc
    finally:
        taken.close()
    log = (stack.logs / "rasa-0.log").read_text(errors="replace")
    assert failure is not None and "exited" in str(failure)
    assert "setting 'front_port': cannot listen on 127.0.0.1" in log
    assert "Traceback" not in log
