"""The bot projects the end-to-end tests serve with a real `rasa run`, and their models."""

import subprocess
import sys
from pathlib import Path

from conftest import DID, MODELS, ROOT

__all__ = ["DID", "MODEL", "PROJECT", "SLOW_MODEL", "SLOW_PROJECT", "SLOW_REPLY", "ensure_model"]

#: The demo bot.
PROJECT = ROOT / "bot_project"
MODEL = PROJECT / MODELS / "current.tar.gz"
#: A bot whose actions sleep `SLOW_BOT_SECONDS`, then answer `SLOW_REPLY`.
SLOW_PROJECT = ROOT / "bot_project" / "slow"
SLOW_MODEL = SLOW_PROJECT / MODELS / "slow.tar.gz"
SLOW_REPLY = "Listo, ya lo procesé."


def ensure_model(project: Path, model: Path) -> Path:
    """The `model` of the bot in `project`: `make test` trains it; trained here if it has not."""
    if not model.exists():
        subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "train", "--fixed-model-name",
             model.name[: -len(".tar.gz")], "--out", MODELS, "--quiet"],
            cwd=project, check=True)
    return model
