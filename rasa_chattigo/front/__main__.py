"""`python -m rasa_chattigo.front FD`: the webhook front's process, as `rasa run` starts it
(`FD` is its end of the link; the settings come over the link, never on the command line)."""

import asyncio
import logging
import signal
import socket
import sys
from typing import List

from rasa_chattigo.front._link import Link
from rasa_chattigo.front._serve import serve

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s  - [webhook front] %(message)s"


def main(argv: List[str]) -> int:
    """Runs the front on the link `argv[0]` names; its exit code."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m rasa_chattigo.front FD (rasa run starts it; see docs/front.md)",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("sanic.root").setLevel(logging.WARNING)  # its banner: not ours to print
    # The front runs in a session of its own; a SIGTERM that still reaches it (a service
    # manager stopping every process of the service) is for `rasa run`, which stops the front
    # in order (it finishes its turns first, then says stop); the link closing stops it too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(argv[0]))
    try:
        import uvloop  # Sanic's loop, as under `rasa run`
    except ImportError:  # pragma: no cover - Sanic installs it on Linux
        return asyncio.run(_run(sock))
    uvloop.install()
    return asyncio.run(_run(sock))


async def _run(sock: socket.socket) -> int:
    link = await Link.open(sock)
    return await serve(link)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
