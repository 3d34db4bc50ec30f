"""`python -m bench [--quick] [--only SECTION ...] [--out DIR]`: runs the benchmark suite."""

import argparse
import datetime
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from bench import report

logger = logging.getLogger("bench")

SECTIONS = ("e2e", "ack", "channel", "startup", "inbox", "window")
OUT = Path(__file__).resolve().parent


def _load(quick: bool) -> Dict[str, int]:
    if quick:
        return {"users": 2, "per_user": 3, "reps": 1, "warm_per_user": 1,
                "slow_users": 2, "slow_per_user": 2, "startup_reps": 1}
    return {"users": 50, "per_user": 40, "reps": 3, "warm_per_user": 4,
            "slow_users": 50, "slow_per_user": 6, "startup_reps": 5}


def run_suite(sections: List[str], quick: bool, logs: Path) -> Dict[str, Any]:
    """Runs the chosen sections in order; a failing section is recorded and the rest still run."""
    load = _load(quick)
    results: Dict[str, Any] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick, "machine": report.machine(), "load_average": {}, "seconds": {},
        "errors": {},
    }
    start = time.perf_counter()

    def e2e() -> None:
        from bench import e2e as module

        measured = module.run(users=load["users"], per_user=load["per_user"],
                              reps=load["reps"], warm_per_user=load["warm_per_user"],
                              logs=logs / "e2e")
        results["end_to_end"] = measured["end_to_end"]
        results.setdefault("ack", {})["normal"] = measured["ack_normal"]
        results["load"] = measured["load"]
        results["e2e_runs"] = measured["runs"]
        results["stack_start_seconds"] = measured["stack_start_seconds"]

    def ack() -> None:
        from bench import slowbot

        results.setdefault("ack", {})["slow_bot"] = slowbot.run(
            users=load["slow_users"], per_user=load["slow_per_user"], reps=load["reps"],
            logs=logs / "slow")

    def channel() -> None:
        from bench import channel_costs

        results["channel_only"] = channel_costs.run(quick=quick)

    def startup() -> None:
        from bench import startup as module

        results["startup"] = module.run(load["startup_reps"])

    def inbox() -> None:
        from bench import inbox_cost

        results["inbox"] = inbox_cost.run(quick=quick)

    def window() -> None:
        from bench import bench_window

        results["window_check"] = bench_window.run(quick=quick)

    steps: Dict[str, Callable[[], None]] = {"e2e": e2e, "ack": ack, "channel": channel,
                                           "startup": startup, "inbox": inbox, "window": window}
    for name in sections:
        before = os.getloadavg()[0]
        began = time.perf_counter()
        logger.info("bench: %s ...", name)
        try:
            steps[name]()
        except Exception as exc:  # one broken section must not lose the others
            logger.error("bench: %s failed: %s", name, exc)
            results["errors"][name] = "".join(traceback.format_exception_only(type(exc), exc))
        results["seconds"][name] = round(time.perf_counter() - began, 1)
        results["load_average"][name] = [round(before, 2), round(os.getloadavg()[0], 2)]
        logger.info("bench: %s done in %.0f s", name, results["seconds"][name])
    results["duration_seconds"] = round(time.perf_counter() - start, 1)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """Parses the arguments, runs the suite, writes results.json and results.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=(
                        "tiny loads, one repetition: checks the suite runs; figures mean little"))
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        metavar="SECTION", help=f"run only these sections: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder for results.json and results.md (default: bench/)")
    parser.add_argument("--logs", type=Path, default=None,
                        help="folder for the sandbox and rasa logs (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # The in-process servers of the channel-only part would otherwise log every start.
    for noisy in ("rasa_chattigo", "sanic.root", "sanic.error", "sanic.access", "aiohttp",
                  "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="bench-logs-"))
    results = run_suite(args.only, args.quick, logs)
    report.write(results, args.out)
    if results["errors"]:
        print(f"Some sections failed (logs kept in {logs}):", file=sys.stderr)
        for name, error in results["errors"].items():
            print(f"  {name}: {error.strip()}", file=sys.stderr)
    elif args.logs is None:
        shutil.rmtree(logs, ignore_errors=True)
    print(report.markdown(results))
    print(f"Written: {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
