"""How each message reads on the user's phone: one plain-text renderer a kind, both directions."""

from typing import Any, Callable, Dict, List, Optional

_LABELS = {
    "image": "imagen",
    "video": "video",
    "audio": "audio",
    "document": "documento",
    "sticker": "sticker",
}
Renderer = Callable[[Dict[str, Any]], str]

#: Cloud API message `type` -> renderer of the message object; used for inbound messages
#: and for Cloud API sends, which share the content objects.
CLOUD_RENDERERS: Dict[str, Renderer] = {}


def renders(*kinds: str) -> Callable[[Renderer], Renderer]:
    """Registers a renderer for Cloud API message types."""

    def register(func: Renderer) -> Renderer:
        for kind in kinds:
            CLOUD_RENDERERS[kind] = func
        return func

    return register


def _lines(*parts: Optional[str]) -> str:
    return "\n".join(part for part in parts if part)


def attachment_line(kind: str, where: str, filename: Optional[str] = None) -> str:
    """`[imagen: URL]`, `[documento factura.pdf: URL]`."""
    label = _LABELS.get(kind, kind)
    return f"[{label} {filename}: {where}]" if filename else f"[{label}: {where}]"


def render_cloud(message: Dict[str, Any]) -> str:
    """A Cloud API message (inbound `messages[]` item or outbound send body) as plain text."""
    renderer = CLOUD_RENDERERS.get(message.get("type", "text"))
    return renderer(message) if renderer else f"[{message.get('type')}]"


def render_proprietary(body: Dict[str, Any], kind: str) -> str:
    """A Chattigo proprietary send (or legacy inbound payload) as plain text."""
    if kind == "template":
        hsm = body.get("hsm") or {}
        return f"[plantilla: {hsm.get('template') or hsm.get('elementName')}]"
    attachment = body.get("attachment") if body.get("isAttachment") else None
    if not attachment:
        return str(body.get("content") or "")
    line = attachment_line(kind, attachment.get("mediaUrl", ""), attachment.get("fileName"))
    return _lines(body.get("content"), line)


@renders("text")
def _text(message: Dict[str, Any]) -> str:
    return str(message["text"].get("body", ""))


@renders("image", "video", "audio", "document", "sticker")
def _media(message: Dict[str, Any]) -> str:
    kind = message["type"]
    media = message[kind]
    where = media.get("link") or media.get("url") or f"id {media.get('id')}"
    if kind == "audio" and media.get("voice"):
        kind = "nota de voz"
    return _lines(media.get("caption"), attachment_line(kind, where, media.get("filename")))


@renders("location")
def _location(message: Dict[str, Any]) -> str:
    place = message["location"]
    label = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
    where = f"{place.get('latitude')}, {place.get('longitude')}"
    return f"[ubicación: {where}{' — ' + label if label else ''}]"


@renders("contacts")
def _contacts(message: Dict[str, Any]) -> str:
    cards: List[str] = []
    for card in message["contacts"]:
        phones = " ".join(p.get("phone", "") for p in card.get("phones", []))
        cards.append(
            f"[contacto: {card.get('name', {}).get('formatted_name', '')} {phones}]".strip()
        )
    return "\n".join(cards)


@renders("interactive")
def _interactive(message: Dict[str, Any]) -> str:
    interactive = message["interactive"]
    kind = interactive.get("type")
    if kind in ("button_reply", "list_reply"):
        return str(interactive[kind].get("title", ""))
    if kind == "nfm_reply":
        return f"[formulario enviado: {interactive[kind].get('response_json')}]"
    header = (interactive.get("header") or {}).get("text")
    body = (interactive.get("body") or {}).get("text")
    footer = (interactive.get("footer") or {}).get("text")
    action = interactive.get("action") or {}
    if kind == "button":
        titles = [b.get("reply", {}).get("title", "") for b in action.get("buttons", [])]
    elif kind == "list":
        titles = [
            row.get("title", "") + (f" — {row['description']}" if row.get("description") else "")
            for section in action.get("sections", [])
            for row in section.get("rows", [])
        ]
    elif kind == "cta_url":
        params = action.get("parameters") or {}
        titles = [f"{params.get('display_text')}: {params.get('url')}"]
    else:
        titles = ["[enviar ubicación]"]
    options = "\n".join(f"{n}. {title}" for n, title in enumerate(titles, start=1))
    return _lines(header, body, options, footer)


@renders("button")
def _template_button(message: Dict[str, Any]) -> str:
    return str(message["button"].get("text", ""))


@renders("reaction")
def _reaction(message: Dict[str, Any]) -> str:
    emoji = message["reaction"].get("emoji")
    return f"[reacción: {emoji}]" if emoji else "[reacción quitada]"


@renders("order")
def _order(message: Dict[str, Any]) -> str:
    order = message["order"]
    items = ", ".join(
        f"{item.get('quantity')} x {item.get('product_retailer_id')}"
        for item in order.get("product_items", [])
    )
    return _lines(order.get("text"), f"[pedido: {items}]")


@renders("template")
def _template(message: Dict[str, Any]) -> str:
    return f"[plantilla: {message['template'].get('name')}]"


@renders("request_welcome")
def _welcome(message: Dict[str, Any]) -> str:
    return "[abrió el chat]"


@renders("system")
def _system(message: Dict[str, Any]) -> str:
    return str(message["system"].get("body", "[sistema]"))


@renders("unsupported", "unknown")
def _unsupported(message: Dict[str, Any]) -> str:
    what = (message.get("unsupported") or {}).get("type", "desconocido")
    return f"[mensaje no soportado: {what}]"
