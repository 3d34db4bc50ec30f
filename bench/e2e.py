"""End to end: one `rasa run` serving REST and Chattigo on the same model, loaded in turns."""

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import aiohttp

from bench import load
from bench.procs import ProcessCPU
from bench.stats import percentile, ratio, summary
from rasa_chattigo.devtools._stack import LocalStack

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bot_project"
MODEL = PROJECT / "models" / "current.tar.gz"
DID = "5492644710400"


async def calibrate(rest_url: str, per_user: int) -> List[int]:
    """Replies to each message of one conversation, asked over REST (the answer lists them)."""
    result = load.RunResult("rest")
    async with aiohttp.ClientSession() as http:
        counts = await load.rest_user(http, f"{rest_url}/webhooks/rest/webhook",
                                      f"bench-calibration-{time.time_ns()}",
                                      load.conversation(per_user), result)
    if result.errors:
        raise RuntimeError("the REST calibration conversation failed; see the rasa log")
    return counts


async def check_agreement(stack: LocalStack, per_user: int, expected: Sequence[int]) -> None:
    """One Chattigo conversation must get exactly the replies REST got, or the runs differ.

    Raises:
        RuntimeError: a reply missing or one more than REST gave.
    """
    result = await load.run_chattigo(stack.webhook_url, stack.sandbox_url, DID, 1, per_user,
                                     expected, tag=9999, settle=1.0)
    if result.errors or result.unexpected_replies:
        raise RuntimeError(
            f"Chattigo and REST disagree on the replies of the bench conversation "
            f"({result.errors} missing, {result.unexpected_replies} extra)")


def run_figures(result: load.RunResult, cpu: Dict[str, float]) -> Dict[str, Any]:
    """One run's figures; `cpu` (name -> CPU seconds) becomes `cpu_<name>` in ms per message."""
    figures: Dict[str, Any] = {
        "throughput": result.throughput,
        "p50": percentile(result.latencies_ms, 50),
        "p95": percentile(result.latencies_ms, 95),
        "p99": percentile(result.latencies_ms, 99),
        "errors": result.errors + result.unexpected_replies,
        "messages": result.messages,
        "replies": result.replies,
        "seconds": result.seconds,
    }
    for name, seconds in cpu.items():
        figures[f"cpu_{name}"] = seconds * 1000 / max(result.messages, 1)
    if result.acks_ms:
        figures["ack_p50"] = percentile(result.acks_ms, 50)
        figures["ack_p99"] = percentile(result.acks_ms, 99)
        figures["notify_lag_p50"] = percentile(result.notify_lag_ms, 50)
    return figures


async def alternate(stack: LocalStack, cpu: ProcessCPU, *, users: int, per_user: int,
                    reps: int, warm_per_user: int) -> Dict[str, List[Dict[str, Any]]]:
    """Calibrates, warms up, then runs REST and Chattigo in turns; figures of every run."""
    rest_url = stack.rasa_urls[0]
    expected = await calibrate(rest_url, per_user)
    await check_agreement(stack, per_user, expected)
    await load.run_rest(rest_url, users, warm_per_user, "warm")
    await load.run_chattigo(stack.webhook_url, stack.sandbox_url, DID, users, warm_per_user,
                            expected, tag=9998)
    runs: Dict[str, List[Dict[str, Any]]] = {"rest": [], "chattigo": []}
    for rep in range(reps):
        cpu.mark()
        rest = await load.run_rest(rest_url, users, per_user, f"{os.getpid()}-{rep}")
        runs["rest"].append(run_figures(rest, cpu.mark()))
        chattigo = await load.run_chattigo(stack.webhook_url, stack.sandbox_url, DID, users,
                                           per_user, expected, tag=rep)
        runs["chattigo"].append(run_figures(chattigo, cpu.mark()))
        logger.info("rep %d: REST %.1f msg/s, Chattigo %.1f msg/s", rep + 1,
                    rest.throughput, chattigo.throughput)
    return runs


def figure(runs: List[Dict[str, Any]], key: str, unit: str) -> Dict[str, Any]:
    """Summary of one figure over runs."""
    return summary([run[key] for run in runs], unit, 2)


def end_to_end_figures(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """Per-figure summaries of the REST and Chattigo runs, with Chattigo/REST ratios."""
    figures: Dict[str, Any] = {}
    for key, unit in (("throughput", "msg/s"), ("p50", "ms"), ("p95", "ms"), ("p99", "ms"),
                      ("cpu_rasa", "ms/msg"), ("cpu_sandbox", "ms/msg"),
                      ("cpu_generator", "ms/msg")):
        rest, chattigo = figure(runs["rest"], key, unit), figure(runs["chattigo"], key, unit)
        figures[key] = {"rest": rest, "chattigo": chattigo, "ratio": ratio(chattigo, rest)}
    figures["errors"] = {name: sum(r["errors"] for r in rs) for name, rs in runs.items()}
    figures["replies_per_run"] = {name: [r["replies"] for r in rs] for name, rs in runs.items()}
    figures["notify_lag_p50_ms"] = figure(runs["chattigo"], "notify_lag_p50", "ms")
    return figures


def ack_figures(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Webhook answer time (median and p99 of each run) of Chattigo runs."""
    return {"p50": figure(runs, "ack_p50", "ms"), "p99": figure(runs, "ack_p99", "ms")}


def run(*, users: int, per_user: int, reps: int, warm_per_user: int, logs: Path,
        model: Path = MODEL) -> Dict[str, Any]:
    """Starts the stack, measures REST against Chattigo, stops everything.

    Returns:
        `end_to_end` figures, `ack_normal` figures, the raw `runs` and `startup_seconds`.
    """
    if not model.exists():
        raise FileNotFoundError(f"model: {model} is missing; run `make model` first")
    # Webhooks go straight to rasa: the sandbox never saw the users write (no window).
    stack = LocalStack(PROJECT, model, did=DID, logs=logs, sandbox_args=["--no-window"])
    started = time.perf_counter()
    try:
        stack.start()
        up = time.perf_counter() - started
        pids = stack.pids
        cpu = ProcessCPU({"rasa": pids["rasa-0"], "sandbox": pids["sandbox"]})
        runs = asyncio.run(alternate(stack, cpu, users=users, per_user=per_user, reps=reps,
                                     warm_per_user=warm_per_user))
    finally:
        stack.stop()
    return {
        "end_to_end": end_to_end_figures(runs),
        "ack_normal": ack_figures(runs["chattigo"]),
        "runs": runs,
        "stack_start_seconds": round(up, 1),
        "load": {"users": users, "messages_per_run": users * per_user, "reps": reps},
    }
