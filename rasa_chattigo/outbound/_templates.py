"""WhatsApp templates (HSM): Chattigo's `type: HSM` send, Meta's template JSON, campaigns."""

import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

from rasa_chattigo.errors import InvalidResponse

#: Chattigo takes at most this many destinations in one HSM request.
MAX_DESTINATIONS = 1000

#: In a configured `window_template`, this parameter is replaced by the reply's text.
TEXT_PLACEHOLDER = "{text}"

#: Meta refuses template parameters with new lines, tabs or more than 4 spaces in a row.
PARAMETER_LIMIT = 1024
_SPACES = re.compile(r"\s+")


def _name(hsm: Mapping[str, Any], where: str) -> str:
    name = hsm.get("template", hsm.get("elementName"))
    if not isinstance(name, str) or not name.strip():
        raise InvalidResponse(f"{where}.template", "is required: the template's name")
    return name


def _language(hsm: Mapping[str, Any], where: str) -> str:
    language = hsm.get("languageCode")
    if not isinstance(language, str) or not language.strip():
        raise InvalidResponse(f"{where}.languageCode", "is required (e.g. 'es_AR')")
    return language


def check_parameters(parameters: Any, where: str) -> List[str]:
    """The declared parameters, each a non-empty string.

    Raises:
        InvalidResponse: naming the first missing one, e.g. `custom.hsm.parameters.1`.
    """
    if parameters is None:
        return []
    if not isinstance(parameters, (list, tuple)):
        raise InvalidResponse(where, "must be a list of strings")
    for index, value in enumerate(parameters):
        if not isinstance(value, str) or not value.strip() or value.strip() == "None":
            raise InvalidResponse(f"{where}.{index}", "is missing: the template declares it")
    return list(parameters)


def check_hsm(hsm: Any, where: str = "custom.hsm") -> Dict[str, Any]:
    """Checks one template: its name, language and every parameter it declares.

    Raises:
        InvalidResponse: naming what is missing, e.g. `custom.hsm.languageCode`.
    """
    if not isinstance(hsm, Mapping):
        raise InvalidResponse(where, "must be an object: namespace, template, languageCode, ...")
    _name(hsm, where)
    _language(hsm, where)
    check_parameters(hsm.get("parameters"), f"{where}.parameters")
    for index, destination in enumerate(hsm.get("destinations") or []):
        if isinstance(destination, Mapping):
            check_parameters(destination.get("parameters"),
                             f"{where}.destinations.{index}.parameters")
    return dict(hsm)


def hsm_body(custom: Mapping[str, Any], filled: Dict[str, Any], msisdn: str) -> Dict[str, Any]:
    """Chattigo's HSM send as the bot wrote it, addressed, with `destinations` filled in."""
    template = check_hsm(custom.get("hsm"))
    if not template.get("destinations"):
        template["destinations"] = [{"destination": msisdn}]
    return {**filled, **custom, "type": "HSM", "hsm": template}


def cloud_template(hsm: Mapping[str, Any], to: str) -> Dict[str, Any]:
    """The same template as Meta's Cloud API JSON (`type: template`), for `buttons: native`."""
    check_hsm(hsm)
    template: Dict[str, Any] = {"name": _name(hsm, "custom.hsm"),
                                "language": {"code": _language(hsm, "custom.hsm")}}
    parameters = hsm.get("parameters") or []
    if parameters:
        values = [{"type": "text", "text": value} for value in parameters]
        template["components"] = [{"type": "body", "parameters": values}]
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "template", "template": template}


def as_parameter(text: str) -> str:
    """A reply's text as a template parameter: one line, single spaces, at most 1024."""
    flat = _SPACES.sub(" ", text).strip()
    return flat if len(flat) <= PARAMETER_LIMIT else flat[: PARAMETER_LIMIT - 1] + "…"


def fill_template(template: Mapping[str, Any], text: Optional[str]) -> Dict[str, Any]:
    """The configured `window_template` with `{text}` parameters replaced by `text`."""
    filled = dict(template)
    parameters = template.get("parameters")
    if parameters:
        value = as_parameter(text or "") or "-"
        filled["parameters"] = [value if p == TEXT_PLACEHOLDER else p for p in parameters]
    return filled


def campaign_batches(
    template: Mapping[str, Any], destinations: Sequence[Mapping[str, Any]],
    size: int = MAX_DESTINATIONS,
) -> Iterator[Dict[str, Any]]:
    """The `hsm` objects of a campaign: the template with at most `size` destinations each.

    Raises:
        InvalidResponse: a wrong template, destination or batch size.
    """
    if not 1 <= size <= MAX_DESTINATIONS:
        raise InvalidResponse("batch_size", f"must be between 1 and {MAX_DESTINATIONS}")
    check_hsm(template, "template")
    for index, destination in enumerate(destinations):
        number = destination.get("destination")
        if not isinstance(number, str) or not number.isdigit():
            raise InvalidResponse(f"destinations.{index}.destination",
                                  "must be the user's number, digits only")
        check_parameters(destination.get("parameters"), f"destinations.{index}.parameters")
    for start in range(0, len(destinations), size):
        yield {**template, "destinations": [dict(d) for d in destinations[start:start + size]]}
