"""pydantic: the v1 API, from pydantic 1.10 (Rasa 3.6) or `pydantic.v1` (pydantic 2, Rasa Pro)."""

from typing import Any, Dict, Type, TypeVar

import pydantic

from rasa_chattigo.errors import InvalidPayload

PYDANTIC_V2 = pydantic.VERSION.startswith("2.")

if PYDANTIC_V2:  # pragma: no cover - Rasa 3.6 pins pydantic 1.10; Rasa Pro brings 2.x
    import importlib

    pydantic_v1 = importlib.import_module("pydantic.v1")
else:
    pydantic_v1 = pydantic

BaseModel = pydantic_v1.BaseModel
Extra = pydantic_v1.Extra
Field = pydantic_v1.Field
ValidationError = pydantic_v1.ValidationError
validator = pydantic_v1.validator

ModelT = TypeVar("ModelT")


def parse_model(model: Type[ModelT], data: Any, *, prefix: str = "") -> ModelT:
    """Validates `data` into `model`, turning a ValidationError into InvalidPayload.

    Args:
        model: the pydantic model class.
        data: the decoded JSON.
        prefix: a dotted path prepended to the failing field, e.g. `entry.0.changes.0.value`.

    Raises:
        InvalidPayload: naming the first failing field as a dotted path.
    """
    try:
        return model.parse_obj(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"] if part != "__root__")
        field = ".".join(part for part in (prefix, path) if part)
        raise InvalidPayload(field, first["msg"]) from None


def dump_model(obj: Any, *, exclude_none: bool = True) -> Dict[str, Any]:
    """The model as plain JSON-ready data."""
    return obj.dict(exclude_none=exclude_none)
