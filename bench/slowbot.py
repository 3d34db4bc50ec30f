"""Acknowledgement time with a bot that takes 1 s per message (bot_project/slow + action server),
for the three Chattigo variants (`e2e.VARIANTS`) on one `rasa run`."""

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
    figures = summarise(runs)
    figures["bot_seconds_per_message"] = SECONDS_PER_MESSAGE
    figures["load"] = {"users": users, "messages_per_run": users * per_user, "reps": reps}
    return figures


async def _measure(stack: e2e.BenchStack, users: int, per_user: int, reps: int
                   ) -> Dict[str, List[Dict[str, Any]]]:
    expected = await e2e.calibrate(stack.rasa_urls[0], per_user)
    await e2e.check_agreement(stack, per_user, expected)
    urls = e2e.variant_urls(stack)
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in urls}
    cpu = ProcessCPU({"rasa": stack.pids["rasa-0"], "front": stack.front_pid})
    for rep in range(reps):
        for variant in e2e.turn_order(rep):
            cpu.mark()
            result = await load.run_chattigo(urls[variant], stack.sandbox_url, e2e.DID, users,
                                             per_user, expected,
                                             tag=e2e.run_tag(variant, rep, base=100))
            runs[variant].append(e2e.run_figures(result, cpu.mark()))
    return runs


def summarise(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """The ack figures of each variant (`e2e.variant_ack_figures`), each with the variant's
    latency median, throughput, CPU per message and `rasa run` cores."""
    figures = e2e.variant_ack_figures(runs)
    for variant, into in ((channels.ON, figures), (channels.OFF, figures["gate_off"]),
                          (channels.FRONT, figures["front"])):
        into.update(_bot_figures(runs[variant]))
    return figures


def _bot_figures(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One variant's latency median, throughput and CPU per message (`rasa run`'s, its webhook
    front's, idle outside the front's runs, and both), and `rasa run`'s cores."""
    return {"latency_p50": e2e.figure(runs, "p50", "ms"),
            "throughput": e2e.figure(runs, "throughput", "msg/s"),
            **{key: e2e.figure(runs, key, "ms/msg")
               for key in ("cpu_rasa", "cpu_front", "cpu_rasa_and_front")},
            "rasa_cores": _cores(runs)}


def _cores(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """How busy `rasa run` was, in cores: CPU per message (all its threads, most of it the event
    loop's) times throughput. Near 1, the loop was the bottleneck: on that machine the 1 s bot
    was CPU-bound, not I/O-bound."""
    return summary([run["cpu_rasa"] * run["throughput"] / 1000 for run in runs], "core", 2)
