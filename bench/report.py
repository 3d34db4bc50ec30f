"""Writes the results as JSON and as the Markdown table of bench/results.md."""

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from bench.stats import ratio

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


_E2E_NAMES = {"throughput": "Throughput", "p50": "Latency median", "p95": "Latency p95",
              "p99": "Latency p99", "cpu_rasa": "`rasa run` CPU per message",
              "cpu_sandbox": "Sandbox CPU per message",
              "cpu_generator": "Load generator CPU per message",
              "cpu_front": "Webhook front CPU per message",
              "cpu_rasa_and_front": "`rasa run` + webhook front CPU per message"}
_ON_KEYS = ("throughput", "p50", "p95", "p99", "cpu_rasa", "cpu_sandbox", "cpu_generator")
_GATE_OFF_KEYS = ("throughput", "p50", "p95", "p99", "cpu_rasa")
_BASELINE_KEYS = ("throughput", "p50", "p99", "cpu_rasa")


class _Variant(NamedTuple):
    """A Chattigo variant as the table shows it: the key of its figures, the label its rows
    carry, the key of its ratios, and the figures compared with the other REST baselines."""

    key: str
    label: str
    ratio: str
    baseline_keys: Sequence[str]


_ON = _Variant("chattigo", "", "ratio", _BASELINE_KEYS)
_OFF = _Variant("chattigo_gate_off", ", adaptive start off", "ratio_gate_off", _BASELINE_KEYS)
_FRONT = _Variant("chattigo_front", ", webhook front", "ratio_front",
                  (*_BASELINE_KEYS, "cpu_rasa_and_front"))


def _e2e_rows(e2e: Dict[str, Any]) -> List[List[str]]:
    rows = _variant_rows(e2e, _ON, _ON_KEYS)
    rows += _variant_rows(e2e, _OFF, _GATE_OFF_KEYS)
    rows += _front_rows(e2e)
    rows += _baseline_rows(e2e, "rest_metadata", "REST with the same metadata",
                           "REST with the same metadata", "REST with metadata")
    rows += _baseline_rows(e2e, "rest_reply", "REST sending each reply to the sandbox",
                           "REST sending each reply", "REST sending replies")
    rows += _harness_rows(e2e)
    return rows


def _variant_rows(e2e: Dict[str, Any], variant: _Variant, keys: Sequence[str]
                  ) -> List[List[str]]:
    """`keys` of one variant against REST (none when the results lack the variant)."""
    return [[f"End to end{variant.label}: {_E2E_NAMES[key]}", _cell(e2e[key][variant.key]),
             "REST " + _cell(e2e[key]["rest"]), _ratio(e2e[key][variant.ratio])]
            for key in keys if variant.key in e2e.get(key, {})]


def _front_rows(e2e: Dict[str, Any]) -> List[List[str]]:
    """The webhook front against REST: its process's CPU beside what it used idle under REST
    (no ratio), and `rasa run`'s and its own together against both under REST."""
    if _FRONT.key not in e2e.get("cpu_front", {}):
        return []
    front, both = e2e["cpu_front"], e2e["cpu_rasa_and_front"]
    return [*_variant_rows(e2e, _FRONT, _GATE_OFF_KEYS),
            [f"End to end{_FRONT.label}: {_E2E_NAMES['cpu_front']}", _cell(front[_FRONT.key]),
             "REST, front idle, " + _cell(front["rest"]), DASH],
            [f"End to end{_FRONT.label}: {_E2E_NAMES['cpu_rasa_and_front']}",
             _cell(both[_FRONT.key]), "REST, front idle, " + _cell(both["rest"]),
             _ratio(both[_FRONT.ratio])]]


def _harness_rows(e2e: Dict[str, Any]) -> List[List[str]]:
    """The Chattigo harness's extra CPU, and REST beside a burner of it (`rest_loaded`)."""
    if "rest_loaded" not in e2e["throughput"]:
        return []
    return [["Chattigo harness (sandbox and generator) beyond REST's: share of a core",
             _cell(e2e["harness_share"]), "burner's measured " + _cell(e2e.get("burner_share")),
             DASH],
            *_baseline_rows(e2e, "rest_loaded", "REST beside a burner of that share",
                            "REST beside that burner", "REST with burner",
                            variants=(_ON, _FRONT))]


def _baseline_rows(e2e: Dict[str, Any], baseline: str, title: str, against: str,
                   short: str, variants: Sequence[_Variant] = (_ON, _OFF, _FRONT)
                   ) -> List[List[str]]:
    """Another REST baseline (`rest_metadata`, `rest_reply`, `rest_loaded`) against REST, and
    each of `variants` against it (`<ratio>_to_<baseline>`)."""
    if baseline not in e2e["throughput"]:
        return []
    rows = [[f"{title}: {_E2E_NAMES[key]}", _cell(e2e[key][baseline]),
             "REST " + _cell(e2e[key]["rest"]),
             _ratio(ratio(e2e[key][baseline], e2e[key]["rest"]))]
            for key in _BASELINE_KEYS]
    for variant in variants:
        rows += [[f"End to end{variant.label}, against {against}: {_E2E_NAMES[key]}",
                  _cell(e2e[key][variant.key]), f"{short} " + _cell(e2e[key][baseline]),
                  _ratio(e2e[key][f"{variant.ratio}_to_{baseline}"])]
                 for key in variant.baseline_keys if variant.key in e2e.get(key, {})]
    return rows


def _against_row(label: str, value: Dict[str, Any], name: str,
                 baseline: Optional[Dict[str, Any]]) -> List[str]:
    """A figure against the same figure of another variant (`name`), with their ratio."""
    if not baseline:
        return [label, _cell(value), DASH, DASH]
    share = round(value["median"] / baseline["median"], 3) if baseline["median"] else None
    return [label, _cell(value), f"{name} " + _cell(baseline), _ratio(share)]


#: The ack section's figures besides the webhook answer times, as the table names them.
_BOT_FIGURES = (("throughput", "throughput"), ("latency_p50", "latency median"),
                ("cpu_rasa", "`rasa run` CPU per message"),
                ("rasa_cores", "`rasa run` CPU, in cores"))
_QUANTILES = (("p50", "median"), ("p99", "p99"),
              ("seen_p99", "p99 as the generator's loop read it"))


def _ack_rows(ack: Dict[str, Any]) -> List[List[str]]:
    rows: List[List[str]] = []
    for bot, name in (("normal", "normal bot"), ("slow_bot", "1 s bot")):
        figures = ack.get(bot)
        if not figures:
            continue
        off = figures.get("gate_off", {})
        for q, label in (item for item in _QUANTILES if item[0] in figures):
            rows.append(_against_row(f"Ack: webhook answer {label}, {name}", figures[q],
                                     "adaptive start off", off.get(q)))
        rows += [_against_row(f"{name}: {label}", figures[key], "adaptive start off",
                              off.get(key)) for key, label in _BOT_FIGURES if key in figures]
        rows += _front_ack_rows(figures, name)
    return rows


def _front_ack_rows(figures: Dict[str, Any], name: str) -> List[List[str]]:
    """The webhook front's figures of one bot against adaptive start on's; its process's CPU
    beside what it used idle meanwhile (no ratio), and with `rasa run`'s."""
    front = figures.get("front")
    if not front:
        return []
    rows = [_against_row(f"Ack, webhook front: webhook answer {label}, {name}", front[q],
                         "adaptive start on", figures.get(q))
            for q, label in _QUANTILES if q in front]
    rows += [_against_row(f"{name}, webhook front: {label}", front[key], "adaptive start on",
                          figures.get(key)) for key, label in _BOT_FIGURES if key in front]
    if "cpu_front" in front:
        idle = "adaptive start on, front idle,"
        rows += [[f"{name}, webhook front: webhook front CPU per message",
                  _cell(front["cpu_front"]), f"{idle} " + _cell(figures["cpu_front"]), DASH],
                 _against_row(f"{name}, webhook front: `rasa run` + webhook front CPU per "
                              "message", front["cpu_rasa_and_front"], idle,
                              figures["cpu_rasa_and_front"])]
    return rows


def _rows(results: Dict[str, Any]) -> List[List[str]]:
    rows: List[List[str]] = []
    e2e = results.get("end_to_end")
    if e2e:
        rows += _e2e_rows(e2e)
    rows += _ack_rows(results.get("ack", {}))
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
        cpu = channel.get("send_cpu")
        if cpu:
            rows.append(["CPU per reply request, sending side (the channel)", _cell(cpu["channel"]),
                         "bare aiohttp " + _cell(cpu["bare_aiohttp"]),
                         _ratio(ratio(cpu["channel"], cpu["bare_aiohttp"]))])
            rows.append(["CPU per reply request, sending side (bare httpx)",
                         _cell(cpu["bare_httpx"]), "bare aiohttp " + _cell(cpu["bare_aiohttp"]),
                         _ratio(ratio(cpu["bare_httpx"], cpu["bare_aiohttp"]))])
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
    rows += _window_rows(results.get("window_check") or {})
    startup = results.get("startup")
    if startup:
        rows.append(["Start-up: `import rasa_chattigo` + `ChattigoInput`",
                     _cell(startup["chattigo_import"]),
                     "`rasa run` imports " + _cell(startup["rasa_imports"]),
                     _ratio(startup["ratio"])])
    return rows


#: The 24-hour-window check's cases (`bench/bench_window.py`), as the table names them.
_WINDOW_CASES = {
    "inside_window_memory": "inside the window (memory)",
    "outside_window_template": "outside it (the reply becomes a template)",
    "tracker_read_40_events": "a tracker read (40 events), for scale",
}


def _window_rows(window: Dict[str, Any]) -> List[List[str]]:
    scale = window.get("build_requests_text (for scale)")
    baseline = "building a text reply " + _cell(_in_us(scale)) if scale else DASH
    return [[f"24-hour window check per reply: {label}", _cell(_in_us(window[key])), baseline,
             DASH] for key, label in _WINDOW_CASES.items() if key in window]


def _in_us(timing: Dict[str, Any]) -> Dict[str, Any]:
    """A `time_per_call` result (`median_us`, ...) as a figure `_cell` shows."""
    return {"unit": "µs", "median": timing["median_us"], "min": timing["min_us"],
            "max": timing["max_us"]}


def gap_note(results: Dict[str, Any]) -> Optional[str]:
    """What the reply requests cost per message, next to the CPU gap to REST (both measured)."""
    e2e, channel = results.get("end_to_end"), results.get("channel_only")
    if not e2e or not channel or "send_cpu" not in channel:
        return None
    per_message = (statistics.median(e2e["replies_per_run"]["chattigo"])
                   / results["load"]["messages_per_run"])
    gap = e2e["cpu_rasa"]["chattigo"]["median"] - e2e["cpu_rasa"]["rest"]["median"]
    cpu = channel["send_cpu"]
    baselines = ""
    for baseline, what in (("rest_metadata", "carrying the same WhatsApp metadata"),
                           ("rest_reply", "sending each reply to the sandbox (bare aiohttp)")):
        if baseline in e2e["cpu_rasa"]:
            share = e2e["cpu_rasa"][baseline]["median"] - e2e["cpu_rasa"]["rest"]["median"]
            baselines += f"REST {what} costs {share:+.2f} ms per message against REST. "
    return (f"CPU gap to REST: {gap:.2f} ms per message in `rasa run`. {baselines}The bot answers "
            f"{per_message:.2f} replies per message; at the measured CPU per reply request "
            f"(sending side) they cost {per_message * cpu['channel']['median'] / 1000:.2f} ms "
            f"through the channel, {per_message * cpu['bare_aiohttp']['median'] / 1000:.2f} ms "
            f"with bare aiohttp and {per_message * cpu['bare_httpx']['median'] / 1000:.2f} ms with "
            f"bare httpx.")


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
                  f"messages per run, {load['reps']} runs per channel alternating REST, REST "
                  f"with the WhatsApp metadata Chattigo gives each message, REST sending each "
                  f"reply to the sandbox as Chattigo's send (bare aiohttp), Chattigo with "
                  f"adaptive start on, off, and with its webhook front (a process of its own "
                  f"answering the webhooks, adaptive start off), and REST beside a burner "
                  f"process using the share of a core the Chattigo harness used beyond REST's, "
                  f"on one `rasa run`; "
                  f"errors {e2e['errors']}.", ""]
    lines += [f"Median (min{DASH}max over repetitions); ratio = median / baseline median.", "",
              "| Figure | Chattigo | Baseline | Ratio |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    note = gap_note(results)
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def write(results: Dict[str, Any], out: Path) -> None:
    """Writes `results.json` and `results.md` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (out / "results.md").write_text(markdown(results), encoding="utf-8")
