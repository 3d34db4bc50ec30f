"""Rasa: what differs between Rasa Open Source 3.6 and Rasa Pro."""

from typing import Any


def app_tracker_store(app: Any) -> Any:
    """The tracker store of the Rasa agent serving `app`, or None outside `rasa run`."""
    agent = getattr(app.ctx, "agent", None)
    return getattr(agent, "tracker_store", None)
