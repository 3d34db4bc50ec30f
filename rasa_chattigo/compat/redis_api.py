"""redis-py: what differs between redis 4.x (Rasa 3.6's lock) and 5.x and newer (Rasa Pro's)."""

from typing import Any


async def close_client(client: Any) -> None:
    """Closes an asyncio Redis client and its connection pool.

    redis-py 4.x calls it `close` and does not close a `from_url` pool by itself; 5.0.1 renamed
    it `aclose` and deprecates `close`.
    """
    close = getattr(client, "aclose", None) or client.close
    await close(close_connection_pool=True)
