"""End to end: one `rasa run` serving REST and Chattigo on the same model, loaded in turns.

Chattigo runs twice per turn, with adaptive start on and off (`bench.channels`), on the same
`rasa run`, so both variants and REST share the process, the model and the drift.
"""

import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import aiohttp

from bench import channels, load
from bench.burner import Burner, harness_share
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


def variant_urls(stack: LocalStack) -> Dict[str, str]:
    """The webhook of each adaptive-start variant (`chattigo`, `chattigo_gate_off`)."""
    return {variant: channels.webhook_url(stack.rasa_urls[0], variant)
            for variant in (channels.ON, channels.OFF)}


def start_stack(project: Path, model: Path, logs: Path, scratch: Path, **kwargs: Any
                ) -> LocalStack:
    """Starts the sandbox and a `rasa run` serving REST and both adaptive-start variants."""
    # Webhooks go straight to rasa: the sandbox never saw the users write (no window).
    stack = LocalStack(project, model, did=DID, logs=logs, sandbox_args=["--no-window"],
                       credentials=str(channels.write_credentials(scratch)),
                       extra_env={"PYTHONPATH": str(ROOT), **kwargs.pop("extra_env", {})},
                       **kwargs)
    return stack


async def check_agreement(stack: LocalStack, per_user: int, expected: Sequence[int]) -> None:
    """One conversation per variant must get exactly the replies REST got, or the runs differ.

    Raises:
        RuntimeError: a reply missing or one more than REST gave.
    """
    for tag, url in enumerate(variant_urls(stack).values()):
        await _check_agreement(url, stack.sandbox_url, per_user, expected, 9990 + tag)


async def _check_agreement(url: str, sandbox_url: str, per_user: int, expected: Sequence[int],
                           tag: int) -> None:
    result = await load.run_chattigo(url, sandbox_url, DID, 1, per_user, expected, tag=tag,
                                     settle=1.0)
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


#: The REST baselines each repetition runs first, in an order rotated every repetition.
REST_BASELINES = (channels.REST, channels.REST_METADATA, channels.REST_REPLY)


def _rotated(names: Sequence[str], rep: int) -> List[str]:
    """`names` starting at position `rep` (each one first in turn)."""
    shift = rep % len(names)
    return [*names[shift:], *names[:shift]]


def turn_order(rep: int) -> List[str]:
    """The variants in the order repetition `rep` runs them: swapped every other turn."""
    order = [channels.ON, channels.OFF]
    return order if rep % 2 == 0 else order[::-1]


async def alternate(stack: LocalStack, cpu: ProcessCPU, *, users: int, per_user: int,
                    reps: int, warm_per_user: int) -> Dict[str, List[Dict[str, Any]]]:
    """Calibrates, warms up, then runs the REST baselines (`REST_BASELINES`) and both Chattigo
    variants in turns, and REST again beside a burner using what the Chattigo harness used
    beyond REST's (`REST_LOADED`).
    """
    rest_url, urls = stack.rasa_urls[0], variant_urls(stack)
    expected = await calibrate(rest_url, per_user)
    await check_agreement(stack, per_user, expected)
    await load.run_rest(rest_url, users, warm_per_user, "warm")
    for tag, url in enumerate(urls.values()):
        await load.run_chattigo(url, stack.sandbox_url, DID, users, warm_per_user, expected,
                                tag=9980 + tag)
    await load.run_rest(rest_url, users, warm_per_user, "warm-metadata", metadata_did=DID)
    await load.run_rest(rest_url, users, warm_per_user, "warm-reply", route=channels.REST_REPLY)
    runs: Dict[str, List[Dict[str, Any]]] = {
        **{name: [] for name in REST_BASELINES}, channels.REST_LOADED: [],
        **{name: [] for name in urls}}
    for rep in range(reps):
        cpu.mark()
        measured: Dict[str, load.RunResult] = {}
        for baseline in _rotated(REST_BASELINES, rep):
            measured[baseline] = await load.run_rest(
                rest_url, users, per_user, f"{os.getpid()}-{rep}-{baseline}",
                metadata_did=DID if baseline == channels.REST_METADATA else None,
                route=baseline, expected=expected)
            runs[baseline].append(run_figures(measured[baseline], cpu.mark()))
        rest, with_metadata = measured[channels.REST], measured[channels.REST_METADATA]
        for variant in turn_order(rep):
            tag = rep if variant == channels.ON else 50 + rep
            result = await load.run_chattigo(urls[variant], stack.sandbox_url, DID, users,
                                             per_user, expected, tag=tag)
            runs[variant].append(run_figures(result, cpu.mark()))
        runs[channels.REST_LOADED].append(
            await _run_loaded(rest_url, cpu, users, per_user, rep, runs[channels.ON][-1],
                              runs[channels.REST][-1]))
        logger.info("rep %d: REST %.1f, with metadata %.1f, sending replies %.1f, Chattigo %.1f, "
                    "gate off %.1f msg/s; ack p99 %.0f / %.0f ms", rep + 1, rest.throughput,
                    with_metadata.throughput, measured[channels.REST_REPLY].throughput,
                    runs[channels.ON][-1]["throughput"],
                    runs[channels.OFF][-1]["throughput"], runs[channels.ON][-1]["ack_p99"],
                    runs[channels.OFF][-1]["ack_p99"])
    return runs


def _harness_ms(figures: Dict[str, Any]) -> float:
    return float(figures["cpu_sandbox"] + figures["cpu_generator"])


async def _run_loaded(rest_url: str, cpu: ProcessCPU, users: int, per_user: int, rep: int,
                      chattigo: Dict[str, Any], rest: Dict[str, Any]) -> Dict[str, Any]:
    """REST beside a burner using the share of a core the Chattigo run's harness (sandbox and
    generator) used beyond the REST run's: what that harness alone costs `rasa run`."""
    share = harness_share(_harness_ms(chattigo), _harness_ms(rest), chattigo["throughput"])
    cpu.mark()
    with Burner(share) as burner:
        result = await load.run_rest(rest_url, users, per_user, f"{os.getpid()}-{rep}-loaded")
    return {**run_figures(result, cpu.mark()), "harness_share": share,
            "burner_share": burner.used}


def figure(runs: List[Dict[str, Any]], key: str, unit: str) -> Dict[str, Any]:
    """Summary of one figure over runs."""
    return summary([run[key] for run in runs], unit, 2)


def end_to_end_figures(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """Per-figure summaries of the REST and both Chattigo variants, with ratios to REST.

    `chattigo` (adaptive start on, the default) and `ratio` keep their meaning;
    `chattigo_gate_off` and `ratio_gate_off` are the same figures with adaptive start off;
    `rest_metadata` is REST carrying the metadata Chattigo gives each message, and
    `ratio_to_rest_metadata` / `ratio_gate_off_to_rest_metadata` compare both variants with it;
    `rest_reply` (REST sending each reply to the sandbox too) has the same two ratios;
    `rest_loaded` is REST beside the extra CPU of the adaptive-start-on run's harness
    (`bench.burner`), with `ratio_to_rest_loaded` (adaptive start on only: the gate-off run's
    harness is lighter), `harness_share` that CPU and `burner_share` what the burner used.
    """
    figures: Dict[str, Any] = {}
    for key, unit in (("throughput", "msg/s"), ("p50", "ms"), ("p95", "ms"), ("p99", "ms"),
                      ("cpu_rasa", "ms/msg"), ("cpu_sandbox", "ms/msg"),
                      ("cpu_generator", "ms/msg")):
        rest = figure(runs[channels.REST], key, unit)
        on, off = (figure(runs[variant], key, unit) for variant in (channels.ON, channels.OFF))
        figures[key] = {"rest": rest, "chattigo": on, "ratio": ratio(on, rest),
                        "chattigo_gate_off": off, "ratio_gate_off": ratio(off, rest)}
        for baseline in (channels.REST_METADATA, channels.REST_REPLY):
            if runs.get(baseline):
                other = figure(runs[baseline], key, unit)
                figures[key].update({
                    baseline: other,
                    f"ratio_to_{baseline}": ratio(on, other),
                    f"ratio_gate_off_to_{baseline}": ratio(off, other)})
        if runs.get(channels.REST_LOADED):
            loaded = figure(runs[channels.REST_LOADED], key, unit)
            figures[key].update({"rest_loaded": loaded, "ratio_to_rest_loaded": ratio(on, loaded)})
    figures["errors"] = {name: sum(r["errors"] for r in rs) for name, rs in runs.items()}
    figures["replies_per_run"] = {name: [r["replies"] for r in rs] for name, rs in runs.items()}
    if runs.get(channels.REST_LOADED):
        for name in ("harness_share", "burner_share"):
            figures[name] = summary([run[name] for run in runs[channels.REST_LOADED]], "core", 3)
    figures["notify_lag_p50_ms"] = figure(runs[channels.ON], "notify_lag_p50", "ms")
    return figures


def ack_figures(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Webhook answer time (median and p99 of each run) of Chattigo runs."""
    return {"p50": figure(runs, "ack_p50", "ms"), "p99": figure(runs, "ack_p99", "ms")}


def variant_ack_figures(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """`ack_figures` of adaptive start on (`p50`, `p99`) and off (under `gate_off`)."""
    return {**ack_figures(runs[channels.ON]), "gate_off": ack_figures(runs[channels.OFF])}


def run(*, users: int, per_user: int, reps: int, warm_per_user: int, logs: Path,
        model: Path = MODEL) -> Dict[str, Any]:
    """Starts the stack, measures REST against Chattigo, stops everything.

    Returns:
        `end_to_end` figures, `ack_normal` figures, the raw `runs` and `startup_seconds`.
    """
    if not model.exists():
        raise FileNotFoundError(f"model: {model} is missing; run `make model` first")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch:
        stack = start_stack(PROJECT, model, logs, Path(scratch))
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
        "ack_normal": variant_ack_figures(runs),
        "runs": runs,
        "stack_start_seconds": round(up, 1),
        "load": {"users": users, "messages_per_run": users * per_user, "reps": reps},
    }
