"""Acknowledgement time with a bot that takes 1 s per message (bot_project/slow + action server)."""

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import yaml

from bench import channels, e2e, load
from bench.procs import ProcessCPU
from bench.stats import summary
from rasa_chattigo.devtools._stack import LocalStack

logger = logging.getLogger(__name__)

SLOW_PROJECT = e2e.ROOT / "bot_project" / "slow"
SLOW_MODEL = SLOW_PROJECT / "models" / "slow.tar.gz"
SECONDS_PER_MESSAGE = 1.0


def _stale(model: Path) -> bool:
    """Make's rule for the model: missing, or older than one of the bot's files."""
    if not model.exists():
        return True
    sources = [*SLOW_PROJECT.glob("*.yml"), *SLOW_PROJECT.glob("data/*.yml")]
    return any(path.stat().st_mtime > model.stat().st_mtime for path in sources)


def slow_model() -> Path:
    """The Makefile's slow-bot model, trained here as `make` would when missing or stale."""
    if _stale(SLOW_MODEL):
        logger.info("Training the slow bot into %s (as `make bench` does)", SLOW_MODEL)
        subprocess.run(  # noqa: S603 - our own rasa, fixed arguments, no shell
            [str(Path(sys.executable).parent / "rasa"), "train", "--fixed-model-name", "slow",
             "--out", "models", "--quiet"],
            cwd=SLOW_PROJECT, check=True, stdout=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return SLOW_MODEL


def run(*, users: int, per_user: int, reps: int, logs: Path) -> Dict[str, Any]:
    """Webhook answer times under a conversation load on the 1 s bot (median and p99 per run)."""
    if not (SLOW_PROJECT / "domain.yml").exists():
        raise FileNotFoundError(f"slow bot: {SLOW_PROJECT} has no domain.yml")
    model = slow_model()
    logs.mkdir(parents=True, exist_ok=True)  # start_action_server writes its log before start()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as scratch:
        endpoints = Path(scratch) / "endpoints.yml"
        stack = e2e.start_stack(SLOW_PROJECT, model, logs, Path(scratch),
                                endpoints=str(endpoints),
                                extra_env={"SLOW_BOT_SECONDS": str(SECONDS_PER_MESSAGE)})
        try:
            action_url = stack.start_action_server("actions")
            endpoints.write_text(yaml.safe_dump({"action_endpoint": {"url": action_url}}))
            stack.start()
            runs = asyncio.run(_measure(stack, users, per_user, reps))
        finally:
            stack.stop()
    figures = e2e.variant_ack_figures(runs)
    figures["bot_seconds_per_message"] = SECONDS_PER_MESSAGE
    figures["latency_p50"] = e2e.figure(runs[channels.ON], "p50", "ms")
    figures["gate_off"]["latency_p50"] = e2e.figure(runs[channels.OFF], "p50", "ms")
    for variant, into in ((channels.ON, figures), (channels.OFF, figures["gate_off"])):
        into["throughput"] = e2e.figure(runs[variant], "throughput", "msg/s")
        into["cpu_rasa"] = e2e.figure(runs[variant], "cpu_rasa", "ms/msg")
        into["rasa_cores"] = _cores(runs[variant])
    figures["load"] = {"users": users, "messages_per_run": users * per_user, "reps": reps}
    return figures


async def _measure(stack: LocalStack, users: int, per_user: int, reps: int
                   ) -> Dict[str, List[Dict[str, Any]]]:
    expected = await e2e.calibrate(stack.rasa_urls[0], per_user)
    await e2e.check_agreement(stack, per_user, expected)
    urls = e2e.variant_urls(stack)
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in urls}
    cpu = ProcessCPU({"rasa": stack.pids["rasa-0"]})
    for rep in range(reps):
        for variant in e2e.turn_order(rep):
            tag = (100 if variant == channels.ON else 150) + rep
            cpu.mark()
            result = await load.run_chattigo(urls[variant], stack.sandbox_url, e2e.DID, users,
                                             per_user, expected, tag=tag)
            runs[variant].append(e2e.run_figures(result, cpu.mark()))
    return runs


def _cores(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """How busy `rasa run` was, in cores: CPU per message (all its threads, most of it the event
    loop's) times throughput. Near 1, the loop was the bottleneck: on that machine the 1 s bot
    was CPU-bound, not I/O-bound."""
    return summary([run["cpu_rasa"] * run["throughput"] / 1000 for run in runs], "core", 2)
