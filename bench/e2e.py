"""End to end: one `rasa run` serving REST and Chattigo on the same model, loaded in turns.

Chattigo runs three times per turn, with adaptive start on, off, and with its webhook front
(`bench.channels`), on the same `rasa run`, so the three variants and REST share the process, the
model and the drift.
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
from bench.procs import ProcessCPU, child_pid
from bench.stats import percentile, ratio, summary
from rasa_chattigo.devtools._stack import LocalStack, free_port

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "bot_project"
MODEL = PROJECT / "models" / "current.tar.gz"
DID = "5492644710400"
#: The Chattigo variants, each with its ratios' key prefix (`ratio`, `ratio_to_rest_metadata`, ...).
RATIOS = {channels.ON: "ratio", channels.OFF: "ratio_gate_off", channels.FRONT: "ratio_front"}
VARIANTS = tuple(RATIOS)


class BenchStack(LocalStack):
    """A `LocalStack` whose `rasa run` mounts every variant (`bench.channels.write_credentials`),
    the channel with its webhook front among them.

    Args:
        front_port: the port the webhook front answers on.
    """

    def __init__(self, *args: Any, front_port: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.front_port = front_port

    @property
    def front_pid(self) -> int:
        """The webhook front's pid: the child of the first `rasa run` running
        `rasa_chattigo.front` (started before `rasa run` answers, so once `start` returned)."""
        return child_pid(self.pids["rasa-0"], "rasa_chattigo.front")


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


def variant_urls(stack: BenchStack) -> Dict[str, str]:
    """The webhook of each Chattigo variant (`VARIANTS`); the front's is on its own port."""
    return {channels.ON: channels.webhook_url(stack.rasa_urls[0], channels.ON),
            channels.OFF: channels.webhook_url(stack.rasa_urls[0], channels.OFF),
            channels.FRONT: channels.front_webhook_url(stack.front_port)}


def start_stack(project: Path, model: Path, logs: Path, scratch: Path, **kwargs: Any
                ) -> BenchStack:
    """The sandbox and a `rasa run` serving the REST baselines and the three Chattigo variants,
    the front on a free port (not started yet)."""
    front_port = free_port()
    # Webhooks go straight to rasa: the sandbox never saw the users write (no window).
    return BenchStack(project, model, did=DID, logs=logs, sandbox_args=["--no-window"],
                      credentials=str(channels.write_credentials(scratch, front_port)),
                      extra_env={"PYTHONPATH": str(ROOT), **kwargs.pop("extra_env", {})},
                      front_port=front_port, **kwargs)


async def check_agreement(stack: BenchStack, per_user: int, expected: Sequence[int]) -> None:
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
    """One run's figures; `cpu` (name -> CPU seconds) becomes `cpu_<name>` in ms per message,
    and `cpu_rasa_and_front` adds up `rasa run`'s and its webhook front's when both were read
    (the bench reads both in every run; the front idles outside its own)."""
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
    if "rasa" in cpu and "front" in cpu:
        figures["cpu_rasa_and_front"] = figures["cpu_rasa"] + figures["cpu_front"]
    if result.acks_ms:
        figures["ack_p50"] = percentile(result.acks_ms, 50)
        figures["ack_p99"] = percentile(result.acks_ms, 99)
        if result.acks_seen_ms:
            figures["ack_seen_p99"] = percentile(result.acks_seen_ms, 99)
        figures["notify_lag_p50"] = percentile(result.notify_lag_ms, 50)
    return figures


#: The REST baselines each repetition runs first, in an order rotated every repetition.
REST_BASELINES = (channels.REST, channels.REST_METADATA, channels.REST_REPLY)


def _rotated(names: Sequence[str], rep: int) -> List[str]:
    """`names` starting at position `rep` (each one first in turn)."""
    shift = rep % len(names)
    return [*names[shift:], *names[:shift]]


def turn_order(rep: int) -> List[str]:
    """The Chattigo variants in the order repetition `rep` runs them: rotated every turn."""
    return _rotated(VARIANTS, rep)


def run_tag(variant: str, rep: int, base: int = 0) -> int:
    """The number that makes the phone numbers of `variant`'s run in repetition `rep` unique
    (`load.run_chattigo`): 50 apart per variant, from `base`."""
    return base + 50 * VARIANTS.index(variant) + rep


async def alternate(stack: BenchStack, cpu: ProcessCPU, *, users: int, per_user: int,
                    reps: int, warm_per_user: int) -> Dict[str, List[Dict[str, Any]]]:
    """Calibrates, warms up, then runs the REST baselines (`REST_BASELINES`) and the three
    Chattigo variants in turns, and REST again beside a burner using what the Chattigo harness
    used beyond REST's (`REST_LOADED`).
    """
    rest_url, urls = stack.rasa_urls[0], variant_urls(stack)
    expected = await calibrate(rest_url, per_user)
    await check_agreement(stack, per_user, expected)
    await _warm_up(stack, users, warm_per_user, expected)
    runs: Dict[str, List[Dict[str, Any]]] = {
        **{name: [] for name in REST_BASELINES}, channels.REST_LOADED: [],
        **{name: [] for name in urls}}
    for rep in range(reps):
        cpu.mark()
        for baseline in _rotated(REST_BASELINES, rep):
            result = await load.run_rest(
                rest_url, users, per_user, f"{os.getpid()}-{rep}-{baseline}",
                metadata_did=DID if baseline == channels.REST_METADATA else None,
                route=baseline, expected=expected)
            runs[baseline].append(run_figures(result, cpu.mark()))
        for variant in turn_order(rep):
            result = await load.run_chattigo(urls[variant], stack.sandbox_url, DID, users,
                                             per_user, expected, tag=run_tag(variant, rep))
            runs[variant].append(run_figures(result, cpu.mark()))
        runs[channels.REST_LOADED].append(
            await _run_loaded(rest_url, cpu, users, per_user, rep, runs[channels.ON][-1],
                              runs[channels.REST][-1]))
        _log_rep(rep, {name: measured[-1] for name, measured in runs.items()})
    return runs


async def _warm_up(stack: BenchStack, users: int, per_user: int, expected: Sequence[int]
                   ) -> None:
    """A short unmeasured run of REST, each Chattigo variant and the other REST baselines."""
    rest_url = stack.rasa_urls[0]
    await load.run_rest(rest_url, users, per_user, "warm")
    for tag, url in enumerate(variant_urls(stack).values()):
        await load.run_chattigo(url, stack.sandbox_url, DID, users, per_user, expected,
                                tag=9980 + tag)
    await load.run_rest(rest_url, users, per_user, "warm-metadata", metadata_did=DID)
    await load.run_rest(rest_url, users, per_user, "warm-reply", route=channels.REST_REPLY)


def _log_rep(rep: int, last: Dict[str, Dict[str, Any]]) -> None:
    """Logs repetition `rep`'s throughputs and the Chattigo variants' ack p99 (`last`: the
    figures of each channel's run in it)."""
    logger.info("rep %d: REST %.1f, with metadata %.1f, sending replies %.1f, Chattigo %.1f, "
                "gate off %.1f, front %.1f msg/s; ack p99 %.0f / %.0f / %.0f ms", rep + 1,
                *(last[name]["throughput"] for name in (*REST_BASELINES, *VARIANTS)),
                *(last[variant]["ack_p99"] for variant in VARIANTS))


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


#: The variants compared with REST beside the burner. Its share is the adaptive-start-on run's
#: harness's (the gate-off run's is lighter); the front run is compared at that share too,
#: though its own harness's share is not checked against it.
LOADED_VARIANTS = (channels.ON, channels.FRONT)
#: Each figure of the end-to-end summary, with its unit.
E2E_FIGURES = (("throughput", "msg/s"), ("p50", "ms"), ("p95", "ms"), ("p99", "ms"),
               ("cpu_rasa", "ms/msg"), ("cpu_sandbox", "ms/msg"), ("cpu_generator", "ms/msg"),
               ("cpu_front", "ms/msg"), ("cpu_rasa_and_front", "ms/msg"))


def end_to_end_figures(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """Per-figure summaries of the REST and the three Chattigo variants, with ratios to REST.

    `chattigo` (adaptive start on, the default) and `ratio` keep their meaning;
    `chattigo_gate_off` and `ratio_gate_off` are the same figures with adaptive start off,
    `chattigo_front` and `ratio_front` with the webhook front (`cpu_front` is the front
    process's CPU, idle in the other runs; `cpu_rasa_and_front` adds `rasa run`'s);
    `rest_metadata` is REST carrying the metadata Chattigo gives each message, and
    `ratio_to_rest_metadata` / `ratio_gate_off_to_rest_metadata` /
    `ratio_front_to_rest_metadata` compare the variants with it; `rest_reply` (REST sending
    each reply to the sandbox too) has the same three ratios; `rest_loaded` is REST beside the
    extra CPU of the adaptive-start-on run's harness (`bench.burner`), with
    `ratio_to_rest_loaded` and `ratio_front_to_rest_loaded` (`LOADED_VARIANTS`: the gate-off
    run's harness is lighter), `harness_share` that CPU and `burner_share` what the burner used.
    """
    figures: Dict[str, Any] = {key: _compared(runs, key, unit) for key, unit in E2E_FIGURES}
    figures["errors"] = {name: sum(r["errors"] for r in rs) for name, rs in runs.items()}
    figures["replies_per_run"] = {name: [r["replies"] for r in rs] for name, rs in runs.items()}
    if runs.get(channels.REST_LOADED):
        for name in ("harness_share", "burner_share"):
            figures[name] = summary([run[name] for run in runs[channels.REST_LOADED]], "core", 3)
    figures["notify_lag_p50_ms"] = figure(runs[channels.ON], "notify_lag_p50", "ms")
    return figures


def _compared(runs: Dict[str, List[Dict[str, Any]]], key: str, unit: str) -> Dict[str, Any]:
    """One figure of REST, of each variant and of each other REST baseline run, with the
    variants' ratios to REST and to those baselines."""
    rest = figure(runs[channels.REST], key, unit)
    measured = {variant: figure(runs[variant], key, unit) for variant in VARIANTS}
    compared: Dict[str, Any] = {"rest": rest, **measured}
    compared.update({RATIOS[variant]: ratio(measured[variant], rest) for variant in VARIANTS})
    for baseline in (channels.REST_METADATA, channels.REST_REPLY, channels.REST_LOADED):
        if runs.get(baseline):
            other = compared[baseline] = figure(runs[baseline], key, unit)
            variants = LOADED_VARIANTS if baseline == channels.REST_LOADED else VARIANTS
            compared.update({f"{RATIOS[variant]}_to_{baseline}": ratio(measured[variant], other)
                             for variant in variants})
    return compared


def ack_figures(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Webhook answer time (median and p99 of each run) of Chattigo runs, and its p99 as the
    generator's loop read the answers (`seen_p99`, with the generator's own delays)."""
    figures = {"p50": figure(runs, "ack_p50", "ms"), "p99": figure(runs, "ack_p99", "ms")}
    if all("ack_seen_p99" in run for run in runs):
        figures["seen_p99"] = figure(runs, "ack_seen_p99", "ms")
    return figures


def variant_ack_figures(runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """`ack_figures` of adaptive start on (`p50`, `p99`), off (under `gate_off`) and with the
    webhook front (under `front`)."""
    return {**ack_figures(runs[channels.ON]), "gate_off": ack_figures(runs[channels.OFF]),
            "front": ack_figures(runs[channels.FRONT])}


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
            pids = {"rasa": stack.pids["rasa-0"], "sandbox": stack.pids["sandbox"],
                    "front": stack.front_pid}
            logger.info("Reading the CPU of %s", ", ".join(
                f"{name} (pid {pid})" for name, pid in pids.items()))
            cpu = ProcessCPU(pids)
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
