"""The declaration model: services, SLOs, thresholds and capacity limits.

Every value is checked when it is declared (in Python or read from YAML), so a
generator never meets a bad one. Errors are :class:`~watchkit.ConfigError` and
name the field (``slos[0].objective``) and the values that are accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from watchkit._exceptions import ConfigError
from watchkit._internal import semconv

__all__ = [
    "SEVERITIES",
    "SLO",
    "Capacity",
    "Routing",
    "Service",
    "Threshold",
    "format_duration",
    "parse_duration",
]

SEVERITIES: Final = ("critical", "warning", "info")
SLI_KINDS: Final = ("availability", "latency")
THRESHOLD_KINDS: Final = (
    "latency", "error_ratio", "cpu", "memory", "brute_force", "health", "synthetic", "metric",
    "queue_backlog", "job_failure_ratio", "queue_wait",
)  # fmt: skip
# Counted kinds: the value is a number (of events within the window, or of messages waiting).
_COUNTED: Final = {
    "brute_force": "alerts within the window",
    "synthetic": "failed runs within the window",
    "queue_backlog": "messages waiting",
}
# Kinds that read the queue metrics and may be restricted to one queue.
QUEUE_KINDS: Final = ("queue_backlog", "job_failure_ratio", "queue_wait")

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_DURATION_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$")
_SIZE_FACTOR: Final = {
    "B": 1,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
# Label names the generators set themselves; a user label may not overwrite them.
_RESERVED_LABELS: Final = frozenset({"severity", "slo", "service_name", "alertname", "burn"})
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# OpenTelemetry API specification, "Instrument name syntax" (as watchkit.counter checks).
_METRIC_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]{0,254}")


def _fail(where: str, value: object, accepted: str) -> ConfigError:
    return ConfigError(f"{where} = {value!r} is not accepted; use {accepted}")


def parse_duration(value: object, where: str, *, zero: bool = False) -> float:
    """Seconds in a Prometheus duration such as ``"5m"``, ``"30d"`` (one unit).

    Raises:
        ConfigError: not such a string, or zero (unless ``zero``).
    """
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or (int(match.group(1)) == 0 and not zero):
        raise _fail(where, value, 'a duration such as "30s", "5m", "1h", "30d" or "1w"')
    return int(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest one-unit Prometheus duration for whole ``seconds`` (``3600`` -> ``"1h"``)."""
    whole = round(seconds)
    if whole == 0:
        return "0s"
    for unit in ("w", "d", "h", "m"):
        size = int(_DURATION_SECONDS[unit])
        if whole % size == 0 and whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _seconds(value: object, where: str) -> float:
    """A latency: a number of seconds or a string such as ``"200ms"`` / ``"0.5s"``."""
    if isinstance(value, bool):
        raise _fail(where, value, 'seconds as a number, or a string such as "200ms"')
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and value.endswith("ms") and _is_number(value[:-2]):
        seconds = float(value[:-2]) / 1000
    elif isinstance(value, str) and value.endswith("s") and _is_number(value[:-1]):
        seconds = float(value[:-1])
    elif isinstance(value, str) and value.endswith("m") and _is_number(value[:-1]):
        seconds = float(value[:-1]) * 60
    else:
        raise _fail(where, value, 'seconds as a number, or a string such as "200ms" or "2m"')
    if not (seconds > 0 and math.isfinite(seconds)):
        raise _fail(where, value, "a latency > 0")
    # 200 ms arrives as 0.2 from "200ms" but as 0.2000000001 from arithmetic: keep 12 digits.
    return round(seconds, 12)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bytes(value: object, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _SIZE.match(value.strip()) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise _fail(where, value, 'a size in bytes, or a string such as "512MiB" or "2GB"')
    return float(match.group(1)) * _SIZE_FACTOR[match.group(2) or "B"]


def _fraction(value: object, where: str, *, example: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < 1
        or not math.isfinite(value)
    ):
        raise _fail(where, value, f"a fraction between 0 and 1 (exclusive), e.g. {example}")
    return float(value)


def _text(value: object, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, value, "a non-empty string")
    return value


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _fail(
            where, value, "a name of letters, digits, '_', '.' or '-', starting with a letter"
        )
    return value


@dataclass(frozen=True)
class Routing:
    """Who is told, how urgently, and where they read more.

    Attributes:
        team: the ``team`` label Alertmanager routes on.
        runbook_url: ``runbook_url`` annotation.
        dashboard_url: ``dashboard_url`` annotation.
        summary: ``summary`` annotation (a default is generated when None).
        description: ``description`` annotation (a default is generated when None).
        labels: extra labels put on every alert.
    """

    __module__ = "watchkit.ops"

    team: str | None = None
    runbook_url: str | None = None
    dashboard_url: str | None = None
    summary: str | None = None
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, where: str, **values: Any) -> Routing:
        """Validate each field; ``where`` prefixes the field names in errors."""
        for key in ("team", "runbook_url", "dashboard_url", "summary", "description"):
            _text(values.get(key), f"{where}{key}")
        labels = values.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise _fail(f"{where}labels", labels, "a mapping of label name to value")
        for key, value in labels.items():
            if not isinstance(key, str) or not _LABEL_NAME.match(key) or key in _RESERVED_LABELS:
                raise _fail(
                    f"{where}labels",
                    key,
                    "Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*) other than "
                    + ", ".join(sorted(_RESERVED_LABELS)),
                )
            _text(value, f"{where}labels.{key}", optional=False)
        return cls(**{**values, "labels": dict(labels)})

    def over(self, default: Routing) -> Routing:
        """This routing with unset fields taken from ``default`` (the service's)."""
        return Routing(
            team=self.team or default.team,
            runbook_url=self.runbook_url or default.runbook_url,
            dashboard_url=self.dashboard_url or default.dashboard_url,
            summary=self.summary,
            description=self.description,
            labels={**default.labels, **self.labels},
        )


@dataclass(frozen=True)
class SLO:
    """A service-level objective, measured from what watchkit already emits.

    Attributes:
        name: unique within the service; the ``slo`` label of its rules.
        objective: the good share, a fraction (``0.999``).
        period: the rolling compliance period in seconds (30 days by default).
        sli: ``"availability"`` (no 5xx / no error outcome) or ``"latency"``
            (requests faster than ``latency``).
        latency: the latency threshold in seconds; a bucket boundary.
        route: restrict to one ``http.route`` (None: every route).
        flow: measure a watchkit flow instead of HTTP requests.
        db_system: measure database operations of this ``db.system.name``.
        routing: team, runbook and dashboard of its alerts.
        dependency: measure calls to this ``service.peer.name`` (``watchkit.dependency``
            calls and outgoing HTTP requests mapped to it).
        journey: measure the runs of this synthetic journey.
        queue: measure the jobs of this queue (``messaging.destination.name``):
            availability counts ``failure`` and ``dead_lettered`` outcomes of
            ``watchkit.queue.jobs``; latency, waits longer than ``latency``.
    """

    __module__ = "watchkit.ops"

    name: str
    objective: float
    period: float = 30 * 86400.0
    sli: str = "availability"
    latency: float | None = None
    route: str | None = None
    flow: str | None = None
    db_system: str | None = None
    routing: Routing = field(default_factory=Routing)
    dependency: str | None = None
    journey: str | None = None
    queue: str | None = None

    @property
    def budget(self) -> float:
        """The error budget, ``1 - objective``."""
        return 1 - self.objective

    @property
    def source(self) -> str:
        """What the SLI reads: http, flow, db, dependency, journey or queue."""
        for source, value in (
            ("flow", self.flow),
            ("db", self.db_system),
            ("dependency", self.dependency),
            ("journey", self.journey),
            ("queue", self.queue),
        ):
            if value is not None:
                return source
        return "http"


@dataclass(frozen=True)
class Threshold:
    """A threshold alert with a warning and/or a critical value.

    Attributes:
        name: the alert name (CamelCase by convention).
        kind: ``latency`` (a quantile of the HTTP duration, seconds),
            ``error_ratio`` (share of 5xx responses), ``cpu`` (process CPU
            utilisation, 0 to 1), ``memory`` (process memory over ``limit``,
            0 to 1), ``brute_force`` (LoginMonitor alerts, a count in ``window``),
            ``queue_backlog`` (messages waiting in a queue, a count),
            ``job_failure_ratio`` (share of ``failure`` job outcomes) or
            ``queue_wait`` (a quantile of the queue wait, seconds).
        warning: the value above which the ``warning`` alert fires.
        critical: the value above which the ``critical`` alert fires.
        for_: seconds the condition must hold before the alert fires.
        quantile: for ``latency``: which quantile (0.95).
        window: the rate/increase window in seconds.
        route: restrict ``latency``/``error_ratio`` to one ``http.route``.
        limit: for ``memory``: the memory limit in bytes.
        routing: team, runbook and dashboard of the alert.
        metric: for ``metric``: the OpenTelemetry metric name.
        selector: for ``metric``: attribute values the series must have.
        queue: restrict the queue kinds to one ``messaging.destination.name``.
        instrument: for ``metric`` on your own metric: ``counter``,
            ``up_down_counter``, ``gauge`` or ``histogram`` (None for watchkit's).
        unit: for ``metric`` on your own metric: its UCUM unit (``""`` if none).
    """

    __module__ = "watchkit.ops"

    name: str
    kind: str
    warning: float | None = None
    critical: float | None = None
    for_: float = 300.0
    quantile: float = 0.95
    window: float = 300.0
    route: str | None = None
    limit: float | None = None
    routing: Routing = field(default_factory=Routing)
    metric: str | None = None
    selector: Mapping[str, str] = field(default_factory=dict)
    queue: str | None = None
    instrument: str | None = None
    unit: str = ""


@dataclass(frozen=True)
class Capacity:
    """Trend alerts: resources that will run out within a horizon.

    Attributes:
        disk_horizon: alert when a filesystem will be full within this many seconds.
        memory_limit: alert when process memory will exceed it (bytes) within ``memory_horizon``.
        memory_horizon: how far ahead memory growth is projected, in seconds.
        max_request_rate: the request rate (per second) the service is sized for;
            alert when the trend crosses it within ``request_horizon``.
        request_horizon: how far ahead the request rate is projected, in seconds.
        routing: team, runbook and dashboard of these alerts (over the service's).
        severity: their ``severity`` label (``warning`` by default).
    """

    __module__ = "watchkit.ops"

    disk_horizon: float | None = 4 * 3600.0
    memory_limit: float | None = None
    memory_horizon: float = 4 * 3600.0
    max_request_rate: float | None = None
    request_horizon: float = 3600.0
    routing: Routing = field(default_factory=Routing)
    severity: str = "warning"


@dataclass(frozen=True)
class Service:
    """Everything declared about one service: the input of every generator.

    Build it with :func:`watchkit.ops.service` or :func:`watchkit.ops.load_yaml`.
    """

    __module__ = "watchkit.ops"

    name: str
    namespace: str | None = None
    environment: str | None = None
    slos: tuple[SLO, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    capacity: Capacity = field(default_factory=Capacity)
    routing: Routing = field(default_factory=Routing)
    buckets: tuple[float, ...] = semconv.DEFAULT_DURATION_BUCKETS
    absent_for: float = 600.0
    anomalies: bool = True
    anomaly_routing: Routing = field(default_factory=Routing)
    """Team, runbook and dashboard of the anomaly alerts (over the service's)."""
    anomaly_severity: str = "info"
    absent_routing: Routing = field(default_factory=Routing)
    """Team, runbook and dashboard of ``TelemetryAbsent`` (over the service's)."""
    absent_severity: str = "warning"


def build_slo(index: int, spec: Mapping[str, Any], buckets: Sequence[float]) -> SLO:
    """An :class:`SLO` from keyword values, validated; ``index`` names it in errors."""
    where = f"slos[{index}]."
    _known(spec, where, {"name", "objective", "period", "sli", "latency", "route", "flow",
                         "db_system", "dependency", "journey", "queue", "team", "runbook_url",
                         "dashboard_url", "summary",
                         "description", "labels"})  # fmt: skip
    if "name" not in spec:
        raise ConfigError(f"{where}name is required")
    name = _name(spec["name"], f"{where}name")
    if "objective" not in spec:
        raise ConfigError(f"{where}objective is required (a fraction, e.g. 0.999 for 99.9 %)")
    objective = _fraction(spec["objective"], f"{where}objective", example="0.999 for 99.9 %")
    period = parse_duration(spec.get("period", "30d"), f"{where}period")
    if period < 86400:
        raise _fail(f"{where}period", spec.get("period"), "a period of at least one day")
    sli = spec.get("sli", "availability")
    if sli not in SLI_KINDS:
        raise _fail(f"{where}sli", sli, "one of: " + ", ".join(repr(k) for k in SLI_KINDS))
    kinds = ("flow", "db_system", "dependency", "journey", "queue")
    sources = [key for key in kinds if spec.get(key) is not None]
    if len(sources) > 1 or (sources and spec.get("route") is not None):
        raise ConfigError(f"{where}: give at most one of route, {', '.join(kinds)}")
    for key in ("route", *kinds):
        _text(spec.get(key), f"{where}{key}")
    latency: float | None = None
    if sli == "latency":
        if spec.get("latency") is None:
            raise ConfigError(f"{where}latency is required when sli is 'latency'")
        latency = check_slo_latency(
            spec["latency"], f"{where}latency", sources[0] if sources else "http", buckets
        )
    elif spec.get("latency") is not None:
        raise ConfigError(f"{where}latency is only accepted when sli is 'latency'")
    routing = Routing.build(where, **_routing_fields(spec))
    return SLO(name, objective, period, sli, latency, spec.get("route"), spec.get("flow"),
               spec.get("db_system"), routing, spec.get("dependency"),
               spec.get("journey"), spec.get("queue"))  # fmt: skip


def check_slo_latency(value: object, where: str, source: str, buckets: Sequence[float]) -> float:
    """An SLO's latency threshold, a boundary of the histogram its ``source`` reads."""
    if source == "queue":
        return check_queue_wait(value, where)
    if source == "dependency":
        # Outgoing HTTP requests are recorded on the semconv buckets whatever is configured.
        buckets = [b for b in buckets if b in semconv.SEMCONV_DURATION_BUCKETS]
    return check_boundary(value, where, buckets)


def check_boundary(value: object, where: str, buckets: Sequence[float]) -> float:
    """A latency in seconds that is one of ``buckets``, or a ConfigError naming them.

    A threshold between two boundaries could only be estimated by interpolation,
    which can be off by most of a bucket: the ratio of requests under 0.3 s is
    exact only if 0.3 is a boundary.
    """
    seconds = _seconds(value, where)
    if not any(math.isclose(seconds, bound, rel_tol=1e-9) for bound in buckets):
        shown = ", ".join(f"{b * 1000:g}ms" for b in buckets)
        raise ConfigError(
            f"{where} = {value!r} is not a bucket boundary of the duration histogram, so the "
            f"share of requests under it cannot be measured exactly; use one of: {shown} "
            "(or add it to the duration_buckets setting and to the service's buckets)"
        )
    return seconds


def check_queue_wait(value: object, where: str) -> float:
    """A queue wait in seconds that is a boundary of the wait histogram, or a ConfigError.

    The wait histogram has fixed buckets (50 ms to 30 minutes) in every process,
    so unlike request latencies there is no setting to add a boundary to.
    """
    seconds = _seconds(value, where)
    if not any(math.isclose(seconds, b, rel_tol=1e-9) for b in semconv.QUEUE_WAIT_BUCKETS):
        shown = ", ".join(format_latency(b) for b in semconv.QUEUE_WAIT_BUCKETS)
        raise ConfigError(
            f"{where} = {value!r} is not a bucket boundary of the queue wait histogram "
            f"({semconv.WATCHKIT_QUEUE_WAIT_DURATION}), so the share of jobs that waited "
            f"longer cannot be measured exactly; use one of: {shown}"
        )
    return seconds


def format_latency(seconds: float) -> str:
    """``0.05`` -> ``"50ms"``, ``2.5`` -> ``"2.5s"``, ``120`` -> ``"2m"``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def build_threshold(index: int, spec: Mapping[str, Any], buckets: Sequence[float]) -> Threshold:
    """A :class:`Threshold` from keyword values, validated; ``index`` names it in errors."""
    where = f"thresholds[{index}]."
    _known(spec, where, {"name", "kind", "warning", "critical", "for", "quantile", "window",
                         "route", "limit", "metric", "selector", "queue", "team",
                         "instrument", "unit",
                         "runbook_url", "dashboard_url", "summary", "description",
                         "labels"})  # fmt: skip
    if "name" not in spec:
        raise ConfigError(f"{where}name is required")
    name = _name(spec["name"], f"{where}name")
    kind = spec.get("kind")
    if kind not in THRESHOLD_KINDS:
        raise _fail(f"{where}kind", kind, "one of: " + ", ".join(repr(k) for k in THRESHOLD_KINDS))
    if spec.get("warning") is None and spec.get("critical") is None:
        raise ConfigError(f"{where}: give warning, critical or both")
    values: dict[str, float | None] = {}
    for level in ("warning", "critical"):
        raw = spec.get(level)
        if raw is None:
            values[level] = None
        elif kind == "latency":
            values[level] = check_boundary(raw, f"{where}{level}", buckets)
        elif kind == "queue_wait":
            values[level] = check_queue_wait(raw, f"{where}{level}")
        elif kind in _COUNTED:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise _fail(f"{where}{level}", raw, f"a count >= 0 ({_COUNTED[kind]})")
            values[level] = float(raw)
        elif kind == "metric":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise _fail(f"{where}{level}", raw, "a number in the metric's unit")
            values[level] = float(raw)
        elif kind == "health":
            statuses = {k: v for k, v in semconv.HEALTH_STATUS_VALUES.items() if k != "pass"}
            if raw not in statuses:
                raise _fail(f"{where}{level}", raw, "a check status: 'warn' or 'fail'")
            values[level] = statuses[raw]
        else:
            values[level] = _fraction(raw, f"{where}{level}", example="0.8 for 80 %")
    warning, critical = values["warning"], values["critical"]
    # A health status alerts at or below its value, so its warning is the higher one.
    if (
        warning is not None
        and critical is not None
        and not (warning > critical if kind == "health" else warning < critical)
    ):
        raise ConfigError(
            f"{where}warning = {spec.get('warning')!r} must be "
            f"{'less severe than' if kind == 'health' else 'below'} "
            f"critical = {spec.get('critical')!r}"
        )
    quantile = _fraction(spec.get("quantile", 0.95), f"{where}quantile", example="0.95")
    limit = None
    if kind == "memory":
        if spec.get("limit") is None:
            raise ConfigError(f"{where}limit is required for kind 'memory' (e.g. \"512MiB\")")
        limit = _bytes(spec["limit"], f"{where}limit")
    elif spec.get("limit") is not None:
        raise ConfigError(f"{where}limit is only accepted for kind 'memory'")
    if spec.get("route") is not None and kind not in ("latency", "error_ratio"):
        raise ConfigError(f"{where}route is only accepted for kinds 'latency' and 'error_ratio'")
    if spec.get("queue") is not None and kind not in QUEUE_KINDS:
        raise ConfigError(
            f"{where}queue is only accepted for kinds " + ", ".join(repr(k) for k in QUEUE_KINDS)
        )
    metric, selector = _metric_fields(spec, where, kind)
    instrument, unit = _own_metric_fields(spec, where, metric)
    # 10 minutes for job failures, as the Celery mixin's CeleryTaskHighFailRate:
    # jobs are rarer than requests, so a shorter window is mostly noise.
    default_window = {"brute_force": "10m", "synthetic": "15m",
                      "job_failure_ratio": "10m"}.get(kind, "5m")  # fmt: skip
    return Threshold(
        name=name,
        kind=kind,
        warning=warning,
        critical=critical,
        for_=parse_duration(spec.get("for", "5m"), f"{where}for", zero=True),
        quantile=quantile,
        window=parse_duration(spec.get("window", default_window), f"{where}window"),
        route=_text(spec.get("route"), f"{where}route"),
        limit=limit,
        routing=Routing.build(where, **_routing_fields(spec)),
        metric=metric,
        selector=selector,
        queue=_text(spec.get("queue"), f"{where}queue"),
        instrument=instrument,
        unit=unit,
    )


USER_INSTRUMENTS: Final = ("counter", "up_down_counter", "gauge", "histogram")
"""What ``instrument=`` accepts for a threshold on the application's own metric."""


def _own_metric_fields(
    spec: Mapping[str, Any], where: str, metric: str | None
) -> tuple[str | None, str]:
    """``instrument`` and ``unit`` of a threshold on the application's own metric."""
    from watchkit.ops._promnames import THRESHOLD_METRICS

    instrument, unit = spec.get("instrument"), spec.get("unit")
    if metric is None or metric in THRESHOLD_METRICS:
        for key, value in (("instrument", instrument), ("unit", unit)):
            if value is not None:
                why = (
                    "for kind 'metric'"
                    if metric is None
                    else "for your own metrics (watchkit knows its metric's instrument and unit)"
                )
                raise ConfigError(f"{where}{key} is only accepted {why}")
        return None, ""
    if instrument is None:
        raise ConfigError(
            f"{where}instrument is required for your own metric {metric!r}: use the instrument "
            "it was defined with ("
            + ", ".join(repr(i) for i in USER_INSTRUMENTS)
            + "), with its unit=; or name one of watchkit's metrics: "
            + ", ".join(sorted(THRESHOLD_METRICS))
        )
    if instrument not in USER_INSTRUMENTS:
        raise _fail(
            f"{where}instrument",
            instrument,
            "the instrument the metric was defined with: "
            + ", ".join(repr(i) for i in USER_INSTRUMENTS),
        )
    if unit is None:
        unit = ""
    if not isinstance(unit, str) or re.fullmatch(r"[\x20-\x7e]{0,63}", unit) is None:
        raise _fail(f"{where}unit", unit, "the metric's UCUM unit, e.g. '{payment}', 's', 'By'")
    return instrument, unit


def _metric_fields(
    spec: Mapping[str, Any], where: str, kind: str
) -> tuple[str | None, dict[str, str]]:
    """``metric`` and ``selector`` of a ``kind="metric"`` threshold, validated."""
    from watchkit.ops._promnames import THRESHOLD_METRICS

    metric, selector = spec.get("metric"), spec.get("selector") or {}
    if kind != "metric":
        for key in ("metric", "selector"):
            if spec.get(key):
                raise ConfigError(f"{where}{key} is only accepted for kind 'metric'")
        return None, {}
    if metric not in THRESHOLD_METRICS and (
        not isinstance(metric, str)
        or _METRIC_NAME.fullmatch(metric) is None
        or metric.lower().startswith(semconv.RESERVED_METRIC_PREFIX)
    ):
        raise _fail(
            f"{where}metric",
            metric,
            "your own metric's name (with instrument= and unit=) or one of watchkit's: "
            + ", ".join(sorted(THRESHOLD_METRICS)),
        )
    if not isinstance(selector, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) for k, v in selector.items()
    ):
        raise _fail(
            f"{where}selector", selector, 'attribute values, e.g. {"flow.name": "checkout"}'
        )
    return metric, dict(selector)


def build_capacity(spec: Mapping[str, Any]) -> Capacity:
    """A :class:`Capacity` from keyword values, validated."""
    where = "capacity."
    _known(spec, where, {"disk_horizon", "memory_limit", "memory_horizon", "max_request_rate",
                         "request_horizon", *ALERT_ROUTING_FIELDS})  # fmt: skip
    disk = spec.get("disk_horizon", "4h")
    rate = spec.get("max_request_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not rate > 0):  # fmt: skip
        raise _fail(f"{where}max_request_rate", rate, "requests per second > 0")
    memory = spec.get("memory_limit")
    return Capacity(
        disk_horizon=None if disk is None else parse_duration(disk, f"{where}disk_horizon"),
        memory_limit=None if memory is None else _bytes(memory, f"{where}memory_limit"),
        memory_horizon=parse_duration(spec.get("memory_horizon", "4h"), f"{where}memory_horizon"),
        max_request_rate=None if rate is None else float(rate),
        request_horizon=parse_duration(
            spec.get("request_horizon", "1h"), f"{where}request_horizon"
        ),
        routing=Routing.build(where, **_routing_fields(spec)),
        severity=build_severity(spec.get("severity"), where, "warning"),
    )


ALERT_ROUTING_FIELDS: Final = ("team", "runbook_url", "dashboard_url", "labels", "severity")
"""What a group of generated alerts (capacity, anomalies, TelemetryAbsent) can set."""


def build_severity(value: object, where: str, default: str) -> str:
    """``value`` if it is a severity, ``default`` for None, else a ConfigError naming ``where``."""
    if value is None:
        return default
    if value not in SEVERITIES:
        raise _fail(f"{where}severity", value, "one of: " + ", ".join(SEVERITIES))
    return str(value)


def build_alert_routing(value: object, where: str, default: str) -> tuple[Routing, str]:
    """Routing and severity of a group of alerts from ``{team, runbook_url, severity, ...}``."""
    if not isinstance(value, Mapping):
        raise _fail(where.rstrip("."), value, "a mapping of " + ", ".join(ALERT_ROUTING_FIELDS))
    spec: Mapping[str, Any] = value
    _known(spec, where, set(ALERT_ROUTING_FIELDS))
    return (
        Routing.build(where, **_routing_fields(spec)),
        build_severity(spec.get("severity"), where, default),
    )


def build_buckets(value: object) -> tuple[float, ...]:
    """Histogram boundaries (seconds), strictly increasing."""
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or not value
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        or any(b >= a for a, b in zip(value[1:], value, strict=False))
    ):
        raise _fail("buckets", value, "a strictly increasing list of seconds, e.g. [0.1, 0.2, 0.5]")
    return tuple(float(v) for v in value)


def _routing_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("team", "runbook_url", "dashboard_url", "summary", "description", "labels")
    return {key: spec[key] for key in keys if spec.get(key) is not None}


def _known(spec: Mapping[str, Any], where: str, accepted: set[str]) -> None:
    if not isinstance(spec, Mapping):
        raise _fail(where.rstrip("."), spec, "a mapping of field names to values")
    unknown = sorted(str(key) for key in spec if key not in accepted)
    if unknown:
        raise ConfigError(
            f"{where}{unknown[0]} is not a known field; use: {', '.join(sorted(accepted))}"
        )
