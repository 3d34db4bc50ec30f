"""Writes the results as JSON and as the Markdown table of bench/results.md."""

import json
import os
import platform
from pathlib import Path
from typing import Any, Dict, List, Optional

DASH = "\u2013"  # an en dash, for ranges and empty cells


def machine() -> Dict[str, Any]:
    """What the figures ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib: Optional[float] = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    from rasa.version import __version__ as rasa_version

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory_gib,
            "os": platform.platform(), "python": platform.python_version(),
            "rasa": rasa_version}


def _cell(figure: Optional[Dict[str, Any]]) -> str:
    if not figure:
        return DASH
    value = f"{figure['median']:g} {figure['unit']}"
    if figure["min"] != figure["max"]:
        value += f" ({figure['min']:g}{DASH}{figure['max']:g})"
    return value


def _ratio(value: Optional[float]) -> str:
    return DASH if value is None else f"{value:.3f}"


def _rows(results: Dict[str, Any]) -> List[List[str]]:
    rows: List[List[str]] = []
    e2e = results.get("end_to_end")
    if e2e:
        names = {"throughput": "Throughput", "p50": "Latency median", "p95": "Latency p95",
                 "p99": "Latency p99", "cpu_rasa": "`rasa run` CPU per message",
                 "cpu_sandbox": "Sandbox CPU per message",
                 "cpu_generator": "Load generator CPU per message"}
        for key, name in names.items():
            f = e2e[key]
            rows.append([f"End to end: {name}", _cell(f["chattigo"]), "REST " + _cell(f["rest"]),
                         _ratio(f["ratio"])])
    ack = results.get("ack", {})
    normal, slow = ack.get("normal"), ack.get("slow_bot")
    for q in ("p50", "p99"):
        label = "median" if q == "p50" else "p99"
        if normal:
            rows.append([f"Ack: webhook answer {label}, normal bot", _cell(normal[q]), DASH, DASH])
        if slow:
            ratio = round(slow[q]["median"] / normal[q]["median"], 3) if normal else None
            rows.append([f"Ack: webhook answer {label}, 1 s bot", _cell(slow[q]),
                         "normal bot " + _cell(normal[q]) if normal else DASH, _ratio(ratio)])
    channel = results.get("channel_only")
    if channel:
        for case, f in channel["parse_webhook"].items():
            rows.append([f"Parse webhook → UserMessage: {case}", _cell(f), DASH, DASH])
        for case, f in channel["build_requests"].items():
            rows.append([f"Build Chattigo payloads: {case}", _cell(f), DASH, DASH])
        sends = channel["sends"]
        rows.append([f"Sends/s, {sends['concurrent']} concurrent replies "
                     f"({sends['logins']} login(s) for {sends['sends_through_channel']} sends)",
                     _cell(sends["chattigo"]), "bare httpx " + _cell(sends["baseline_bare_httpx"]),
                     _ratio(sends["ratio"])])
        memory = channel["memory"]
        rows.append(["Channel memory per 1,000 conversations in flight",
                     _cell(memory["in_flight"]), DASH, DASH])
        rows.append(["Channel memory per 1,000 conversations processed (dedup ids)",
                     _cell(memory["processed"]), DASH, DASH])
    inbox = results.get("inbox")
    if inbox:
        for name in ("memory", "sqlite", "redis", "postgresql"):
            measured = inbox.get(name)
            if measured:
                rows.append([f"Inbox write per message (before the 200): {name}",
                             _cell(measured["keep"]),
                             "with its removal " + _cell(measured["keep_and_forget"]), DASH])
    startup = results.get("startup")
    if startup:
        rows.append(["Start-up: `import rasa_chattigo` + `ChattigoInput`",
                     _cell(startup["chattigo_import"]),
                     "`rasa run` imports " + _cell(startup["rasa_imports"]),
                     _ratio(startup["ratio"])])
    return rows


def markdown(results: Dict[str, Any]) -> str:
    """The results table with the machine and the load it ran."""
    m = results["machine"]
    lines = [
        f"Benchmark of {results['started']} ({'quick' if results['quick'] else 'full'} run, "
        f"{results['duration_seconds']:.0f} s) on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}, Rasa {m['rasa']}; "
        f"load average before/after: {results['load_average']}.",
        "",
    ]
    e2e = results.get("end_to_end")
    if e2e:
        load = results["load"]
        lines += [f"End to end: {load['users']} concurrent users, {load['messages_per_run']} "
                  f"messages per run, {load['reps']} runs per channel alternating REST and "
                  f"Chattigo on one `rasa run`; errors {e2e['errors']}.", ""]
    lines += [f"Median (min{DASH}max over repetitions); ratio = median / baseline median.", "",
              "| Figure | Chattigo | Baseline | Ratio |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    return "\n".join(lines) + "\n"


def write(results: Dict[str, Any], out: Path) -> None:
    """Writes `results.json` and `results.md` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
