"""Numbers for the load tool: percentiles, a server process read from /proc, a progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from signaling.backlog import SOMAXCONN, somaxconn

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def percentiles(values: Iterable[float], points: Iterable[float] = (50, 95, 99)) -> dict:
    """{"p50": .., "p95": .., "p99": .., "max": .., "n": ..} by the nearest-rank method.

    Empty input gives None for every figure (and n = 0), never an exception.
    """
    ordered = sorted(values)
    result: dict[str, float | int | None] = {}
    for point in points:
        if not ordered:
            result[f"p{point:g}"] = None
            continue
        rank = max(1, math.ceil(point / 100 * len(ordered)))
        result[f"p{point:g}"] = ordered[rank - 1]
    result["max"] = ordered[-1] if ordered else None
    result["n"] = len(ordered)
    return result


def scaled(stats: dict, factor: float, digits: int = 3) -> dict:
    """The same percentile dict with every figure (not `n`) multiplied by `factor`."""
    return {
        key: (round(value * factor, digits) if value is not None and key != "n" else value)
        for key, value in stats.items()
    }


@dataclass(frozen=True)
class ProcSample:
    """CPU seconds (user + system, all threads) and resident memory of one process."""

    at: float
    cpu_seconds: float
    rss_bytes: int


class ProcessProbe:
    """Reads a process's CPU time from /proc/<pid>/stat and RSS from /proc/<pid>/status.

    CPU has the kernel's clock-tick resolution (usually 10 ms): measure over enough work.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat", "rb") as handle:
            raw = handle.read()
        # The command name may contain spaces and parentheses: split after the last ')'.
        fields = raw[raw.rindex(b")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])
        return (utime + stime) / CLOCK_TICKS

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def sample(self) -> ProcSample | None:
        """Now's figures, or None once the process is gone (a crashed server is no crash here)."""
        try:
            # the tree: `chimecast-signaling --workers N` is a parent and N daemons
            cpu = tree_cpu_seconds(self.pid) or 0.0
            return ProcSample(time.monotonic(), cpu, self.rss_bytes())
        except (FileNotFoundError, ProcessLookupError):
            return None

    def alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}/stat")


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (e.g. gunicorn's master and workers), from /proc."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    pending += [int(child) for child in handle.read().split()]
            except FileNotFoundError:
                pass
    return found


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds used so far by `pid` and its live descendants (None if pid is None)."""
    if pid is None:
        return None
    total = 0.0
    for member in process_tree(pid):
        try:
            total += ProcessProbe(member).cpu_seconds()
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class NullProbe:
    """Stands in when the server's pid is unknown: every figure is None."""

    pid = None

    def sample(self) -> None:
        return None

    def alive(self) -> bool:
        return True


def probe_for(pid: int | None) -> ProcessProbe | NullProbe:
    return ProcessProbe(pid) if pid else NullProbe()


def cpu_between(before: ProcSample | None, after: ProcSample | None) -> float | None:
    """CPU seconds the process used between two samples (None if either is missing)."""
    if before is None or after is None:
        return None
    return after.cpu_seconds - before.cpu_seconds


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Progress:
    """A one-line progress bar on stderr, redrawn a few times a second while a phase runs.

    On a terminal it redraws in place; otherwise it prints a plain line every few seconds so
    logs stay readable. `enabled=False` makes every method a no-op.
    """

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._task: asyncio.Task | None = None

    async def _render(self, label: str, total: int, done: Callable[[], int], every: float) -> None:
        started = time.monotonic()
        while True:
            self._draw(label, total, done(), time.monotonic() - started, final=False)
            await asyncio.sleep(every)

    def _draw(self, label: str, total: int, count: int, elapsed: float, final: bool) -> None:
        fraction = min(1.0, count / total) if total else 1.0
        width = 30
        bar = "#" * int(fraction * width) + "-" * (width - int(fraction * width))
        line = f"{label:<22} [{bar}] {count}/{total} {elapsed:6.1f}s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, label: str, total: int, done: Callable[[], int]) -> None:
        """Begin showing `done()` out of `total` for `label` (needs a running event loop)."""
        if not self.enabled:
            return
        self.stop()
        self._label, self._total, self._done, self._started = label, total, done, time.monotonic()
        every = 0.2 if self.tty else 5.0
        self._task = asyncio.get_running_loop().create_task(self._render(label, total, done, every))

    def stop(self) -> None:
        """Draw the final state of the current phase and stop redrawing."""
        if self._task is None:
            return
        self._task.cancel()
        self._task = None
        elapsed = time.monotonic() - self._started
        self._draw(self._label, self._total, self._done(), elapsed, final=True)

    def note(self, text: str) -> None:
        """A one-off status line (e.g. which system is starting)."""
        if self.enabled:
            self.stream.write(("\r" if self.tty else "") + text + "\n")
            self.stream.flush()


@contextlib.contextmanager
def raised_somaxconn(value: int | None) -> Iterator[None]:
    """`net.core.somaxconn` at least `value` inside the block (root only), then as it was."""
    if value is None:
        yield
        return
    before = somaxconn()
    if before is None or before >= value:
        yield
        return
    with open(SOMAXCONN, "w") as handle:
        handle.write(str(value))
    print(f"chimecast-bench: net.core.somaxconn {before} -> {value} for this run", file=sys.stderr)
    try:
        yield
    finally:
        with open(SOMAXCONN, "w") as handle:
            handle.write(str(before))
        print(f"chimecast-bench: net.core.somaxconn back to {before}", file=sys.stderr)


def tcp_ext() -> dict[str, int]:
    """The machine's TcpExt counters (/proc/net/netstat), {} where unreadable."""
    try:
        with open("/proc/net/netstat") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return {k: int(v) for k, v in zip(names.split()[1:], values.split()[1:], strict=False)}
    return {}


def listen_drops() -> int | None:
    """The machine's TcpExt ListenDrops counter (SYNs dropped by full accept queues), or None.

    Machine-wide: deltas taken around a scenario count every listener's drops, so they are
    meaningful on a machine where nothing else is being flooded at the same moment.
    """
    try:
        with open("/proc/net/netstat") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenDrops"]) if "ListenDrops" in table else None
    return None


def pin(pid: int, cpus: set[int]) -> int:
    """Bind every thread of `pid` and of its descendants to `cpus` (what `taskset -a -p`
    does); threads and children created later inherit it. Returns the threads pinned."""
    pinned = 0
    for member in process_tree(pid):
        try:
            tasks = os.listdir(f"/proc/{member}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                os.sched_setaffinity(int(task), cpus)
                pinned += 1
            except (ProcessLookupError, PermissionError, OSError):
                pass
    return pinned
