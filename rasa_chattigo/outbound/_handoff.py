"""Hand-off sends in Chattigo's own words: transfer, group, close and timeout."""

from typing import Any, Dict, Mapping

from rasa_chattigo.errors import InvalidResponse

#: Sends that steer the chat in Chattigo's contact center instead of reaching the phone.
HANDOFF_KINDS = ("transfer", "group", "close", "timeout")

#: The sends that give the chat to human agents: the bot keeps quiet after them.
PAUSING_KINDS = ("transfer", "group")

_CONTENT_LIMIT = 3000


def _optional_text(custom: Mapping[str, Any], key: str, kind: str) -> None:
    value = custom.get(key)
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidResponse(f"custom.{key}", f"must be a non-empty string in a {kind} send")


def check_handoff(custom: Mapping[str, Any]) -> str:
    """Checks a `custom` hand-off send; its kind (`transfer`, `group`, `close`, `timeout`).

    A `group` send needs `idCampaign` and the group's code in `content`; `idCampaign` is
    optional elsewhere (mono-campaign accounts send none).

    Raises:
        InvalidResponse: naming the missing or wrong field, e.g. `custom.content`.
    """
    kind = str(custom.get("type"))
    if kind == "group":
        for key, what in (("idCampaign", "the campaign"), ("content", "the group's code")):
            if not isinstance(custom.get(key), str) or not custom[key].strip():
                raise InvalidResponse(f"custom.{key}", f"is required in a group send ({what})")
    _optional_text(custom, "idCampaign", kind)
    if kind != "group" and custom.get("content") not in (None, ""):
        _optional_text(custom, "content", kind)
    content = custom.get("content")
    if isinstance(content, str) and len(content) > _CONTENT_LIMIT:
        raise InvalidResponse("custom.content", f"is longer than {_CONTENT_LIMIT} characters")
    for key in ("attachment", "isAttachment"):
        if custom.get(key):
            raise InvalidResponse(f"custom.{key}", f"is not allowed in a {kind} send")
    return kind


def handoff_body(custom: Mapping[str, Any], filled: Dict[str, Any]) -> Dict[str, Any]:
    """The send body: the addressing fields, then the bot's own fields (checked first).

    Args:
        custom: the `custom` part of the response.
        filled: `id`, `did`, `msisdn`, `channel`, `name` as for every send.
    """
    check_handoff(custom)
    body = {**filled, **custom, "isAttachment": False}
    body.setdefault("content", "")
    return body
