"""Declaring services in Python or from a parsed YAML file: one model, one validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from watchkit._exceptions import ConfigError
from watchkit._internal import semconv
from watchkit.ops._model import (
    SLO,
    Capacity,
    Routing,
    Service,
    Threshold,
    build_alert_routing,
    build_buckets,
    build_capacity,
    build_slo,
    build_threshold,
    check_boundary,
    check_slo_latency,
    parse_duration,
)

__all__ = ["capacity", "from_mapping", "service", "slo", "threshold"]

_SERVICE_FIELDS = frozenset(
    {"name", "namespace", "environment", "team", "runbook_url", "dashboard_url", "labels",
     "buckets", "slos", "thresholds", "capacity", "absent_for", "anomalies", "absent_alert"}
)  # fmt: skip


def slo(
    name: str,
    *,
    objective: float,
    period: str = "30d",
    sli: str = "availability",
    latency: float | str | None = None,
    route: str | None = None,
    flow: str | None = None,
    db_system: str | None = None,
    dependency: str | None = None,
    journey: str | None = None,
    queue: str | None = None,
    team: str | None = None,
    runbook_url: str | None = None,
    dashboard_url: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = semconv.DEFAULT_DURATION_BUCKETS,
) -> SLO:
    """Declare a service-level objective.

    Args:
        name: unique within the service; the ``slo`` label of its rules.
        objective: the good share as a fraction (``0.999`` for 99.9 %).
        period: rolling compliance period (``"30d"``, ``"28d"``, ``"7d"``).
        sli: ``"availability"`` or ``"latency"``.
        latency: for ``sli="latency"``: seconds, ``"500ms"`` or ``"2m"``; must be a
            bucket boundary.
        route: only this ``http.route``.
        flow: measure this watchkit flow (its ``error`` outcomes) instead of HTTP.
        db_system: measure database operations of this ``db.system.name``.
        dependency: measure calls to this dependency (``service.peer.name``):
            ``watchkit.dependency`` calls and outgoing HTTP requests to its hosts.
        journey: measure the runs of this synthetic journey (its ``fail`` results).
        queue: measure the jobs of this queue (``messaging.destination.name``):
            availability counts the ``failure`` and ``dead_lettered`` outcomes of
            ``watchkit.queue.jobs``; latency counts jobs that waited longer than
            ``latency``, a boundary of the queue wait histogram (50 ms to 30 min).
        team: ``team`` label of the alerts.
        runbook_url: ``runbook_url`` annotation.
        dashboard_url: ``dashboard_url`` annotation.
        summary: ``summary`` annotation (default generated).
        description: ``description`` annotation (default generated).
        labels: extra alert labels.
        buckets: the duration histogram's boundaries (the default ones unless
            ``duration_buckets`` is configured).

    Raises:
        ConfigError: a value is invalid; the message names the field.

    Example:
        >>> from watchkit import ops
        >>> ops.slo("fast-orders", objective=0.95, sli="latency", latency="500ms").latency
        0.5
    """
    spec = {key: value for key, value in locals().items() if key != "buckets"}
    return build_slo(0, spec, buckets)


def threshold(
    name: str,
    *,
    kind: str,
    warning: float | str | None = None,
    critical: float | str | None = None,
    for_: str = "5m",
    quantile: float = 0.95,
    window: str | None = None,
    route: str | None = None,
    limit: float | str | None = None,
    metric: str | None = None,
    selector: Mapping[str, str] | None = None,
    queue: str | None = None,
    instrument: str | None = None,
    unit: str | None = None,
    team: str | None = None,
    runbook_url: str | None = None,
    dashboard_url: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = semconv.DEFAULT_DURATION_BUCKETS,
) -> Threshold:
    """Declare a threshold alert with a warning and/or a critical level.

    Args:
        name: the alert name, e.g. ``"HighLatency"``.
        kind: ``"latency"``, ``"error_ratio"``, ``"cpu"``, ``"memory"``,
            ``"brute_force"``, ``"health"``, ``"synthetic"``, ``"metric"``,
            ``"queue_backlog"``, ``"job_failure_ratio"`` or ``"queue_wait"``.
        warning: the warning level (latency: seconds or ``"200ms"``, a bucket
            boundary; ratios: a fraction; brute_force: a count of alerts;
            health: a check status, ``"warn"`` or ``"fail"``; synthetic: a count
            of failed journey runs; queue_backlog: a number of messages waiting;
            job_failure_ratio: the share of ``failure`` outcomes among all job
            outcomes; queue_wait: seconds or ``"30s"``/``"2m"``, a boundary of
            the queue wait histogram).
        critical: the critical level, above ``warning`` (health: ``"fail"``).
        for_: how long the condition must hold (``"5m"``).
        quantile: for ``latency``: the quantile compared (0.95).
        window: rate window (``"5m"``; ``"10m"`` for brute_force and
            job_failure_ratio, ``"15m"`` for synthetic).
        route: only this ``http.route`` (latency and error_ratio).
        limit: for ``memory``: the memory limit (bytes or ``"512MiB"``).
        metric: for ``kind="metric"``: the watched metric's OpenTelemetry name,
            watchkit's (``"watchkit.flow.active"``) or your own (``"payments.failed"``,
            with ``instrument`` and ``unit``); gauges are compared as they are,
            counters as a rate per second over ``window``, histograms by ``quantile``.
        selector: for ``kind="metric"``: attribute values the series must have,
            e.g. ``{"flow.name": "checkout"}``.
        queue: for the queue kinds: only this ``messaging.destination.name``
            (default: every queue of the service, one alert per queue).
        instrument: for ``kind="metric"`` on your own metric: what it was
            defined with, ``"counter"``, ``"up_down_counter"``, ``"gauge"`` or
            ``"histogram"`` (it decides the Prometheus name and the reading).
        unit: for ``kind="metric"`` on your own metric: its unit as defined
            (``"{payment}"``, ``"s"``; default none), which the Prometheus name
            carries as a suffix (``s`` -> ``_seconds``).
        team: ``team`` label.
        runbook_url: ``runbook_url`` annotation.
        dashboard_url: ``dashboard_url`` annotation.
        summary: ``summary`` annotation (default generated).
        description: ``description`` annotation (default generated).
        labels: extra alert labels.
        buckets: the duration histogram's boundaries.

    Raises:
        ConfigError: a value is invalid; the message names the field.

    Example:
        >>> from watchkit import ops
        >>> ops.threshold("HighLatency", kind="latency", warning="250ms").warning
        0.25
    """
    spec = {key: value for key, value in locals().items() if key not in ("buckets", "for_")}
    spec["for"] = for_
    if window is None:
        del spec["window"]
    return build_threshold(0, spec, buckets)


def capacity(
    *,
    disk_horizon: str | None = "4h",
    memory_limit: float | str | None = None,
    memory_horizon: str = "4h",
    max_request_rate: float | None = None,
    request_horizon: str = "1h",
    team: str | None = None,
    runbook_url: str | None = None,
    dashboard_url: str | None = None,
    labels: Mapping[str, str] | None = None,
    severity: str = "warning",
) -> Capacity:
    """Declare trend (capacity) alerts.

    Args:
        disk_horizon: alert when a filesystem will be full within it (None: no alert).
        memory_limit: alert when process memory will pass it within ``memory_horizon``.
        memory_horizon: projection horizon for memory.
        max_request_rate: requests per second the service is sized for.
        request_horizon: projection horizon for the request rate.
        team: ``team`` of these alerts (default: the service's).
        runbook_url: ``runbook_url`` of these alerts (default: the service's).
        dashboard_url: ``dashboard_url`` of these alerts (default: the service's).
        labels: extra labels on these alerts, over the service's.
        severity: their ``severity``: ``critical``, ``warning`` or ``info``.

    Raises:
        ConfigError: a value is invalid; the message names the field.
    """
    spec = dict(locals())
    for key in ("team", "runbook_url", "dashboard_url", "labels"):
        if spec[key] is None:
            del spec[key]
    return build_capacity(spec)


def service(
    name: str,
    *,
    namespace: str | None = None,
    environment: str | None = None,
    slos: Sequence[SLO] = (),
    thresholds: Sequence[Threshold] = (),
    capacity: Capacity | None = None,
    team: str | None = None,
    runbook_url: str | None = None,
    dashboard_url: str | None = None,
    labels: Mapping[str, str] | None = None,
    buckets: Sequence[float] = semconv.DEFAULT_DURATION_BUCKETS,
    absent_for: str = "10m",
    anomalies: bool | Mapping[str, Any] = True,
    absent_alert: Mapping[str, Any] | None = None,
) -> Service:
    """Declare a service: the input of every generator.

    Args:
        name: its ``service.name``.
        namespace: its ``service.namespace``.
        environment: its ``deployment.environment.name``; queries then select it.
        slos: from :func:`slo`.
        thresholds: from :func:`threshold`.
        capacity: from :func:`capacity` (default: disk-full-within-4h only).
        team: default ``team`` of every alert.
        runbook_url: default ``runbook_url``.
        dashboard_url: default ``dashboard_url``.
        labels: extra labels on every alert.
        buckets: the duration histogram's boundaries, if ``duration_buckets`` is configured.
        absent_for: how long without telemetry before ``TelemetryAbsent`` fires.
        anomalies: generate the week-over-week anomaly rules; a mapping of
            ``team``, ``runbook_url``, ``dashboard_url``, ``labels`` and ``severity``
            (``info`` by default) generates them with that routing.
        absent_alert: ``team``, ``runbook_url``, ``dashboard_url``, ``labels`` and
            ``severity`` (``warning`` by default) of ``TelemetryAbsent``.

    Raises:
        ConfigError: a value is invalid; the message names the field.

    Example:
        >>> from watchkit import ops
        >>> ops.service("checkout", slos=[ops.slo("availability", objective=0.999)]).name
        'checkout'
    """
    where = "service."
    if not isinstance(name, str) or not name.strip() or '"' in name:
        raise ConfigError(f"{where}name = {name!r} is not accepted; use a non-empty service.name")
    for key, value in (("namespace", namespace), ("environment", environment)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}{key} = {value!r} is not accepted; use a non-empty string")
    bounds = build_buckets(list(buckets))
    slo_list = list(slos)
    for index, item in enumerate(slo_list):
        if not isinstance(item, SLO):
            raise ConfigError(f"slos[{index}] = {item!r} is not accepted; use watchkit.ops.slo()")
        if item.latency is not None:
            check_slo_latency(item.latency, f"slos[{index}].latency", item.source, bounds)
    seen: set[str] = set()
    for index, item in enumerate(slo_list):
        if item.name in seen:
            raise ConfigError(f"slos[{index}].name = {item.name!r} is declared twice")
        seen.add(item.name)
    threshold_list = list(thresholds)
    for index, entry in enumerate(threshold_list):
        if not isinstance(entry, Threshold):
            raise ConfigError(
                f"thresholds[{index}] = {entry!r} is not accepted; use watchkit.ops.threshold()"
            )
        if entry.kind == "latency":
            for level in (entry.warning, entry.critical):
                if level is not None:
                    check_boundary(level, f"thresholds[{index}].{entry.kind}", bounds)
    if capacity is not None and not isinstance(capacity, Capacity):
        raise ConfigError(f"capacity = {capacity!r} is not accepted; use watchkit.ops.capacity()")
    anomaly_routing, anomaly_severity = Routing(), "info"
    if isinstance(anomalies, Mapping):
        anomaly_routing, anomaly_severity = build_alert_routing(anomalies, "anomalies.", "info")
        anomalies = True
    elif not isinstance(anomalies, bool):
        raise ConfigError(
            f"anomalies = {anomalies!r} is not accepted; use true, false or a mapping of "
            "team, runbook_url, dashboard_url, labels, severity"
        )
    absent_routing, absent_severity = build_alert_routing(
        absent_alert or {}, "absent_alert.", "warning"
    )
    routing = Routing.build(
        where,
        **{
            k: v
            for k, v in (("team", team), ("runbook_url", runbook_url),
                         ("dashboard_url", dashboard_url), ("labels", labels))
            if v is not None
        },
    )  # fmt: skip
    return Service(
        name=name,
        namespace=namespace,
        environment=environment,
        slos=tuple(slo_list),
        thresholds=tuple(threshold_list),
        capacity=capacity if capacity is not None else Capacity(),
        routing=routing,
        buckets=bounds,
        absent_for=parse_duration(absent_for, f"{where}absent_for"),
        anomalies=anomalies,
        anomaly_routing=anomaly_routing,
        anomaly_severity=anomaly_severity,
        absent_routing=absent_routing,
        absent_severity=absent_severity,
    )


def from_mapping(document: object) -> list[Service]:
    """Services from a parsed declaration file (``{"services": [...]}``).

    Raises:
        ConfigError: the document does not have that shape or a value is
            invalid; the message names the field (``services[0].slos[1].objective``).
    """
    if not isinstance(document, Mapping) or set(document) != {"services"}:
        raise ConfigError(
            "the declaration file must be a mapping with one key, 'services' (a list of services)"
        )
    entries = document["services"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("services must be a non-empty list")
    return [_service_from(index, entry) for index, entry in enumerate(entries)]


def _service_from(index: int, entry: object) -> Service:
    prefix = f"services[{index}]."
    if not isinstance(entry, Mapping):
        raise ConfigError(f"services[{index}] is not a mapping of field names to values")
    try:
        unknown = sorted(str(key) for key in entry if key not in _SERVICE_FIELDS)
        if unknown:
            raise ConfigError(
                f"{unknown[0]} is not a known field; use: {', '.join(sorted(_SERVICE_FIELDS))}"
            )
        if "name" not in entry:
            raise ConfigError("name is required")
        buckets = build_buckets(entry.get("buckets", list(semconv.DEFAULT_DURATION_BUCKETS)))
        slos = _list(entry, "slos")
        thresholds = _list(entry, "thresholds")
        cap = entry.get("capacity")
        kwargs: dict[str, Any] = {
            key: entry[key]
            for key in ("namespace", "environment", "team", "runbook_url", "dashboard_url",
                        "labels", "absent_for", "anomalies", "absent_alert")
            if key in entry
        }  # fmt: skip
        svc = service(
            entry["name"],
            slos=[build_slo(i, spec, buckets) for i, spec in enumerate(slos)],
            thresholds=[build_threshold(i, spec, buckets) for i, spec in enumerate(thresholds)],
            capacity=None if cap is None else build_capacity(cap),
            buckets=buckets,
            **kwargs,
        )
    except ConfigError as error:
        message = str(error).removeprefix("service.")
        raise ConfigError(f"{prefix}{message}") from None
    return svc


def _list(entry: Mapping[str, Any], key: str) -> list[Any]:
    value = entry.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key} = {value!r} is not accepted; use a list")
    return value
