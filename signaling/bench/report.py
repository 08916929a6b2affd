"""How results are shown: one JSON line each (`--json`), or a short human summary."""

from __future__ import annotations

import json
from typing import Any

# The figures compared between ChimeCast and the reference relay, per scenario.
RATIO_KEYS = {
    "relay": ("server_cpu_us_per_msg", "msgs_per_s", "latency_ms.p50", "latency_ms.p99"),
    "capacity": (
        "rss_kb_per_conn",
        "idle_cpu_percent",
        "connect_rate_per_s",
        "server_cpu_ms_per_conn",
    ),
    "setup": ("complete_all_s", "setup_ms.p50", "setup_ms.p95", "setup_ms.p99"),
    "arrivals": ("complete_all_s", "all_connected_s", "server_cpu_ms_per_pair"),
    "storm": ("all_back_s", "server_cpu_ms_per_conn", "reconnect_rate_per_s"),
    "media": ("offer_to_connected_ms.p50", "offer_to_first_frame_ms.p50"),
}


def lookup(result: dict[str, Any], dotted: str) -> Any:
    value: Any = result
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def ratios(
    system: dict[str, Any], reference: dict[str, Any], name: str = "gevent"
) -> dict[str, Any]:
    """ChimeCast's figure divided by reference `name`'s, for the scenario's key figures."""
    out: dict[str, Any] = {"scenario": system["scenario"], "target": "ratio", "reference": name,
                           "meaning": f"chimecast / {name}, same scenario, same run"}  # fmt: skip
    for key in RATIO_KEYS.get(system["scenario"], ()):
        a, b = lookup(system, key), lookup(reference, key)
        out[key] = (
            round(a / b, 2)
            if isinstance(a, int | float) and isinstance(b, int | float) and b
            else None
        )
    return out


def as_json(result: dict[str, Any]) -> str:
    return json.dumps(result, sort_keys=False)


def _pct(stats: dict | None, unit: str = "ms") -> str:
    if not stats or stats.get("n", 1) == 0 or stats.get("p50") is None:
        return "n/a"
    return (f"p50 {stats['p50']:.2f} / p95 {stats['p95']:.2f} / p99 {stats['p99']:.2f}"
            f" / max {stats['max']:.2f} {unit}")  # fmt: skip


def _v(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value}{(' ' + unit) if unit else ''}"


def human(result: dict[str, Any]) -> str:
    """A few aligned lines for one result."""
    kind, target = result["scenario"], result["target"]
    if target == "ratio":
        pairs = [
            f"{k} x{_v(v)}"
            for k, v in result.items()
            if k not in ("scenario", "target", "meaning", "reference")
        ]
        return f"{kind}: chimecast / {result.get('reference', 'reference')}: " + ", ".join(pairs)
    lines = [f"== {kind} on {target}" + (f" (run {result['run']})" if "run" in result else "")]
    add = lines.append
    if kind == "relay":
        mode = (f"open loop at {result['rate_offered']} msg/s" if result["mode"] == "open"
                else f"closed loop, window {result['window']}")  # fmt: skip
        add(
            f"  {result['pairs']} pairs x 2 clients x {result['messages_per_client']} messages, {mode}"
        )
        add(
            f"  relayed        {result['relayed']}/{result['sent']} (lost {result['lost']}, wrong sender "
            f"{result['wrong_from']}, seq gaps {result['seq_gaps']}) in {result['duration_s']} s"
        )
        if result.get("errors"):
            add(f"  errors         {result['errors']}")
        add(f"  throughput     {_v(result['msgs_per_s'], 'msg/s')}")
        add(f"  one-way        {_pct(result['latency_ms'])}")
        add(
            f"  server CPU     {_v(result['server_cpu_us_per_msg'], 'us/msg')} "
            f"({_v(result['server_cpu_percent'], '% of a core')}); "
            f"client {_v(result['client_cpu_us_per_msg'], 'us/msg')}"
        )
        add(
            f"  server RSS     {_v(result['server_rss_mb_before'])} MB before, {_v(result['server_rss_mb_loaded'])} "
            f"loaded, {_v(result['server_rss_mb_after_close'])} after close"
        )
        if result.get("send_lag_max_ms") is not None:
            add(f"  sender lag     max {result['send_lag_max_ms']} ms behind schedule")
    elif kind == "meetings":
        cpu = result["janus_cpu_per_participant"]
        add(
            f"  {result['media']:<4} {result['participants']:>3} people  upstream per person "
            f"{_v(result['upstream_kbps_median'], 'kbit/s')} (min {result['upstream_kbps_min']}, "
            f"max {result['upstream_kbps_max']})"
            + ("" if cpu is None else f"; Janus CPU {_v(round(cpu * 100, 2), '% of a core')} each")
        )
    elif kind == "capacity":
        add(
            f"  connected      {result['connected']}/{result['connections']} ({result['per_user']} per user), "
            f"failures {result['failures']} {result['failure_kinds'] or ''}"
        )
        add(f"  connect rate   {_v(result['connect_rate_per_s'], '/s')} ({result['connect_s']} s); "
            f"server CPU {_v(result.get('server_cpu_ms_per_conn'), 'ms/conn')}, listen drops "
            f"{_v(result.get('listen_drops'))}")  # fmt: skip
        add(
            f"  server RSS     {_v(result['server_rss_mb_before'])} -> {_v(result['server_rss_mb_loaded'])} MB: "
            f"{_v(result['rss_kb_per_conn'], 'kB/conn')}, {_v(result['rss_mb_per_1000'], 'MB per 1,000')}"
        )
        add(
            f"  idle CPU       {_v(result['idle_cpu_percent'], '%')} over {result['hold_s']} s; dropped "
            f"{result['dropped_during_hold']} {result['drop_close_codes'] or ''}"
        )
    elif kind == "setup":
        mode = f"{result['rate_offered']} starts/s" if result["mode"] == "rate" else "all at once"
        add(
            f"  {result['calls']} calls, {mode}: completed {result['completed']}, failures {result['failures']} "
            f"{result['failure_kinds'] or ''}"
        )
        add(f"  all set up in  {_v(result['complete_all_s'], 's')}")
        add(f"  per call       {_pct(result['setup_ms'])}")
        add(f"  ring           {_pct(result['ring_ms'])} after POST returned")
        add(f"  stages         {_pct(result['post_ms'])} POST /call/start")
        add(f"                 {_pct(result['accept_ms'])} ring -> accepted")
        add(f"                 {_pct(result['negotiation_ms'])} accepted -> negotiated")
        add(f"  last call      {result['stages_all_s']} (s after the first POST)")
        add(
            f"  server CPU     {_v(result['server_cpu_s'], 's')}, RSS {_v(result['server_rss_mb'], 'MB')}; "
            f"API (gunicorn) CPU {_v(result.get('web_cpu_s'), 's')}; "
            f"this tool {_v(result.get('client_cpu_s'), 's')}"
        )
    elif kind == "arrivals":
        add(f"  {result['pairs']} pairs at once: completed {result['completed']}, failures "
            f"{result['failures']} {result['failure_kinds'] or ''}")  # fmt: skip
        add(f"  all connected  {_v(result['all_connected_s'], 's')}; all negotiated "
            f"{_v(result['complete_all_s'], 's')}")  # fmt: skip
        add(f"  per pair       {_pct(result['setup_ms'])} (after connecting)")
        add(f"  server CPU     {_v(result['server_cpu_s'], 's')} "
            f"({_v(result['server_cpu_ms_per_pair'], 'ms/pair')}); API CPU "
            f"{_v(result['web_cpu_s'], 's')}; listen drops {_v(result['listen_drops'])}")  # fmt: skip
    elif kind == "storm":
        add(f"  {result['connections']} dropped at once: welcomed again {result['welcomed_again']}, "
            f"failures {result['failures']}, retries {result['retries']} {result['retry_kinds'] or ''}")  # fmt: skip
        add(f"  all back in    {_v(result['all_back_s'], 's')} "
            f"({_v(result['reconnect_rate_per_s'], '/s')}); {_pct(result['back_ms'])}")  # fmt: skip
        add(f"  server CPU     {_v(result['server_cpu_s'], 's')} "
            f"({_v(result['server_cpu_ms_per_conn'], 'ms/conn')}); listen drops "
            f"{_v(result['listen_drops'])} (overflows {_v(result.get('listen_overflows'))}, "
            f"somaxconn {_v(result.get('somaxconn'))})")  # fmt: skip
    elif kind == "media":
        add(
            f"  {result['connected']}/{result['pairs']} pairs connected, failures {result['failures']} "
            f"{result['failure_kinds'] or ''}"
        )
        add(f"  offer->connected   {_pct(result['offer_to_connected_ms'])}")
        add(f"  offer->first frame {_pct(result['offer_to_first_frame_ms'])}")
    elif kind == "relay-memory":
        add(f"  RSS after each run's close (MB): {result['rss_mb_after_close']}")
        add(
            f"  growth first->last {_v(result['growth_mb'], 'MB')}; "
            f"run 2->last {_v(result['growth_after_warmup_mb'], 'MB')}; "
            f"per run over the second half {_v(result['growth_per_run_second_half_mb'], 'MB')}"
        )
    return "\n".join(lines)
