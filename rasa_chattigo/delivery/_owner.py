"""Who holds a claim or a stored message: one owner id per running channel, and its liveness."""

import os
import secrets
import socket
from typing import Iterable, Set

#: The owner of records released by hand (`rasa-chattigo outbox retry`): never alive.
NOBODY = ""


def new_owner_id() -> str:
    """A fresh owner id, `<host>/<pid>/<random>`: unique per channel instance and start."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


def locally_dead(owner: str) -> bool:
    """Whether `owner` ran on this host in a process that no longer exists.

    A process killed with SIGKILL leaves its lease alive until it expires; on the same host
    its pid says at once that it is gone, so a restart resumes without waiting for the lease.
    """
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def dead_owners(owners: Iterable[str], alive: Set[str], me: str) -> Set[str]:
    """The owners among `owners` whose records may be taken over by `me`."""
    return {owner for owner in owners
            if owner != me and (owner not in alive or locally_dead(owner))}
