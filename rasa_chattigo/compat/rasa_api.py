"""Rasa: what differs between Rasa Open Source 3.6 and Rasa Pro (3.21).

The flavour is read once, from the installed distribution's metadata, without importing Rasa.
What moved is imported lazily, so importing this module stays cheap.

Differences handled elsewhere, because they need no version check:
- `OutputChannel.__init__` holds Rasa Pro's response-delivery state (for `hangup`, streaming
  and `shutdown_response_deliveries`); `ChattigoOutput` calls it, a no-op on Rasa 3.6.
- Rasa Pro's hooks `send_buttons`, `hangup` and `wants_tracker_state` are defined on
  `ChattigoOutput`; Rasa 3.6 never calls them.
"""

import importlib
from typing import Any, Dict, Optional, Tuple

try:
    from importlib import metadata as _metadata
except ImportError:  # pragma: no cover - Python < 3.8 is not supported
    _metadata = None  # type: ignore[assignment]


def _installed_rasa() -> Tuple[str, Optional[str]]:
    """("pro", version), ("oss", version), or ("none", None) when no Rasa is installed."""
    for flavour, distribution in (("pro", "rasa-pro"), ("oss", "rasa")):
        try:
            return flavour, _metadata.version(distribution)
        except _metadata.PackageNotFoundError:
            continue
    return "none", None


RASA_FLAVOUR, RASA_VERSION = _installed_rasa()
#: Whether the installed Rasa is Rasa Pro (`pip install "rasa-chattigo[pro]"`).
RASA_PRO = RASA_FLAVOUR == "pro"

# Where each moved name lives: (Rasa 3.6, Rasa Pro).
_MOVED = {
    "tracker_store": ("rasa.core.tracker_store", "rasa.core.tracker_stores.tracker_store"),
    "interpolator": ("rasa.core.nlg.interpolator", "rasa.core.nlg.interpolator"),
    "config_file": ("rasa.shared.utils.io", "rasa.shared.utils.yaml"),
}


def _module(name: str) -> Any:
    return importlib.import_module(_MOVED[name][1 if RASA_PRO else 0])


def app_tracker_store(app: Any) -> Any:
    """The tracker store of the Rasa agent serving `app`, or None outside `rasa run`."""
    agent = getattr(app.ctx, "agent", None)
    return getattr(agent, "tracker_store", None)


def in_memory_tracker_store(domain: Any) -> Any:
    """Rasa's InMemoryTrackerStore (`rasa.core.tracker_store` moved to
    `rasa.core.tracker_stores.tracker_store` in Rasa Pro)."""
    return _module("tracker_store").InMemoryTrackerStore(domain)


def interpolate(template: str, values: Dict[str, Any]) -> str:
    """Fills `{slot}` placeholders as Rasa does for a response text (Rasa 3.6's
    `interpolate_text` is `interpolate_format_template` in Rasa Pro)."""
    interpolator = _module("interpolator")
    if RASA_PRO:
        return str(interpolator.interpolate_format_template(template, values))
    return str(interpolator.interpolate_text(template, values))


def read_config_file(path: Any) -> Dict[str, Any]:
    """A YAML file as Rasa reads credentials.yml, `${VAR}` expanded (`rasa.shared.utils.io` in
    Rasa 3.6, `rasa.shared.utils.yaml` in Rasa Pro)."""
    return dict(_module("config_file").read_config_file(path))
