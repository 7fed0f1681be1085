"""Process and runtime metrics, read at collection time from ``/proc/self`` and the interpreter.

Why not psutil or the contrib system-metrics instrumentation: contrib captures
``psutil.Process(os.getpid())`` once, so after a pre-fork server forks every
worker reports the master (DataDog/dd-trace-py#19547), and it also emits the
deprecated ``process.runtime.*`` and host-wide ``system.*`` series by default.
Reading ``/proc/self`` (as prometheus_client does) resolves "self" at every
collection, so each forked worker reports itself with no fork hook and no
extra dependency; ``os.times()``, ``gc.get_stats()`` and ``os.statvfs()`` are
portable. Off Linux, the memory series are left out (``resource`` only knows
the peak RSS) and threads are Python threads.

Default set (semantic-convention names, process metrics are release candidate):
``process.cpu.time`` (s, ``cpu.mode`` user|system), ``process.cpu.utilization``
(0-1, divided by the CPUs available to the process, as semconv defines it),
``process.memory.usage`` (RSS, By), ``process.memory.virtual`` (By),
``process.unix.file_descriptor.count``, ``process.thread.count``,
``process.uptime`` (s), ``cpython.gc.collections``,
``cpython.gc.collected_objects``, ``cpython.gc.uncollectable_objects`` (by
``cpython.gc.generation``), and ``watchkit.runtime.event_loop.lag`` (s) for
event loops being watched. Opt-in: ``system.cpu.utilization``,
``system.memory.utilization`` and ``system.filesystem.usage`` /
``.utilization`` of chosen paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from watchkit._internal import fork
from watchkit._internal.filesystem import filesystem_usage
from watchkit._internal.semconv import (
    CPU_MODE,
    CPYTHON_GC_COLLECTED_OBJECTS,
    CPYTHON_GC_COLLECTIONS,
    CPYTHON_GC_GENERATION,
    CPYTHON_GC_UNCOLLECTABLE_OBJECTS,
    PROCESS_CPU_TIME,
    PROCESS_CPU_UTILIZATION,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
    PROCESS_UPTIME,
    SYSTEM_CPU_UTILIZATION,
    SYSTEM_FILESYSTEM_MOUNTPOINT,
    SYSTEM_FILESYSTEM_STATE,
    SYSTEM_FILESYSTEM_USAGE,
    SYSTEM_FILESYSTEM_UTILIZATION,
    SYSTEM_MEMORY_STATE,
    SYSTEM_MEMORY_UTILIZATION,
    UNIT_BYTES,
    UNIT_SECONDS,
    WATCHKIT_RUNTIME_EVENT_LOOP_LAG,
)
from watchkit._internal.state import STATE, Pipeline
from watchkit._metrics import (
    Attributes,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
)

__all__ = ["disable", "enable", "start_for_pipeline", "unwatch_event_loop", "watch_event_loop"]

_PROC: Final = "/proc/self"
_LINUX: Final = sys.platform.startswith("linux") and os.path.exists(_PROC)
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_USER: Final[Attributes] = {CPU_MODE: "user"}
_SYSTEM: Final[Attributes] = {CPU_MODE: "system"}
_OFF: Final = frozenset({"0", "false", "no", "off"})

Reading = Iterable[tuple[float, Attributes]]


class _Switch:
    """Which series are reported: set by configure() and by :func:`enable`."""

    def __init__(self) -> None:
        self.configured = False  # on while a configure()d pipeline lives
        self.explicit = False  # enable(): every pipeline, test captures included
        self.system = False
        self.paths: tuple[str, ...] = ()

    def on(self) -> bool:
        return self.explicit or (self.configured and STATE.override is None)


SWITCH = _Switch()


# -------------------------------------------------------------------- readers


def _stat() -> list[str]:
    """Fields of /proc/self/stat after the command name (which may hold spaces)."""
    with open(f"{_PROC}/stat", "rb") as handle:
        raw = handle.read().decode("ascii", "replace")
    return raw[raw.rindex(")") + 2 :].split()


def _cpu_time() -> Reading:
    times = os.times()
    return [(times.user, _USER), (times.system, _SYSTEM)]


def _available_cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0)) or 1
    return os.cpu_count() or 1


class _Utilization:
    """CPU time since the previous collection over wall time times available CPUs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        times = os.times()
        self.last = (time.monotonic(), times.user, times.system)

    def read(self) -> Reading:
        now, times = time.monotonic(), os.times()
        last_wall, last_user, last_system = self.last
        self.last = (now, times.user, times.system)
        elapsed = (now - last_wall) * _available_cpus()
        if elapsed <= 0:
            return []
        return [
            (max(times.user - last_user, 0.0) / elapsed, _USER),
            (max(times.system - last_system, 0.0) / elapsed, _SYSTEM),
        ]


_UTILIZATION = _Utilization()


def _statm() -> tuple[int, int]:
    with open(f"{_PROC}/statm", "rb") as handle:
        size, resident = handle.read().split()[:2]
    return int(size) * _PAGE, int(resident) * _PAGE


def _memory_usage() -> Reading:
    return [(_statm()[1], {})] if _LINUX else []


def _memory_virtual() -> Reading:
    return [(_statm()[0], {})] if _LINUX else []


def _fd_count() -> Reading:
    for directory in (f"{_PROC}/fd", "/dev/fd"):
        if os.path.isdir(directory):
            return [(len(os.listdir(directory)), {})]
    return []


def _thread_count() -> Reading:
    if _LINUX:
        return [(int(_stat()[17]), {})]
    return [(threading.active_count(), {})]


_IMPORTED_AT = time.monotonic()


def _uptime() -> Reading:
    if _LINUX:
        with open("/proc/uptime", "rb") as handle:
            since_boot = float(handle.read().split()[0])
        return [(max(since_boot - int(_stat()[19]) / _TICKS, 0.0), {})]
    return [(time.monotonic() - _IMPORTED_AT, {})]


def _gc(field: str) -> Callable[[], Reading]:
    generations = [{CPYTHON_GC_GENERATION: i} for i in range(3)]

    def read() -> Reading:
        return [(stats[field], generations[i]) for i, stats in enumerate(gc.get_stats()[:3])]

    return read


# ---------------------------------------------------------- event-loop lag


class _Loops:
    """Event loops being watched; each collection sends a probe and reads the last one's delay."""

    def __init__(self) -> None:
        self.loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[float]] = (
            weakref.WeakKeyDictionary()
        )

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loops.setdefault(loop, [0.0])

    def unwatch(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loops.pop(loop, None)

    def read(self) -> Reading:
        worst: float | None = None
        for loop, last in list(self.loops.items()):
            if loop.is_closed():
                continue
            worst = last[0] if worst is None else max(worst, last[0])
            sent = time.perf_counter()

            def probe(sent: float = sent, last: list[float] = last) -> None:
                last[0] = time.perf_counter() - sent

            try:
                loop.call_soon_threadsafe(probe)
            except RuntimeError:  # closed between the check and the call
                continue
        return [] if worst is None else [(worst, {})]

    def clear(self) -> None:
        # A loop of the parent does not run in a forked child.
        self.loops = weakref.WeakKeyDictionary()


_LOOPS = _Loops()


def watch_event_loop(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Report the lag of ``loop`` (default: the running one) as ``watchkit.runtime.event_loop.lag``.

    Each metric collection schedules a callback on the loop; the time it waits
    to run is the lag reported at the next collection.
    """
    _LOOPS.watch(loop if loop is not None else asyncio.get_running_loop())


def unwatch_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Stop reporting ``loop``'s lag (a server's loop at its shutdown)."""
    _LOOPS.unwatch(loop)


# ------------------------------------------------------------------ opt-in


class _SystemCpu:
    _MODES: Final = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")

    def __init__(self) -> None:
        self.last: list[int] | None = None

    def read(self) -> Reading:
        if not _LINUX:
            return []
        with open("/proc/stat", "rb") as handle:
            fields = [int(v) for v in handle.readline().split()[1:9]]
        last, self.last = self.last, fields
        if last is None:
            return []
        deltas = [max(now - before, 0) for now, before in zip(fields, last, strict=True)]
        total = sum(deltas)
        if total <= 0:
            return []
        return [(d / total, {CPU_MODE: mode}) for d, mode in zip(deltas, self._MODES, strict=True)]


_SYSTEM_CPU = _SystemCpu()


def _system_memory() -> Reading:
    if not _LINUX:
        return []
    values: dict[str, int] = {}
    with open("/proc/meminfo", "rb") as handle:
        for line in handle:
            key, _, rest = line.partition(b":")
            values[key.decode()] = int(rest.split()[0])
    total, available = values.get("MemTotal", 0), values.get("MemAvailable")
    if not total or available is None:
        return []
    return [
        ((total - available) / total, {SYSTEM_MEMORY_STATE: "used"}),
        (available / total, {SYSTEM_MEMORY_STATE: "free"}),
    ]


def _filesystem(kind: str) -> Reading:
    readings: list[tuple[float, Attributes]] = []
    for path in SWITCH.paths:
        try:
            usage = filesystem_usage(path)
        except OSError:
            continue
        mountpoint = {SYSTEM_FILESYSTEM_MOUNTPOINT: path}
        if kind == "usage":
            for state, value in (
                ("used", usage.used),
                ("free", usage.available),  # what unprivileged writers can still use
                ("reserved", usage.reserved),
            ):
                readings.append((value, {**mountpoint, SYSTEM_FILESYSTEM_STATE: state}))
        else:
            # used / (used + available), as df: reserved blocks count on neither side.
            fraction = usage.utilization
            readings.append((fraction, {**mountpoint, SYSTEM_FILESYSTEM_STATE: "used"}))
            readings.append((1.0 - fraction, {**mountpoint, SYSTEM_FILESYSTEM_STATE: "free"}))
    return readings


# ---------------------------------------------------------------- instruments


def _gated(read: Callable[[], Reading], system: bool = False) -> Callable[[], Reading]:
    def callback() -> Reading:
        if not SWITCH.on() or (system and not SWITCH.system):
            return []
        return list(read())

    return callback


_Counter, _Gauge, _Sum = ObservableCounter, ObservableGauge, ObservableUpDownCounter
_Definition = tuple[type[ObservableGauge], str, str, str, Callable[[], Reading], bool]
# (kind, name, unit, description, reader, opt-in system metric)
_DEFINITIONS: Final[list[_Definition]] = [
    (_Counter, PROCESS_CPU_TIME, UNIT_SECONDS, "CPU time of this process, by mode.",
     _cpu_time, False),
    (_Gauge, PROCESS_CPU_UTILIZATION, "1",
     "CPU time since the last collection over elapsed time and available CPUs.",
     _UTILIZATION.read, False),
    (_Sum, PROCESS_MEMORY_USAGE, UNIT_BYTES, "Resident memory of this process.",
     _memory_usage, False),
    (_Sum, PROCESS_MEMORY_VIRTUAL, UNIT_BYTES, "Virtual memory of this process.",
     _memory_virtual, False),
    (_Sum, PROCESS_UNIX_FILE_DESCRIPTOR_COUNT, "{file_descriptor}",
     "Open file descriptors of this process.", _fd_count, False),
    (_Sum, PROCESS_THREAD_COUNT, "{thread}", "Threads of this process.", _thread_count, False),
    (_Gauge, PROCESS_UPTIME, UNIT_SECONDS, "Time since this process started.", _uptime, False),
    (_Counter, CPYTHON_GC_COLLECTIONS, "{collection}", "Garbage collections, by generation.",
     _gc("collections"), False),
    (_Counter, CPYTHON_GC_COLLECTED_OBJECTS, "{object}",
     "Objects collected by the garbage collector, by generation.", _gc("collected"), False),
    (_Counter, CPYTHON_GC_UNCOLLECTABLE_OBJECTS, "{object}",
     "Objects found uncollectable, by generation.", _gc("uncollectable"), False),
    (_Gauge, WATCHKIT_RUNTIME_EVENT_LOOP_LAG, UNIT_SECONDS,
     "Delay before a callback scheduled on a watched event loop ran.", _LOOPS.read, False),
    (_Gauge, SYSTEM_CPU_UTILIZATION, "1", "Host CPU time by mode since the last collection.",
     _SYSTEM_CPU.read, True),
    (_Gauge, SYSTEM_MEMORY_UTILIZATION, "1", "Host memory in use and available.",
     _system_memory, True),
    (_Sum, SYSTEM_FILESYSTEM_USAGE, UNIT_BYTES, "Filesystem space of chosen paths, by state.",
     lambda: _filesystem("usage"), True),
    (_Gauge, SYSTEM_FILESYSTEM_UTILIZATION, "1", "Filesystem space of chosen paths, as fractions.",
     lambda: _filesystem("utilization"), True),
]  # fmt: skip

_instruments: list[ObservableGauge] = []
_define_lock = threading.Lock()


def _define() -> None:
    with _define_lock:
        if _instruments:
            return
        for kind, name, unit, description, read, system in _DEFINITIONS:
            instrument = kind(name, unit, description, _gated(read, system))
            instrument._activate()
            _instruments.append(instrument)


def enable(*, system: bool = False, filesystem_paths: Sequence[str] = ()) -> None:
    """Report runtime metrics to every pipeline from now on, test captures included."""
    paths = tuple(str(p) for p in filesystem_paths)
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"filesystem_paths entry {path!r} is not an existing directory")
    _define()
    SWITCH.explicit = True
    SWITCH.system = system or bool(paths)
    SWITCH.paths = paths


def disable() -> None:
    """Stop reporting runtime metrics (configure() turns the default set on again)."""
    SWITCH.explicit = False
    SWITCH.system = False
    SWITCH.paths = ()


def start_for_pipeline(pipeline: Pipeline) -> Callable[[], None]:
    """configure(): turn the default set on for this pipeline; return what undoes it."""
    if os.environ.get("WATCHKIT_RUNTIME_METRICS", "").strip().lower() in _OFF:
        return lambda: None
    _define()
    SWITCH.configured = True
    _UTILIZATION.reset()
    # configure() outside a running loop: the application calls watch_event_loop() later.
    with contextlib.suppress(RuntimeError):
        _LOOPS.watch(asyncio.get_running_loop())

    def stop() -> None:
        SWITCH.configured = False

    return stop


def _after_fork() -> None:
    _UTILIZATION.reset()
    _SYSTEM_CPU.last = None
    _LOOPS.clear()


fork.at_fork(fork.STATE, "runtime.baselines", _after_fork)
