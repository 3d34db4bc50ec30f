"""A local Chattigo stand-in (aiohttp) with WhatsApp user simulation, for demos and tests."""

from rasa_chattigo.sandbox.app import Sandbox
from rasa_chattigo.sandbox.state import RecordedMessage, SandboxState
from rasa_chattigo.sandbox.threaded import ThreadedSandbox
from rasa_chattigo.sandbox.whatsapp import (
    build_cloud_webhook,
    build_legacy_webhook,
    build_status_webhook,
    new_wamid,
)

__all__ = [
    "RecordedMessage",
    "Sandbox",
    "SandboxState",
    "ThreadedSandbox",
    "build_cloud_webhook",
    "build_legacy_webhook",
    "build_status_webhook",
    "new_wamid",
]
