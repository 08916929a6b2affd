"""`chimecast-bench`: load a ChimeCast signaling deployment and report what it costs.

    chimecast-bench relay --pairs 50 --messages 2000            # own temporary system
    chimecast-bench relay --rate 1000 --reference --json         # plus the bare relay, ratios
    chimecast-bench capacity --connections 10000 --hold 60 \\
        --web-url http://127.0.0.1:8000 --signaling-url ws://127.0.0.1:8001/ws --server-pid 1234

Every scenario is bounded in count and time and stops by itself. The exit status is 0
when every message and connection made it, 1 when some were lost or failed, 2 on misuse.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

try:  # the tool's own CPU shares the machine with the servers it measures
    import uvloop
except ImportError:  # pragma: no cover - a platform without uvloop's wheels
    uvloop = None

from signaling.bench import peerjs, report
from signaling.bench.http_pool import HttpPool
from signaling.bench.load_client import CLIENTS, DEFAULT_CLIENT
from signaling.bench.measure import Progress, pin, raised_somaxconn
from signaling.bench.population import Population
from signaling.bench.target import (
    REFERENCES,
    WEB_THREADS,
    OwnSystem,
    ReferenceRelay,
    Running,
    Target,
    fd_limit,
    raise_fd_limit,
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _references(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(REFERENCES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown reference {', '.join(unknown) or text!r}; choose from {', '.join(REFERENCES)}"
        )
    return names


def chosen_references(args: argparse.Namespace) -> list[str]:
    """The references to run, in order, each once (gevent alone for a bare --reference-only)."""
    names = [name for group in args.reference for name in group]
    if args.reference_only and not names:
        names = ["gevent"]
    return list(dict.fromkeys(names))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where to run (default: a temporary system on SQLite)")
    where.add_argument("--web-url", help="a running system's HTTP API, e.g. http://127.0.0.1:8000")
    where.add_argument("--signaling-url", help="its WebSocket, e.g. ws://127.0.0.1:8001/ws")
    where.add_argument(
        "--server-pid", type=int, help="the signaling daemon's pid (CPU and RSS from /proc)"
    )
    where.add_argument(
        "--web-pid", type=int, help="the API's (gunicorn master's) pid: its CPU in `setup`"
    )
    where.add_argument(
        "--reference",
        type=_references,
        nargs="?",
        const=["gevent"],
        action="append",
        default=[],
        metavar="NAME[,NAME]",
        help="also run the same scenario against a reference and print ratios: gevent (a bare "
        "gevent-websocket relay, the default when no name is given) or peerjs (PeerJS server "
        f"{peerjs.VERSION}, installed from npm on first use); repeatable",
    )
    where.add_argument(
        "--reference-only", action="store_true", help="run against the reference(s) only"
    )
    where.add_argument(
        "--pin",
        choices=("auto", "on", "off"),
        default="auto",
        help="bind each server under test to CPU 0 and this tool to the other CPUs "
        "(as `taskset` does); auto: on when the machine has 2 or more CPUs",
    )
    where.add_argument(
        "--reference-nodelay",
        action="store_true",
        help="set TCP_NODELAY on the reference relay's sockets (gevent does not by default)",
    )
    where.add_argument("--env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
                       help="extra CHIMECAST_* setting for the temporary system (repeatable)")  # fmt: skip
    where.add_argument("--logs", type=Path, help="keep the temporary system's logs in this folder")
    where.add_argument("--web-workers", type=_positive,
                       help="gunicorn workers of the temporary system (default 2)")  # fmt: skip
    where.add_argument("--workers", type=_positive, default=1,
                       help="the temporary system's daemon as `chimecast-signaling --workers N` "
                       "(N > 1 needs --env CHIMECAST_REDIS_URL=...; default 1)")  # fmt: skip
    where.add_argument("--web-threads", type=_positive, default=WEB_THREADS,
                       help=f"threads per gunicorn worker of the temporary system (default {WEB_THREADS})")  # fmt: skip
    out = common.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print one JSON line per result")
    out.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    common.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default=DEFAULT_CLIENT,
        help="load client transport: raw (asyncio framing, cheapest) or websockets (default raw)",
    )
    common.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop" if uvloop is not None else "asyncio",
        help="the tool's event loop: uvloop (libuv, about 30 %% less of the tool's CPU on a "
        "1,000-call setup, so more of the machine is left to the servers) or asyncio's own; "
        "default uvloop when installed",
    )
    common.add_argument(
        "--http-concurrency",
        type=_positive,
        default=32,
        help="kept-alive API connections, so HTTP requests in flight (default 32)",
    )

    parser = argparse.ArgumentParser(prog="chimecast-bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    relay = sub.add_parser("relay", parents=[common], help="N call pairs relaying M messages each")
    relay.add_argument("--pairs", type=_positive, default=50)
    relay.add_argument(
        "--messages", type=_positive, default=1000, help="messages each client sends"
    )
    relay.add_argument(
        "--rate", type=float, default=0, help="total msgs/s offered (open loop); 0 = closed loop"
    )
    relay.add_argument(
        "--window",
        type=_positive,
        default=4,
        help="closed loop: unacknowledged messages per client",
    )
    relay.add_argument(
        "--runs", type=_positive, default=1, help="repeat on the same server (memory across runs)"
    )
    relay.add_argument(
        "--timeout", type=float, default=120, help="bound on each run's relay phase, s"
    )
    capacity = sub.add_parser("capacity", parents=[common], help="C idle authenticated connections")
    capacity.add_argument("--connections", type=_positive, default=1000)
    capacity.add_argument(
        "--per-user", type=_positive, default=1, help="connections per user (default 1)"
    )
    capacity.add_argument("--concurrency", type=_positive, default=100, help="handshakes in flight")
    capacity.add_argument("--hold", type=float, default=30, help="seconds to hold them idle")
    setup = sub.add_parser("setup", parents=[common], help="K calls set up at once or at a rate")
    setup.add_argument("--calls", type=_positive, default=100)
    setup.add_argument(
        "--rate", type=float, default=0, help="call starts/s (open loop); 0 = all at once"
    )
    setup.add_argument("--timeout", type=float, default=60, help="bound on each call's setup, s")
    setup.add_argument(
        "--concurrency", type=_positive, default=100, help="handshakes in flight while connecting"
    )
    arrivals = sub.add_parser(
        "arrivals", parents=[common],
        help="N pairs connect, authenticate, set up a call and negotiate, all at once (timed)",
    )  # fmt: skip
    arrivals.add_argument("--pairs", type=_positive, default=100)
    arrivals.add_argument("--timeout", type=float, default=60, help="bound on each pair, s")
    for scenario in (setup, arrivals):
        scenario.add_argument(
            "--start", choices=("http", "socket"), default="http",
            help="how the caller starts each call: POST /call/start (default) or a `call` "
                 "message on its signaling socket (PROTOCOL.md)",
        )  # fmt: skip
    storm = sub.add_parser(
        "storm", parents=[common],
        help="N connected clients dropped at once, timed until all are welcomed again",
    )  # fmt: skip
    storm.add_argument("--connections", type=_positive, default=1000)
    storm.add_argument("--concurrency", type=_positive, default=100,
                       help="handshakes in flight while first connecting (not during the storm)")  # fmt: skip
    storm.add_argument("--timeout", type=float, default=60, help="bound on the storm, s")
    storm.add_argument("--somaxconn", type=_positive, default=None,
                       help="raise net.core.somaxconn to this for the run (root; put back after):"
                       " the kernel caps every listen backlog at it")  # fmt: skip
    media = sub.add_parser(
        "media", parents=[common], help="a few aiortc pairs through the full stack"
    )
    media.add_argument("--pairs", type=_positive, default=2)
    media.add_argument("--timeout", type=float, default=30, help="bound on each pair, s")
    meetings = sub.add_parser(
        "meetings", parents=[common],
        help="upstream bitrate per participant, mesh against SFU (needs CHIMECAST_JANUS_URLS)",
    )  # fmt: skip
    meetings.add_argument("--sizes", default="3,6,12", help="meeting sizes, comma list")
    meetings.add_argument("--window", type=float, default=5, help="seconds counted per meeting")
    meetings.add_argument("--janus-pid", type=int, help="Janus's pid: report its CPU")
    meetings.add_argument("--processes", type=_positive, default=3,
                          help="worker processes the participants are spread over")  # fmt: skip
    return parser


def targets(args: argparse.Namespace) -> list[Any]:
    """Context managers, each yielding a Target, in the order they are measured."""
    chosen: list[Any] = []
    if not args.reference_only:
        if args.web_url:
            chosen.append(Running(args.web_url, args.signaling_url, args.server_pid, args.web_pid))
        else:
            chosen.append(OwnSystem(dict(args.env), args.logs, args.web_workers,
                                    args.web_threads, args.workers))  # fmt: skip
    for name in chosen_references(args):
        if name == "peerjs":
            chosen.append(peerjs.PeerJSServer())
        else:
            chosen.append(ReferenceRelay(nodelay=args.reference_nodelay))
    return chosen


async def scenario(
    args: argparse.Namespace, target: Target, progress: Progress
) -> list[dict[str, Any]]:
    """Run the chosen scenario on one target; every result dict it produced."""
    http = HttpPool(target.web_url, args.http_concurrency) if target.web_url else None
    population = Population(target, http, args.client)
    try:
        if args.scenario == "relay":
            return await _relay(args, population, progress)
        if args.scenario == "capacity":
            from signaling.bench.capacity import run_capacity

            return [await run_capacity(population, connections=args.connections, per_user=args.per_user,
                                       concurrency=args.concurrency, hold=args.hold, progress=progress)]  # fmt: skip
        if args.scenario == "setup":
            from signaling.bench.call_setup import run_setup

            return [await run_setup(population, calls=args.calls, rate=args.rate, timeout=args.timeout,
                                    connect_concurrency=args.concurrency, progress=progress,
                                    start=args.start)]  # fmt: skip
        if args.scenario == "arrivals":
            from signaling.bench.arrivals import run_arrivals

            return [await run_arrivals(population, pairs=args.pairs, timeout=args.timeout,
                                       progress=progress, start=args.start)]  # fmt: skip
        if args.scenario == "storm":
            from signaling.bench.storm import run_storm

            return [await run_storm(population, connections=args.connections,
                                    concurrency=args.concurrency, timeout=args.timeout,
                                    progress=progress)]  # fmt: skip
        if args.scenario == "meetings":
            from signaling.bench.meeting_media import run_meetings

            sizes = [int(n) for n in args.sizes.split(",")]
            return await run_meetings(population, sizes=sizes, window=args.window,
                                      janus_pid=args.janus_pid,
                                      processes=args.processes)  # fmt: skip
        from signaling.bench.media import run_media

        return [
            await run_media(population, pairs=args.pairs, timeout=args.timeout, progress=progress)
        ]
    finally:
        if http is not None:
            await http.close()


async def _relay(
    args: argparse.Namespace, population: Population, progress: Progress
) -> list[dict[str, Any]]:
    from signaling.bench.relay import run_relay

    users = await population.users(2 * args.pairs)
    results = []
    for run in range(1, args.runs + 1):
        result = await run_relay(population, users, messages=args.messages, rate=args.rate,
                                 window=args.window, timeout=args.timeout, progress=progress)  # fmt: skip
        if args.runs > 1:
            result["run"] = run
        results.append(result)
        emit(args, result)
    if args.runs > 1:
        closed = [r["server_rss_mb_after_close"] for r in results]
        known = None not in closed
        summary = {
            "scenario": "relay-memory",
            "target": population.target.name,
            "runs": args.runs,
            "rss_mb_after_close": closed,
            "growth_mb": round(closed[-1] - closed[0], 2) if known else None,
            "growth_after_warmup_mb": round(closed[-1] - closed[1], 2) if known else None,
            # Caches and allocator pools fill over the first runs and then stop; a leak keeps
            # the same slope to the end. This is the slope over the second half of the runs.
            "growth_per_run_second_half_mb": _slope(closed[len(closed) // 2 :]) if known else None,
        }
        results.append(summary)
        emit(args, summary)
    return results


def _slope(values: list[float]) -> float | None:
    """Average change from one value to the next (None for fewer than two)."""
    if len(values) < 2:
        return None
    return round((values[-1] - values[0]) / (len(values) - 1), 3)


def emit(args: argparse.Namespace, result: dict[str, Any]) -> None:
    if result.get("target") != "ratio":
        result.setdefault("client", args.client)
        result.setdefault("loop", args.loop)
        # The machine may be shared: say how busy it was (1-minute load average, all cores).
        result.setdefault("loadavg_1m", round(os.getloadavg()[0], 2))
        result.setdefault("pinned", getattr(args, "pinned", False))
    print(report.as_json(result) if args.json else report.human(result), flush=True)


def failed(result: dict[str, Any]) -> bool:
    return bool(result.get("lost") or result.get("failures") or result.get("dropped_during_hold"))


def _run_on(loop: str, main: Any) -> int:
    """Run `main` to completion on a new event loop of the kind chosen."""
    if loop == "uvloop":
        if uvloop is None:
            raise SystemExit("chimecast-bench: --loop uvloop needs the uvloop package")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


def pinning(args: argparse.Namespace) -> tuple[set[int], set[int]] | None:
    """(server CPUs, tool CPUs), or None when not pinning: servers on CPU 0, tool on the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin == "off" or (args.pin == "auto" and len(cpus) < 2):
        return None
    if len(cpus) < 2:
        raise SystemExit("chimecast-bench: --pin on needs at least 2 CPUs")
    return {cpus[0]}, set(cpus[1:])


def _pin_target(target: Target, server_cpus: set[int], progress: Progress) -> None:
    threads = sum(pin(pid, server_cpus) for pid in (target.server_pid, target.web_pid) if pid)
    progress.note(f"chimecast-bench: {target.name}: {threads} server threads pinned to CPU "
                  f"{sorted(server_cpus)}")  # fmt: skip


async def run(args: argparse.Namespace) -> int:
    progress = Progress(enabled=not args.no_progress)
    by_target: dict[str, dict[str, Any]] = {}
    status = 0
    cpus = pinning(args)
    if cpus is not None:
        os.sched_setaffinity(0, cpus[1])  # this tool, its threads to come and its children
    for manager in targets(args):
        progress.note(f"chimecast-bench: starting {type(manager).__name__} ...")
        with manager as target:
            for note in target.notes:
                progress.note(f"chimecast-bench: {target.name}: {note}")
            args.pinned = cpus is not None and not (args.web_url and target.name == "chimecast")
            if args.pinned:
                _pin_target(target, cpus[0], progress)
            results = await scenario(args, target, progress)
        for result in results:
            if args.scenario != "relay":
                emit(args, result)
            status |= failed(result)
        by_target[target.name] = results[0]
    if "chimecast" in by_target:
        for name in chosen_references(args):
            if name in by_target:
                emit(args, report.ratios(by_target["chimecast"], by_target[name], name))
    return int(status)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.web_url) != bool(args.signaling_url):
        parser.error("--web-url and --signaling-url go together")
    if args.reference_only and args.web_url:
        parser.error("--reference-only runs its own relay; drop --web-url/--signaling-url")
    message = raise_fd_limit()
    print(f"chimecast-bench: {message}", file=sys.stderr)
    needed = (
        getattr(args, "connections", 0)
        or 2 * getattr(args, "calls", 0)
        or 2 * getattr(args, "pairs", 0)
    )
    if needed + 200 > fd_limit():
        print(f"chimecast-bench: WARNING: {needed} connections need about {needed + 200} file "
              f"descriptors but the limit is {fd_limit()}; expect 'Too many open files'",
              file=sys.stderr)  # fmt: skip
    try:
        with raised_somaxconn(getattr(args, "somaxconn", None)):
            return _run_on(args.loop, run(args))
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        # The system under test did not start or went away: say so in one line.
        print(f"chimecast-bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
