"""What the inbox and outbox keep: one `Record` per message, and the table that holds them."""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, UniqueConstraint

INBOX = "in"
OUTBOX = "out"
PENDING = "pending"
GIVEN_UP = "given_up"

metadata = MetaData()

#: Both boxes, one row per message; `seq` orders a conversation's messages.
records_table = Table(
    "chattigo_delivery",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("box", String(80), nullable=False),
    Column("key", String(300), nullable=False),
    Column("conversation", String(200), nullable=False),
    Column("owner", String(200), nullable=False, index=True),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("state", String(10), nullable=False),
    Column("error", String(300), nullable=False),
    UniqueConstraint("box", "key", name="uq_chattigo_delivery_box_key"),
)

#: Each live owner's lease: its records are taken over once `expires_at` has passed.
owners_table = Table(
    "chattigo_delivery_owners",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("expires_at", Float, nullable=False),
)


@dataclass
class Record:
    """One message kept until it is done: a webhook message (inbox) or a reply (outbox).

    Attributes:
        box: `in` or `out`.
        key: unique within the box: `<did>:<message id>`, or the reply's id.
        conversation: the Rasa sender id; its records are handled in `seq` order.
        body: what is needed to do the work again, as JSON-able values.
        owner: the channel instance handling it (see `_owner`).
        seq: arrival order, assigned by the store.
        created_at: wall-clock seconds when it was kept.
        next_at: wall-clock seconds before which it is not retried (outbox).
        attempts: failed sends so far (outbox).
        state: `pending`, or `given_up` once `outbox_max_age_seconds` passed.
        error: the last failure, short.
    """

    box: str
    key: str
    conversation: str
    body: Dict[str, Any]
    owner: str = ""
    seq: int = 0
    created_at: float = field(default_factory=time.time)
    next_at: float = 0.0
    attempts: int = 0
    state: str = PENDING
    error: str = ""

    def row(self) -> Dict[str, Any]:
        """The record as table values (without `seq`, which the store assigns)."""
        return {"box": self.box, "key": self.key, "conversation": self.conversation,
                "owner": self.owner, "body": json.dumps(self.body, ensure_ascii=False),
                "created_at": self.created_at, "next_at": self.next_at,
                "attempts": self.attempts, "state": self.state, "error": self.error[:300]}

    @classmethod
    def from_row(cls, row: Any) -> "Record":
        """A record from a table row or a mapping with the same keys."""
        values = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
        values["body"] = json.loads(values["body"])
        return cls(**values)

    def to_json(self) -> str:
        """The whole record as one JSON string (the Redis store keeps it so)."""
        return json.dumps({**self.row(), "seq": self.seq, "body": self.body}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Record":
        """The inverse of `to_json`."""
        return cls(**json.loads(text))
