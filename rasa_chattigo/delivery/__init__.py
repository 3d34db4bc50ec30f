"""Nothing acknowledged is lost: the durable inbox, the outbox, and claims that know their owner.

- `Delivery`: one channel instance's inbox and outbox, built from the settings.
- `Inbox` / `Intake`: each accepted message is kept before the 200 and settled once handled;
  what a crash or a stop left is resumed at the next start, or by a live instance.
- `Outbox`: replies Chattigo refused are retried in order per conversation.
- stores (`open_store`): memory, SQLite (the default, WAL), PostgreSQL (`_sql`), Redis (`_redis`).
- `_redis_claims`: the Redis dedup claims, which carry their owner.
docs/delivery.md states the guarantee and its conditions.
"""

from rasa_chattigo.delivery._delivery import Delivery
from rasa_chattigo.delivery._inbox import Inbox
from rasa_chattigo.delivery._intake import Intake
from rasa_chattigo.delivery._outbox import KEPT, REFUSED, SENT, Outbox
from rasa_chattigo.delivery._records import GIVEN_UP, INBOX, OUTBOX, PENDING, Record
from rasa_chattigo.delivery._store import BoxStore, MemoryStore, open_store, store_url

__all__ = ["GIVEN_UP", "INBOX", "KEPT", "OUTBOX", "PENDING", "REFUSED", "SENT", "BoxStore",
           "Delivery", "Inbox", "Intake", "MemoryStore", "Outbox", "Record", "open_store",
           "store_url"]
