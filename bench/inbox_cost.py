"""The inbox's cost per message: one durable write before the 200, per store, in µs."""

import asyncio
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.stats import summary
from rasa_chattigo.delivery import open_store
from rasa_chattigo.delivery._inbox import Inbox
from rasa_chattigo.inbound import InboundMessage

logger = logging.getLogger(__name__)

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _message(n: int) -> InboundMessage:
    """A typical text message as the bot receives it (metadata as the Cloud API parser fills)."""
    return InboundMessage(
        sender_id="5491155501234", text=f"hola, quiero saber el estado de mi pedido {n}",
        message_id=f"wamid.HBgNNTQ5MTE1NTUwMTIzNBUCABIYFjNFQjA{n:08d}",
        business_number="5492644710400",
        kind="text", metadata={"message_type": "text", "timestamp": 1732475000 + n,
                               "contact_name": "Ana", "display_phone_number": "5492644710400",
                               "phone_number_id": "123456789012345"})


async def _one_store(url: str, writes: int, reps: int) -> Optional[Dict[str, Any]]:
    """Median over `reps` of the µs per `keep`, and per `keep` + `forget`; None if unreachable."""
    store = open_store(url, f"bench_{uuid.uuid4().hex[:8]}")
    inbox = Inbox(store, "bench/0/0")
    keep_us: List[float] = []
    round_us: List[float] = []
    try:
        await inbox.keep("warm-up", "5491155501234", _message(0))  # creates tables, connects
        await inbox.forget("warm-up")
        for rep in range(reps):
            keys = [f"5492644710400:bench.{rep}.{n}" for n in range(writes)]
            began = time.perf_counter()
            for n, key in enumerate(keys):
                await inbox.keep(key, "5491155501234", _message(n))
            kept = time.perf_counter()
            for key in keys:
                await inbox.forget(key)
            done = time.perf_counter()
            keep_us.append((kept - began) / writes * 1e6)
            round_us.append((done - began) / writes * 1e6)
    except Exception as exc:  # a store that is not running here: reported, not fatal
        logger.warning("inbox bench: %s skipped: %s", url.split(":")[0], exc)
        return None
    finally:
        await store.aclose()
    return {"keep": summary(keep_us, "µs", 1), "keep_and_forget": summary(round_us, "µs", 1)}


def run(quick: bool = False) -> Dict[str, Any]:
    """The inbox write per message for memory, SQLite (WAL), Redis and PostgreSQL."""
    writes, reps = (200, 2) if quick else (2000, 5)
    folder = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    stores = {"memory": "memory", "sqlite": f"sqlite:///{folder / 'inbox.db'}",
              "redis": REDIS_URL, "postgresql": POSTGRES_URL}

    async def measure() -> Dict[str, Any]:
        return {name: await _one_store(url, writes, reps) for name, url in stores.items()}

    results = asyncio.run(measure())
    results["writes_per_rep"] = writes
    return results
