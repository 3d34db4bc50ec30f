"""Acknowledgement time with a bot that takes 1 s per message (bot_project/slow + action server)."""

import asyncio
import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import httpx
import yaml

from bench import e2e, load
from rasa_chattigo.stack import LocalStack, free_port

logger = logging.getLogger(__name__)

SLOW_PROJECT = e2e.ROOT / "bot_project" / "slow"
CACHE = Path(__file__).resolve().parent / ".cache"
SECONDS_PER_MESSAGE = 1.0


def _rasa() -> str:
    return str(Path(sys.executable).parent / "rasa")


def slow_model() -> Path:
    """The slow bot's model, trained once per version of its files and kept in bench/.cache."""
    digest = hashlib.sha256()
    for path in sorted([*SLOW_PROJECT.glob("*.yml"), *SLOW_PROJECT.glob("data/*.yml")]):
        digest.update(path.name.encode() + path.read_bytes())
    name = f"slow-{digest.hexdigest()[:12]}"
    model = CACHE / f"{name}.tar.gz"
    if not model.exists():
        logger.info("Training the slow bot (once per version of bot_project/slow)")
        CACHE.mkdir(exist_ok=True)
        subprocess.run(  # noqa: S603 - our own rasa, fixed arguments, no shell
            [_rasa(), "train", "--fixed-model-name", name, "--out", str(CACHE), "--quiet"],
            cwd=SLOW_PROJECT, check=True, stdout=subprocess.DEVNULL)
    return model


def _wait_health(url: str, child: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the action server exited with code {child.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the action server did not answer {url} within {timeout:.0f}s")


def run(*, users: int, per_user: int, reps: int, logs: Path) -> Dict[str, Any]:
    """Webhook answer times under a conversation load on the 1 s bot (median and p99 per run)."""
    if not (SLOW_PROJECT / "domain.yml").exists():
        raise FileNotFoundError(f"slow bot: {SLOW_PROJECT} has no domain.yml")
    model = slow_model()
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoints = logs / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump(
        {"action_endpoint": {"url": f"http://127.0.0.1:{port}/webhook"}}))
    env = dict(os.environ, SLOW_BOT_SECONDS=str(SECONDS_PER_MESSAGE))
    with open(logs / "actions.log", "ab") as log:
        actions = subprocess.Popen(  # noqa: S603 - our own rasa, fixed arguments, no shell
            [_rasa(), "run", "actions", "--actions", "actions", "-p", str(port)],
            cwd=SLOW_PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    stack = LocalStack(SLOW_PROJECT, model, did=e2e.DID, logs=logs, endpoints=str(endpoints))
    try:
        _wait_health(f"http://127.0.0.1:{port}/health", actions)
        stack.start()
        runs = asyncio.run(_measure(stack, users, per_user, reps))
    finally:
        stack.stop()
        actions.terminate()
        try:
            actions.wait(timeout=30)
        except subprocess.TimeoutExpired:
            actions.kill()
            actions.wait()
    figures = e2e.ack_figures(runs)
    figures["bot_seconds_per_message"] = SECONDS_PER_MESSAGE
    figures["latency_p50"] = e2e.figure(runs, "p50", "ms")
    figures["load"] = {"users": users, "messages_per_run": users * per_user, "reps": reps}
    return figures


async def _measure(stack: LocalStack, users: int, per_user: int, reps: int) -> Any:
    expected = await e2e.calibrate(stack.rasa_urls[0], per_user)
    await e2e.check_agreement(stack, per_user, expected)
    runs = []
    for rep in range(reps):
        result = await load.run_chattigo(stack.webhook_url, stack.sandbox_url, e2e.DID, users,
                                         per_user, expected, tag=100 + rep)
        runs.append(e2e._run_figures(result, {}))
    return runs
