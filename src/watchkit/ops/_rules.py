"""Prometheus rule files: SLIs, burn rates, thresholds, absence, anomalies and capacity.

The output is the structure of a Prometheus rule file (``{"groups": [...]}``),
ready for ``yaml.safe_dump``; :func:`watchkit.ops.rules_yaml` renders it.

Burn-rate alerts follow the multi-window, multi-burn-rate scheme of the Google
SRE workbook (https://sre.google/workbook/alerting-on-slos/): for a 30-day
period, page when 2 % of the budget burns in an hour (factor 14.4, 1 h and 5 m
windows) or 5 % in six hours (factor 6, 6 h and 30 m); ticket when 10 % burns
in a day (factor 3, 1 d and 2 h) or in three days (factor 1, 3 d and 6 h). For
another period the windows (and ``for``) scale with it and the factors stay,
so each alert still means the same share of the budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from watchkit.ops import _promnames as names
from watchkit.ops._model import (
    SLO,
    Routing,
    Service,
    Threshold,
    format_duration,
    format_latency,
)

__all__ = ["RECORD_PREFIX", "burn_windows", "rules", "selector", "sli_counts", "sli_queries"]

RECORD_PREFIX: Final = "watchkit_slo"
_BASE_PERIOD: Final = 30 * 86400.0
# (burn, severity, factor, short window, long window, for), all for 30 days.
_WINDOWS_30D: Final = (
    ("page", "critical", 14.4, 300, 3600, 120),
    ("page", "critical", 6.0, 1800, 6 * 3600, 900),
    ("ticket", "warning", 3.0, 2 * 3600, 86400, 3600),
    ("ticket", "warning", 1.0, 6 * 3600, 3 * 86400, 3 * 3600),
)
_RATE_5M: Final = "watchkit:http_requests:rate5m"
_P95_5M: Final = "watchkit:http_request_duration_seconds:p95_5m"


def _minutes(seconds: float) -> float:
    return max(60.0, round(seconds / 60) * 60)


def absent_hold(service: Service) -> float:
    """The ``for`` of ``TelemetryAbsent``: a fifth of ``absent_for``, whole minutes, 1 to 10."""
    return min(600.0, _minutes(service.absent_for / 5))


def burn_windows(slo: SLO) -> list[tuple[str, str, float, str, str, str]]:
    """(burn, severity, factor, short, long, for) for the SLO's period."""
    scale = slo.period / _BASE_PERIOD
    return [
        (burn, severity, factor, format_duration(_minutes(short * scale)),
         format_duration(_minutes(long * scale)), format_duration(_minutes(hold * scale)))
        for burn, severity, factor, short, long, hold in _WINDOWS_30D
    ]  # fmt: skip


def _matchers(service: Service, *extra: str) -> str:
    parts = [f'{names.LABEL_SERVICE}="{_escape(service.name)}"']
    if service.environment:
        parts.append(f'{names.LABEL_ENVIRONMENT}="{_escape(service.environment)}"')
    parts.extend(extra)
    return ", ".join(parts)


def selector(service: Service, *extra: str) -> str:
    """``{service_name="...", ...}``: the series of this service (and environment)."""
    return "{" + _matchers(service, *extra) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def sli_counts(service: Service, slo: SLO, window: str, function: str = "rate") -> tuple[str, str]:
    """(bad, all) events of ``slo`` over ``window``: ``function`` is ``rate`` or ``increase``.

    ``bad`` is empty (no series) rather than 0 when nothing failed; callers add
    ``or vector(0)`` where an absent series must count as none.
    """
    if slo.source == "dependency":
        return _dependency_counts(service, slo, window, function)
    if slo.source == "queue":
        return _queue_counts(service, slo, window, function)
    if slo.source == "journey":
        assert slo.journey is not None
        metric = names.SYNTHETIC_DURATION
        extra = [f'{names.LABEL_JOURNEY}="{_escape(slo.journey)}"']
        bad = f'{names.LABEL_SYNTHETIC_RESULT}="fail"'
    elif slo.source == "flow":
        assert slo.flow is not None
        metric, extra = names.FLOW_DURATION, [f'{names.LABEL_FLOW_NAME}="{_escape(slo.flow)}"']
        bad = f'{names.LABEL_FLOW_OUTCOME}="error"'
    elif slo.source == "db":
        assert slo.db_system is not None
        metric = names.DB_DURATION
        extra = [f'{names.LABEL_DB_SYSTEM}="{_escape(slo.db_system)}"']
        bad = f'{names.LABEL_ERROR_TYPE}!=""'
    else:
        metric, extra = names.HTTP_DURATION, []
        if slo.route is not None:
            extra.append(f'{names.LABEL_ROUTE}="{_escape(slo.route)}"')
        bad = f'{names.LABEL_STATUS}=~"5.."'
    total = f"sum({function}({metric}_count{selector(service, *extra)}[{window}]))"
    if slo.sli == "latency":
        assert slo.latency is not None
        good_sel = selector(service, *extra, names.le_matcher(slo.latency))
        good = f"sum({function}({metric}_bucket{good_sel}[{window}]))"
        return f"({total} - {good})", total
    return f"sum({function}({metric}_count{selector(service, *extra, bad)}[{window}]))", total


def _dependency_counts(service: Service, slo: SLO, window: str, function: str) -> tuple[str, str]:
    """A dependency is called through ``watchkit.dependency`` and/or over HTTP: count both.

    One selector over both histograms (by ``__name__``), so a dependency reached
    only one way still counts; both set ``error.type`` on a failed call.
    """
    assert slo.dependency is not None
    peer = f'{names.LABEL_PEER_SERVICE}="{_escape(slo.dependency)}"'

    def both(suffix: str, *extra: str) -> str:
        metrics = f"{names.DEPENDENCY_DURATION}_{suffix}|{names.HTTP_CLIENT_DURATION}_{suffix}"
        sel = selector(service, f'__name__=~"{metrics}"', peer, *extra)
        return f"sum({function}({sel}[{window}]))"

    total = both("count")
    if slo.sli == "latency":
        assert slo.latency is not None
        return f"({total} - {both('bucket', names.le_matcher(slo.latency))})", total
    return both("count", f'{names.LABEL_ERROR_TYPE}!=""'), total


def _queue_counts(service: Service, slo: SLO, window: str, function: str) -> tuple[str, str]:
    """Jobs of one queue: failed or dead-lettered outcomes, or waits over the threshold.

    A retry is not a failure of the job (it runs again and is counted again), and
    a revoked job was cancelled on purpose; a dead-lettered one never succeeds.
    """
    assert slo.queue is not None
    queue = f'{names.LABEL_QUEUE}="{_escape(slo.queue)}"'
    if slo.sli == "latency":
        assert slo.latency is not None
        wait = names.QUEUE_WAIT
        total = f"sum({function}({wait}_count{selector(service, queue)}[{window}]))"
        under = selector(service, queue, names.le_matcher(slo.latency))
        return f"({total} - sum({function}({wait}_bucket{under}[{window}])))", total
    bad = selector(service, queue, f'{names.LABEL_JOB_OUTCOME}=~"failure|dead_lettered"')
    return (
        f"sum({function}({names.QUEUE_JOBS}{bad}[{window}]))",
        f"sum({function}({names.QUEUE_JOBS}{selector(service, queue)}[{window}]))",
    )


def sli_queries(service: Service, slo: SLO, window: str) -> str:
    """The error ratio of ``slo`` over ``window`` (bad events / all events)."""
    bad, total = sli_counts(service, slo, window)
    if slo.sli == "latency":
        return f"{bad} / {total}"
    # No error series at all is a ratio of 0, not an absent one.
    return f"({bad} or vector(0)) / {total}"


def _annotations(routing: Routing, summary: str, description: str) -> dict[str, str]:
    out = {
        "summary": routing.summary or summary,
        "description": routing.description or description,
    }
    if routing.runbook_url:
        out["runbook_url"] = routing.runbook_url
    if routing.dashboard_url:
        out["dashboard_url"] = routing.dashboard_url
    return out


def _labels(service: Service, routing: Routing, severity: str, **extra: str) -> dict[str, str]:
    out = {"severity": severity, names.LABEL_SERVICE: service.name}
    if routing.team:
        out["team"] = routing.team
    out.update(routing.labels)
    out.update(extra)
    return out


def _number(value: float) -> str:
    return f"{value:.6g}"


def _size(value: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size and value % size == 0:
            return f"{int(value // size)} {unit}"
    return f"{int(value)} bytes"


def _slo_groups(service: Service, slo: SLO) -> list[dict[str, Any]]:
    routing = slo.routing.over(service.routing)
    ident = {names.LABEL_SERVICE: service.name, "slo": slo.name}
    windows = burn_windows(slo)
    distinct = sorted({w for row in windows for w in row[3:5]} | {"5m"}, key=_sort_key)
    records: list[dict[str, Any]] = [
        {
            "record": f"{RECORD_PREFIX}:sli_error:ratio_rate{w}",
            "expr": sli_queries(service, slo, w),
            "labels": dict(ident),
        }
        for w in distinct
    ]
    period = format_duration(slo.period)
    sel = "{" + ", ".join(f'{k}="{_escape(v)}"' for k, v in ident.items()) + "}"
    records += [
        {"record": f"{RECORD_PREFIX}:objective:ratio", "expr": f"vector({_number(slo.objective)})",
         "labels": dict(ident)},
        {"record": f"{RECORD_PREFIX}:sli_error:ratio_period",
         # The mean of the 5-minute ratios over the period, as Sloth computes it:
         # a rate over 30 days would need 30 days of raw samples per evaluation.
         "expr": f"avg_over_time({RECORD_PREFIX}:sli_error:ratio_rate5m{sel}[{period}])",
         "labels": dict(ident)},
        {"record": f"{RECORD_PREFIX}:error_budget_remaining:ratio",
         "expr": f"1 - {RECORD_PREFIX}:sli_error:ratio_period{sel} / {_number(slo.budget)}",
         "labels": dict(ident)},
        {"record": f"{RECORD_PREFIX}:burn_rate:ratio_rate1h",
         "expr": f"{RECORD_PREFIX}:sli_error:ratio_rate1h{sel} / {_number(slo.budget)}"
         if "1h" in distinct else
         f"{RECORD_PREFIX}:sli_error:ratio_rate5m{sel} / {_number(slo.budget)}",
         "labels": dict(ident)},
    ]  # fmt: skip
    alerts = []
    for burn, severity, factor, short, long, hold in windows:
        limit = _number(factor * slo.budget)
        expr = (
            f"{RECORD_PREFIX}:sli_error:ratio_rate{short}{sel} > {limit}\n"
            f"and\n{RECORD_PREFIX}:sli_error:ratio_rate{long}{sel} > {limit}"
        )
        what = "latency" if slo.sli == "latency" else "error"
        alerts.append(
            {
                "alert": "ErrorBudgetBurn",
                "expr": expr,
                "for": hold,
                "labels": _labels(
                    service, routing, severity, slo=slo.name, burn=burn, short=short, long=long
                ),
                "annotations": _annotations(
                    routing,
                    f"{service.name}: SLO {slo.name} burns its error budget {factor:g}x too fast",
                    f"The {what} ratio of SLO {slo.name} ({_number(slo.objective * 100)} % over "
                    f"{period}) is above {factor:g}x its budget over both {long} and {short}; "
                    f"at this rate the budget lasts "
                    f"{format_duration(_minutes(slo.period / factor))}. "
                    "Current ratio: {{ $value | humanizePercentage }}.",
                ),
            }
        )
    group = f"watchkit-slo-{service.name}-{slo.name}"
    return [
        {"name": f"{group}-sli", "rules": records},
        {"name": f"{group}-alerts", "rules": alerts},
    ]


def _sort_key(window: str) -> float:
    from watchkit.ops._model import parse_duration

    return parse_duration(window, "window")


def _threshold_expr(service: Service, threshold: Threshold, value: float) -> tuple[str, str]:
    """(expression, description of the value) for one level of a threshold."""
    window = format_duration(threshold.window)
    route = [f'{names.LABEL_ROUTE}="{_escape(threshold.route)}"'] if threshold.route else []
    by = names.LABEL_SERVICE + (f", {names.LABEL_ROUTE}" if threshold.route else "")
    if threshold.kind == "latency":
        sel = selector(service, *route)
        q = _number(threshold.quantile)
        return (
            f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({names.HTTP_DURATION}_bucket{sel}[{window}]))) > {_number(value)}",
            f"p{_number(threshold.quantile * 100)} latency over {window} is "
            "{{ $value | humanizeDuration }}"
            f" (threshold {_number(value * 1000)} ms)",
        )
    if threshold.kind == "error_ratio":
        errors = selector(service, *route, f'{names.LABEL_STATUS}=~"5.."')
        total = selector(service, *route)
        return (
            f"sum by ({by}) (rate({names.HTTP_DURATION}_count{errors}[{window}]))\n"
            f"/ sum by ({by}) (rate({names.HTTP_DURATION}_count{total}[{window}]))"
            f" > {_number(value)}",
            f"the share of 5xx responses over {window} is "
            "{{ $value | humanizePercentage }}"
            f" (threshold {_number(value * 100)} %)",
        )
    if threshold.kind == "cpu":
        return (
            f"max by ({names.LABEL_SERVICE}, instance) "
            f"(avg_over_time({names.CPU_UTILIZATION}{selector(service)}[{window}]))"
            f" > {_number(value)}",
            "process CPU utilisation is {{ $value | humanizePercentage }}"
            f" (threshold {_number(value * 100)} %)",
        )
    if threshold.kind == "memory":
        assert threshold.limit is not None
        return (
            f"max by ({names.LABEL_SERVICE}, instance) ({names.MEMORY_USAGE}{selector(service)})"
            f" / {_number(threshold.limit)} > {_number(value)}",
            "process memory is {{ $value | humanizePercentage }}"
            f" of its {_size(threshold.limit)} limit (threshold {_number(value * 100)} %)",
        )
    if threshold.kind == "metric":
        return _metric_expr(service, threshold, value, window)
    if threshold.kind in ("queue_backlog", "job_failure_ratio", "queue_wait"):
        return _queue_expr(service, threshold, value, window)
    if threshold.kind == "health":
        check = names.LABEL_HEALTH_CHECK
        status = "warn or worse" if value > 0 else "fail"
        return (
            f"min by ({names.LABEL_SERVICE}, {check}) ({names.HEALTH_STATUS}{selector(service)})"
            f" <= {_number(value)}",
            f"health check {{{{ $labels.{check} }}}} is {status} on at least one instance "
            "(status {{ $value }}: 1 pass, 0.5 warn, 0 fail)",
        )
    if threshold.kind == "synthetic":
        journey = names.LABEL_JOURNEY
        sel = selector(service, f'{names.LABEL_SYNTHETIC_RESULT}="fail"')
        return (
            f"sum by ({names.LABEL_SERVICE}, {journey}) "
            f"(increase({names.SYNTHETIC_RUNS}{sel}[{window}])) > {_number(value)}",
            f"synthetic journey {{{{ $labels.{journey} }}}} failed "
            f"{{{{ $value | humanize }}}} times within {window} (threshold {_number(value)})",
        )
    # brute_force: LoginMonitor does the per-IP counting in process (an IP is
    # never a metric label) and counts one alert per hammered IP or user.
    sel = selector(service, f'{names.LABEL_ALERT_KIND}="brute_force"')
    return (
        f"sum by ({names.LABEL_SERVICE}) (increase({names.SECURITY_ALERTS}{sel}[{window}]))"
        f" > {_number(value)}",
        "{{ $value | humanize }} IPs or users crossed the failed-login limit within "
        f"{window} (security.brute_force_suspected log records name them)",
    )


def _queue_expr(
    service: Service, threshold: Threshold, value: float, window: str
) -> tuple[str, str]:
    """One alert per queue (and job, for failures): ``messaging_destination_name`` labels it."""
    queue = names.LABEL_QUEUE
    only = [f'{queue}="{_escape(threshold.queue)}"'] if threshold.queue else []
    by = f"{names.LABEL_SERVICE}, {queue}"
    if threshold.kind == "queue_backlog":
        # One process reports a depth (a lease elects it); max() also covers
        # the overlap while the lease moves from one reporter to the next.
        return (
            f"max by ({by}) ({names.QUEUE_DEPTH}{selector(service, *only)}) > {_number(value)}",
            f"{{{{ $value | humanize }}}} messages are waiting in queue {{{{ $labels.{queue} }}}} "
            f"(threshold {_number(value)})",
        )
    if threshold.kind == "job_failure_ratio":
        # Per job, as the Celery mixin's CeleryTaskHighFailRate: one failing job
        # type hides in the ratio of a busy queue.
        job = names.LABEL_JOB_NAME
        failed = selector(service, *only, f'{names.LABEL_JOB_OUTCOME}="failure"')
        return (
            f"sum by ({by}, {job}) (rate({names.QUEUE_JOBS}{failed}[{window}]))\n"
            f"/ sum by ({by}, {job}) (rate({names.QUEUE_JOBS}{selector(service, *only)}"
            f"[{window}])) > {_number(value)}",
            f"{{{{ $value | humanizePercentage }}}} of the {{{{ $labels.{job} }}}} jobs of queue "
            f"{{{{ $labels.{queue} }}}} failed over {window} (threshold {_number(value * 100)} %)",
        )
    q, sel = _number(threshold.quantile), selector(service, *only)
    return (
        f"histogram_quantile({q}, sum by (le, {by}) "
        f"(rate({names.QUEUE_WAIT}_bucket{sel}[{window}]))) > {_number(value)}",
        f"p{_number(threshold.quantile * 100)} wait in queue {{{{ $labels.{queue} }}}} over "
        f"{window} is {{{{ $value | humanizeDuration }}}} (threshold {format_latency(value)})",
    )


def _metric_expr(
    service: Service, threshold: Threshold, value: float, window: str
) -> tuple[str, str]:
    assert threshold.metric is not None
    if threshold.instrument is None:
        series, reading = names.THRESHOLD_METRICS[threshold.metric]
    else:
        series, reading = names.user_metric(threshold.metric, threshold.instrument, threshold.unit)
    matchers = [f'{names.label(k)}="{_escape(v)}"' for k, v in threshold.selector.items()]
    sel, by = selector(service, *matchers), names.LABEL_SERVICE
    if reading == "gauge":
        expr, what = f"max by ({by}) ({series}{sel})", threshold.metric
    elif reading == "counter":
        expr = f"sum by ({by}) (rate({series}{sel}[{window}]))"
        what = f"the rate of {threshold.metric} over {window}"
    else:
        q = _number(threshold.quantile)
        expr = f"histogram_quantile({q}, sum by (le, {by}) (rate({series}_bucket{sel}[{window}])))"
        what = f"p{_number(threshold.quantile * 100)} of {threshold.metric} over {window}"
    return (
        f"{expr} > {_number(value)}",
        f"{what} is {{{{ $value | humanize }}}} (threshold {_number(value)})",
    )


def _threshold_rules(service: Service, threshold: Threshold) -> list[dict[str, Any]]:
    routing = threshold.routing.over(service.routing)
    out = []
    for severity, value in (("warning", threshold.warning), ("critical", threshold.critical)):
        if value is None:
            continue
        expr, description = _threshold_expr(service, threshold, value)
        extra = {"route": threshold.route} if threshold.route else {}
        out.append(
            {
                "alert": threshold.name,
                "expr": expr,
                "for": format_duration(threshold.for_),
                "labels": _labels(service, routing, severity, **extra),
                "annotations": _annotations(
                    routing,
                    f"{service.name}: {threshold.name} ({severity})",
                    f"{service.name}: {description}.",
                ),
            }
        )
    return out


def _anomaly_rules(service: Service) -> list[dict[str, Any]]:
    sel = selector(service)
    by = names.LABEL_SERVICE
    ident = {names.LABEL_SERVICE: service.name}
    series_sel = "{" + f'{by}="{_escape(service.name)}"' + "}"

    def zscore(record: str) -> str:
        # Against the same hour one week earlier: traffic has a weekly shape, so
        # Monday 9:00 is compared with last Monday 9:00, not with Sunday night.
        past = f"{record}{series_sel}[1h] offset 1w"
        return f"({record}{series_sel} - avg_over_time({past}))\n/ (stddev_over_time({past}) > 0)"

    routing, severity = service.anomaly_routing.over(service.routing), service.anomaly_severity
    return [
        {"record": _RATE_5M, "expr": f"sum by ({by}) (rate({names.HTTP_DURATION}_count{sel}[5m]))"},
        {"record": _P95_5M,
         "expr": f"histogram_quantile(0.95, sum by (le, {by}) "
                 f"(rate({names.HTTP_DURATION}_bucket{sel}[5m])))"},
        {"record": f"{_RATE_5M}:zscore_1w", "expr": zscore(_RATE_5M), "labels": dict(ident)},
        {"record": f"{_P95_5M}:zscore_1w", "expr": zscore(_P95_5M), "labels": dict(ident)},
        {"alert": "RequestRateAnomaly",
         "expr": f"abs({_RATE_5M}:zscore_1w{series_sel}) > 3",
         "for": "15m",
         "labels": _labels(service, routing, severity),
         "annotations": _annotations(
             routing, f"{service.name}: request rate unlike the same hour last week",
             f"{service.name}: the request rate is {{{{ $value | humanize }}}} standard "
             "deviations from the same hour one week earlier.")},
        {"alert": "LatencyAnomaly",
         "expr": f"{_P95_5M}:zscore_1w{series_sel} > 3",
         "for": "15m",
         "labels": _labels(service, routing, severity),
         "annotations": _annotations(
             routing, f"{service.name}: p95 latency unlike the same hour last week",
             f"{service.name}: p95 latency is {{{{ $value | humanize }}}} standard deviations "
             "above the same hour one week earlier.")},
    ]  # fmt: skip


def _capacity_rules(service: Service) -> list[dict[str, Any]]:
    cap, out = service.capacity, []
    routing, severity = cap.routing.over(service.routing), cap.severity
    sel = selector(service)
    if cap.disk_horizon is not None:
        horizon = format_duration(cap.disk_horizon)
        free = selector(service, f'{names.LABEL_FS_STATE}="free"')
        out.append({
            "alert": "DiskFullSoon",
            "expr": f"predict_linear({names.FILESYSTEM_USAGE}{free}[6h], "
                    f"{int(cap.disk_horizon)}) < 0",
            "for": "30m",
            "labels": _labels(service, routing, severity),
            "annotations": _annotations(
                routing, f"{service.name}: a filesystem will be full within {horizon}",
                f"{service.name}: at the trend of the last 6 hours, "
                f"{{{{ $labels.{names.LABEL_FS_MOUNTPOINT} }}}} runs out of space within "
                f"{horizon}."),
        })  # fmt: skip
    if cap.memory_limit is not None:
        horizon = format_duration(cap.memory_horizon)
        out.append({
            "alert": "MemoryGrowth",
            "expr": f"predict_linear({names.MEMORY_USAGE}{sel}[1h], "
                    f"{int(cap.memory_horizon)}) > {_number(cap.memory_limit)}",
            "for": "30m",
            "labels": _labels(service, routing, severity),
            "annotations": _annotations(
                routing, f"{service.name}: memory will reach its limit within {horizon}",
                f"{service.name}: at the trend of the last hour, process memory exceeds "
                f"{_size(cap.memory_limit)} within {horizon}."),
        })  # fmt: skip
    if cap.max_request_rate is not None:
        horizon = format_duration(cap.request_horizon)
        series = "{" + f'{names.LABEL_SERVICE}="{_escape(service.name)}"' + "}"
        out.append({
            "alert": "RequestRateNearCapacity",
            "expr": f"predict_linear({_RATE_5M}{series}[1h], {int(cap.request_horizon)})"
                    f" > {_number(cap.max_request_rate)}",
            "for": "15m",
            "labels": _labels(service, routing, severity),
            "annotations": _annotations(
                routing, f"{service.name}: traffic will exceed capacity within {horizon}",
                f"{service.name}: at the trend of the last hour, the request rate passes "
                f"{_number(cap.max_request_rate)}/s within {horizon}."),
        })  # fmt: skip
    return out


def rules(services: Service | Iterable[Service]) -> dict[str, Any]:
    """A Prometheus rule file for the declared services.

    Args:
        services: one :class:`~watchkit.ops.Service` or several.

    Returns:
        ``{"groups": [...]}``: per service, the SLI recordings and burn-rate
        alerts of each SLO, the threshold alerts, a telemetry-absent alert,
        anomaly recordings and alerts, and capacity alerts.
    """
    if isinstance(services, Service):
        services = [services]
    groups: list[dict[str, Any]] = []
    for service in services:
        for slo in service.slos:
            groups.extend(_slo_groups(service, slo))
        alerts: list[dict[str, Any]] = []
        for threshold in service.thresholds:
            alerts.extend(_threshold_rules(service, threshold))
        absent_routing = service.absent_routing.over(service.routing)
        alerts.append(
            {
                "alert": "TelemetryAbsent",
                "expr": f"absent_over_time(target_info{selector(service)}"
                f"[{format_duration(service.absent_for)}])",
                # A Prometheus started with empty storage has no target_info until
                # the first scrape or push: without a `for`, every restart fires it.
                "for": format_duration(absent_hold(service)),
                "labels": _labels(service, absent_routing, service.absent_severity),
                "annotations": _annotations(
                    absent_routing,
                    f"{service.name}: no telemetry",
                    f"{service.name} has sent no telemetry for "
                    f"{format_duration(service.absent_for)}: the service, its exporter or "
                    "the collector is down.",
                ),
            }
        )
        alerts.extend(_capacity_rules(service))
        groups.append({"name": f"watchkit-{service.name}-alerts", "rules": alerts})
        recorded = _anomaly_rules(service)
        groups.append(
            {
                "name": f"watchkit-{service.name}-recordings",
                # The request-rate recordings also feed the capacity alert.
                "rules": recorded if service.anomalies else recorded[:2],
            }
        )
    return {"groups": groups}
