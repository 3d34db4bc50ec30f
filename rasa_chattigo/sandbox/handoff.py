"""Who holds each conversation, bot or human agent, as Chattigo's contact center tracks it."""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

BOT = "bot"
AGENT = "agent"

#: Sends that steer the conversation instead of reaching the user's phone.
CONTROL_KINDS = ("transfer", "group", "close", "timeout")


@dataclass
class Holder:
    """The state of one conversation.

    Attributes:
        holder: "bot" or "agent".
        campaign: the `idCampaign` of the last transfer, if any.
        group: the agents' group code of a `group` transfer, if any.
        closed: the last `close`/`timeout` the bot sent, or None while open.
    """

    holder: str = BOT
    campaign: Optional[str] = None
    group: Optional[str] = None
    closed: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """The shape of `GET /sandbox/agent/{did}/{msisdn}`."""
        return {"holder": self.holder, "campaign": self.campaign, "group": self.group,
                "closed": self.closed}


class Handoffs:
    """Conversation holders, keyed by (business number, user number)."""

    def __init__(self) -> None:
        self._chats: Dict[Tuple[str, str], Holder] = {}

    def get(self, did: str, msisdn: str) -> Holder:
        """The holder of a conversation (the bot, unless something changed it)."""
        return self._chats.setdefault((did, msisdn), Holder())

    def apply_send(self, did: str, msisdn: str, kind: str, payload: Dict[str, Any]) -> Holder:
        """Applies a bot's control send (transfer, group, close, timeout)."""
        chat = self.get(did, msisdn)
        if kind in ("transfer", "group"):
            chat.holder, chat.closed = AGENT, None
            chat.campaign = payload.get("idCampaign")
            chat.group = payload.get("content") if kind == "group" else None
        else:
            chat.holder, chat.closed = BOT, kind
        return chat

    def take(self, did: str, msisdn: str) -> Holder:
        """An agent takes the conversation from the console."""
        chat = self.get(did, msisdn)
        chat.holder, chat.closed = AGENT, None
        return chat

    def give_back(self, did: str, msisdn: str) -> Holder:
        """The agent hands the conversation back to the bot."""
        chat = self.get(did, msisdn)
        chat.holder, chat.group = BOT, None
        return chat

    def clear(self) -> None:
        """Every conversation back to the bot."""
        self._chats.clear()


def describe_control(kind: str, payload: Dict[str, Any]) -> str:
    """How a control send reads in the conversation."""
    campaign = payload.get("idCampaign")
    if kind == "transfer":
        return "[chat transferido a un agente" + (f", campaña {campaign}]" if campaign else "]")
    if kind == "group":
        return f"[chat transferido al grupo {payload.get('content')}, campaña {campaign}]"
    if kind == "close":
        return "[el bot cerró la conversación]"
    return "[conversación cerrada por inactividad]"
