"""A Grafana dashboard per service (classic JSON model, pinned schemaVersion).

Classic JSON rather than the v2 schema: every Grafana since 8 imports it, and
provisioned dashboards are migrated forward from a pinned ``schemaVersion``
(an old unpinned one is never migrated, weaveworks/grafanalib#500). Queries use
``$__rate_interval`` so a rate always spans at least four scrapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from watchkit.ops import _promnames as names
from watchkit.ops._model import Service
from watchkit.ops._rules import RECORD_PREFIX

__all__ = ["SCHEMA_VERSION", "SECTIONS", "dashboard", "panel_queries"]

SCHEMA_VERSION: Final = 39
_DS: Final = {"type": "prometheus", "uid": "${datasource}"}
_SEL: Final = (
    f'{names.LABEL_SERVICE}="$service_name", '
    f'{names.LABEL_ENVIRONMENT}=~"$deployment_environment_name", instance=~"$instance"'
)
_RI: Final = "$__rate_interval"


def _sel(*extra: str) -> str:
    return "{" + ", ".join((_SEL, *extra)) + "}"


def _target(expr: str, legend: str, ref: str, *, instant: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {"datasource": _DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        target.update({"instant": True, "range": False, "format": "table"})
    return target


def _quantile(q: float, metric: str, by: str = "", *extra: str) -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{_sel(*extra)}[{_RI}])))"


def _rate(metric: str, by: str, *extra: str) -> str:
    return f"sum by ({by}) (rate({metric}{_sel(*extra)}[{_RI}]))"


def _thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for color, value in steps],
    }


def _timeseries(
    title: str,
    unit: str,
    targets: list[dict[str, Any]],
    *,
    description: str,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit}
    custom: dict[str, Any] = {}
    if thresholds is not None:
        defaults["thresholds"] = thresholds
        custom["thresholdsStyle"] = {"mode": "line"}
    defaults["custom"] = custom
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": _DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": targets,
    }


def _row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def _levels(service: Service, kind: str) -> tuple[float | None, float | None]:
    for threshold in service.thresholds:
        if threshold.kind == kind and threshold.route is None:
            return threshold.warning, threshold.critical
    return None, None


def _overview(service: Service) -> list[dict[str, Any]]:
    http = names.HTTP_DURATION
    five = f'{names.LABEL_STATUS}=~"5.."'
    lat_warn, lat_crit = _levels(service, "latency")
    err_warn, err_crit = _levels(service, "error_ratio")
    route = names.LABEL_ROUTE
    return [
        _row("Service overview"),
        _timeseries(
            "Request rate", "reqps",
            [_target(_rate(f"{http}_count", names.LABEL_SERVICE), "requests/s", "A")],
            description="HTTP requests per second (http.server.request.duration count).",
        ),
        _timeseries(
            "Error ratio", "percentunit",
            [_target(f"{_rate(f'{http}_count', names.LABEL_SERVICE, five)}\n/ "
                     f"{_rate(f'{http}_count', names.LABEL_SERVICE)}", "5xx share", "A")],
            description="Share of responses with a 5xx status; lines at the declared thresholds.",
            thresholds=_thresholds(("green", None), ("orange", err_warn), ("red", err_crit)),
        ),
        _timeseries(
            "Latency", "s",
            [_target(_quantile(q, http), f"p{int(q * 100)}", ref)
             for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))],
            description="Request duration percentiles; lines at the declared thresholds.",
            thresholds=_thresholds(("green", None), ("orange", lat_warn), ("red", lat_crit)),
        ),
        {
            "type": "table",
            "title": "Routes",
            "description": "Per route: request rate, 5xx share and p95 latency.",
            "datasource": _DS,
            "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []},
            "options": {"showHeader": True},
            "transformations": [{"id": "merge", "options": {}}],
            "targets": [
                _target(_rate(f"{http}_count", route), "", "A", instant=True),
                _target(f"{_rate(f'{http}_count', route, five)}\n/ "
                        f"{_rate(f'{http}_count', route)}", "", "B", instant=True),
                _target(_quantile(0.95, http, route), "", "C", instant=True),
            ],
        },
    ]  # fmt: skip


def _flows(service: Service) -> list[dict[str, Any]]:
    return [
        _row("Flows and business metrics"),
        _timeseries(
            "Flows", "ops",
            [_target(_rate(f"{names.FLOW_DURATION}_count",
                           f"{names.LABEL_FLOW_NAME}, {names.LABEL_FLOW_OUTCOME}"),
                     f"{{{{{names.LABEL_FLOW_NAME}}}}} {{{{{names.LABEL_FLOW_OUTCOME}}}}}", "A")],
            description="Finished flows per second by name and outcome.",
        ),
        _timeseries(
            "Flow duration p95", "s",
            [_target(_quantile(0.95, names.FLOW_DURATION, names.LABEL_FLOW_NAME),
                     f"{{{{{names.LABEL_FLOW_NAME}}}}}", "A")],
            description="95th percentile of flow durations.",
        ),
        _timeseries(
            "Business events", "ops",
            [_target(_rate(names.EVENTS, names.LABEL_EVENT_NAME),
                     f"{{{{{names.LABEL_EVENT_NAME}}}}}", "A")],
            description="Business events per second by name.",
        ),
    ]  # fmt: skip


def _legend(*labels: str) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)


def _database(service: Service) -> list[dict[str, Any]]:
    db, system = names.DB_DURATION, names.LABEL_DB_SYSTEM
    error = f'{names.LABEL_ERROR_TYPE}!=""'
    return [
        _row("Database"),
        _timeseries(
            "Database operations", "ops",
            [_target(_rate(f"{db}_count", system), _legend(system), "A"),
             _target(_rate(f"{db}_count", system, error), _legend(system) + " errors", "B")],
            description="Database operations per second, and the failed ones.",
        ),
        _timeseries(
            "Database operation p95", "s",
            [_target(_quantile(0.95, db, system), _legend(system), "A")],
            description="95th percentile of database operation durations.",
        ),
        _timeseries(
            "Connection pools", "short",
            [_target(f"sum by ({names.LABEL_DB_POOL}, {names.LABEL_DB_CONNECTION_STATE}) "
                     f"({names.DB_CONNECTIONS}{_sel()})",
                     _legend(names.LABEL_DB_POOL, names.LABEL_DB_CONNECTION_STATE), "A")],
            description="Pool connections by state (pooled clients only).",
        ),
    ]  # fmt: skip


def _cache(service: Service) -> list[dict[str, Any]]:
    ops, cache = names.CACHE_OPERATIONS, names.LABEL_CACHE_NAME
    hit = f'{names.LABEL_CACHE_RESULT}="hit"'
    looked_up = f'{names.LABEL_CACHE_RESULT}=~"hit|miss"'
    return [
        _row("Cache"),
        _timeseries(
            "Cache hit ratio", "percentunit",
            [_target(f"{_rate(ops, cache, hit)}\n/ {_rate(ops, cache, looked_up)}",
                     _legend(cache), "A")],
            description="Hits over hits and misses, per cache (watchkit.cache.operations).",
            thresholds=_thresholds(("red", None), ("orange", 0.5), ("green", 0.8)),
        ),
        _timeseries(
            "Cache operations", "ops",
            [_target(_rate(ops, f"{cache}, {names.LABEL_CACHE_OPERATION}, "
                                f"{names.LABEL_CACHE_RESULT}"),
                     _legend(cache, names.LABEL_CACHE_OPERATION, names.LABEL_CACHE_RESULT), "A")],
            description="Cache operations per second by cache, operation and result.",
        ),
        _timeseries(
            "Cache operation p95", "s",
            [_target(_quantile(0.95, names.CACHE_DURATION, cache), _legend(cache), "A")],
            description="95th percentile of cache operation durations.",
        ),
    ]  # fmt: skip


def _dependencies(service: Service) -> list[dict[str, Any]]:
    client, server = names.HTTP_CLIENT_DURATION, names.LABEL_SERVER_ADDRESS
    dep, peer = names.DEPENDENCY_DURATION, names.LABEL_PEER_SERVICE
    error = f'{names.LABEL_ERROR_TYPE}!=""'
    failed = f'{names.LABEL_DEPENDENCY_OUTCOME}="error"'
    return [
        _row("Dependencies"),
        _timeseries(
            "Outbound HTTP p95", "s",
            [_target(_quantile(0.95, client, server), _legend(server), "A")],
            description="95th percentile of outgoing HTTP requests, by server.",
        ),
        _timeseries(
            "Outbound HTTP error ratio", "percentunit",
            [_target(f"{_rate(f'{client}_count', server, error)}\n/ "
                     f"{_rate(f'{client}_count', server)}", _legend(server), "A")],
            description="Share of outgoing HTTP requests that failed (error.type set), by server.",
        ),
        _timeseries(
            "Dependency calls", "ops",
            [_target(_rate(f"{dep}_count", f"{peer}, {names.LABEL_DEPENDENCY_OUTCOME}"),
                     _legend(peer, names.LABEL_DEPENDENCY_OUTCOME), "A")],
            description="Calls through watchkit.dependency per second, by dependency and outcome.",
        ),
        _timeseries(
            "Dependency p95", "s",
            [_target(_quantile(0.95, dep, peer), _legend(peer), "A")],
            description="95th percentile duration of dependency calls.",
        ),
        _timeseries(
            "Dependency error ratio", "percentunit",
            [_target(f"{_rate(f'{dep}_count', peer, failed)}\n/ {_rate(f'{dep}_count', peer)}",
                     _legend(peer), "A")],
            description="Share of dependency calls that raised, by dependency.",
        ),
    ]  # fmt: skip


def _runtime(service: Service) -> list[dict[str, Any]]:
    cpu_warn, cpu_crit = _levels(service, "cpu")
    mem_warn, mem_crit = _levels(service, "memory")
    free = names.LABEL_FS_STATE + '="free"'
    used = names.LABEL_MEMORY_STATE + '="used"'
    return [
        _row("Runtime"),
        _timeseries(
            "CPU", "percentunit",
            [_target(f"max by (instance) ({names.CPU_UTILIZATION}{_sel()})", "{{instance}}", "A")],
            description="Process CPU utilisation.",
            thresholds=_thresholds(("green", None), ("orange", cpu_warn or 0.8),
                                   ("red", cpu_crit or 0.9)),
        ),
        _timeseries(
            "Memory", "bytes",
            [_target(f"max by (instance) ({names.MEMORY_USAGE}{_sel()})", "{{instance}}", "A")],
            description="Process memory in use.",
        ),
        _timeseries(
            "Host memory used", "percentunit",
            [_target(f"max by (instance) ({names.SYSTEM_MEMORY_UTILIZATION}{_sel(used)})",
                     "{{instance}}", "A")],
            description="Host memory in use (system.memory.utilization; runtime system=True).",
            thresholds=_thresholds(("green", None), ("orange", mem_warn or 0.8),
                                   ("red", mem_crit or 0.9)),
        ),
        _timeseries(
            "Disk free", "bytes",
            [_target(f"min by ({names.LABEL_FS_MOUNTPOINT}) ({names.FILESYSTEM_USAGE}{_sel(free)})",
                     _legend(names.LABEL_FS_MOUNTPOINT), "A")],
            description="Free space per filesystem (runtime system=True, filesystem_paths).",
        ),
    ]  # fmt: skip


def _checks(service: Service) -> list[dict[str, Any]]:
    check = names.LABEL_HEALTH_CHECK
    journey, result = names.LABEL_JOURNEY, names.LABEL_SYNTHETIC_RESULT
    # Synthetic runs come from a runner, not necessarily from a serving instance.
    synthetic = (
        "{" + f'{names.LABEL_SERVICE}="$service_name", '
        f'{names.LABEL_ENVIRONMENT}=~"$deployment_environment_name"'
    )
    failed = f'{result}="fail"'
    return [
        _row("Health and synthetic checks"),
        _timeseries(
            "Health checks", "short",
            [_target(f"min by ({check}) ({names.HEALTH_STATUS}{_sel()})", _legend(check), "A")],
            description="Worst status of each check across instances: 1 pass, 0.5 warn, 0 fail.",
            thresholds=_thresholds(("red", None), ("orange", 0.5), ("green", 1.0)),
        ),
        _timeseries(
            "Synthetic runs", "short",
            [_target(f"sum by ({journey}, {result}) "
                     f"(increase({names.SYNTHETIC_RUNS}{synthetic}}}[{_RI}]))",
                     _legend(journey, result), "A"),
             _target(f"sum by ({journey}) "
                     f"(increase({names.SYNTHETIC_RUNS}{synthetic}, {failed}}}[{_RI}]))",
                     _legend(journey) + " failed", "B")],
            description="Journey runs by result (watchkit.synthetic.runs); run the journeys "
                        "with the service's name so they show here.",
        ),
        _timeseries(
            "Synthetic duration p95", "s",
            [_target(f"histogram_quantile(0.95, sum by (le, {journey}) (rate("
                     f"{names.SYNTHETIC_DURATION}_bucket{synthetic}}}[{_RI}])))",
                     _legend(journey), "A")],
            description="95th percentile of journey durations.",
        ),
    ]  # fmt: skip


def _queues(service: Service) -> list[dict[str, Any]]:
    queue, outcome = names.LABEL_QUEUE, names.LABEL_JOB_OUTCOME
    jobs, wait = names.QUEUE_JOBS, names.QUEUE_WAIT
    backlog_warn, backlog_crit = _levels(service, "queue_backlog")
    wait_warn, wait_crit = _levels(service, "queue_wait")
    fail_warn, fail_crit = _levels(service, "job_failure_ratio")
    failed = f'{outcome}="failure"'
    return [
        _row("Queues"),
        _timeseries(
            "Queue depth", "short",
            # One process reports each depth (a lease elects it): max, not sum.
            [_target(f"max by ({queue}) ({names.QUEUE_DEPTH}{_sel()})", _legend(queue), "A")],
            description="Messages waiting per queue (watchkit.queue.depth); lines at the "
                        "declared backlog thresholds.",
            thresholds=_thresholds(("green", None), ("orange", backlog_warn),
                                   ("red", backlog_crit)),
        ),
        _timeseries(
            "Queue wait", "s",
            [_target(_quantile(q, wait, queue), _legend(queue) + f" p{int(q * 100)}", ref)
             for q, ref in ((0.5, "A"), (0.95, "B"))],
            description="Time from enqueue to the start of processing, p50 and p95 per queue "
                        "(watchkit.queue.wait.duration).",
            thresholds=_thresholds(("green", None), ("orange", wait_warn), ("red", wait_crit)),
        ),
        _timeseries(
            "Processing duration p95", "s",
            [_target(_quantile(0.95, names.MESSAGING_PROCESS_DURATION, queue),
                     _legend(queue), "A")],
            description="95th percentile of the time a job takes, per queue "
                        "(messaging.process.duration).",
        ),
        _timeseries(
            "Job outcomes", "ops",
            [_target(_rate(jobs, f"{queue}, {outcome}"), _legend(queue, outcome), "A")],
            description="Finished deliveries per second by queue and outcome: success, failure, "
                        "retry, dead_lettered, revoked (watchkit.queue.jobs).",
        ),
        _timeseries(
            "Job failure ratio", "percentunit",
            [_target(f"{_rate(jobs, queue, failed)}\n/ {_rate(jobs, queue)}",
                     _legend(queue), "A")],
            description="Share of failure outcomes among all job outcomes, per queue; lines at "
                        "the declared thresholds.",
            thresholds=_thresholds(("green", None), ("orange", fail_warn), ("red", fail_crit)),
        ),
        _timeseries(
            "Messages sent and consumed", "ops",
            [_target(_rate(names.MESSAGING_SENT, queue), _legend(queue) + " sent", "A"),
             _target(_rate(names.MESSAGING_CONSUMED, queue), _legend(queue) + " consumed", "B")],
            description="Messages per second sent to and consumed from each queue "
                        "(messaging.client.sent.messages, messaging.client.consumed.messages).",
        ),
    ]  # fmt: skip


def _user_activity(service: Service) -> list[dict[str, Any]]:
    period, feature = names.LABEL_USERS_PERIOD, names.LABEL_USERS_FEATURE
    operation = names.LABEL_STORE_OPERATION
    outcome, kind = names.LABEL_LOGIN_OUTCOME, names.LABEL_ALERT_KIND
    return [
        _row("User activity"),
        _timeseries(
            "Active users", "short",
            # With a Redis store one process reports (a lease elects it), with the
            # memory store each process counts its own users: a sum is right for both.
            [_target(f"sum by ({feature}, {period}) ({names.USERS_ACTIVE}{_sel()})",
                     _legend(feature, period), "A")],
            description="Distinct users of the current UTC hour, day or week so far, by feature "
                        "(watchkit.users.active).",
        ),
        _timeseries(
            "Logins and security alerts", "ops",
            [_target(_rate(names.SECURITY_LOGIN_ATTEMPTS, outcome), _legend(outcome), "A"),
             _target(f"sum by ({kind}) (increase({names.SECURITY_ALERTS}{_sel()}[{_RI}]))",
                     _legend(kind) + " alerts", "B")],
            description="Login attempts per second by outcome, and the alerts LoginMonitor "
                        "raised (brute force, unfamiliar login) per interval.",
        ),
        _timeseries(
            "Shared store errors", "short",
            [_target(f"sum by ({operation}) (increase({names.SECURITY_STORE_ERRORS}{_sel()}"
                     f"[{_RI}]))", _legend(operation), "A")],
            description="Operations on the shared (Redis) login or active-user store that failed "
                        "and were skipped (watchkit.security.store.errors): counts are missing "
                        "while this is above zero.",
            thresholds=_thresholds(("green", None), ("red", 1.0)),
        ),
    ]  # fmt: skip


def _slos(service: Service) -> list[dict[str, Any]]:
    if not service.slos:
        return []
    slo_sel = f'{{{names.LABEL_SERVICE}="$service_name"}}'
    return [
        _row("SLOs"),
        _timeseries(
            "Error budget remaining", "percentunit",
            [_target(f"{RECORD_PREFIX}:error_budget_remaining:ratio{slo_sel}", "{{slo}}", "A")],
            description="Share of each SLO's error budget left over its period.",
            thresholds=_thresholds(("red", None), ("orange", 0.25), ("green", 0.5)),
        ),
        _timeseries(
            "Burn rate (1h)", "short",
            [_target(f"{RECORD_PREFIX}:burn_rate:ratio_rate1h{slo_sel}", "{{slo}}", "A")],
            description="How many times faster than sustainable each budget burns.",
            thresholds=_thresholds(("green", None), ("orange", 6.0), ("red", 14.4)),
        ),
    ]  # fmt: skip


# The dashboard's rows, in order. A new family of metrics gets a function here
# returning its row and panels, its names derived in _promnames from semconv;
# the golden file and the end-to-end test then cover it.
SECTIONS: Final[list[Callable[[Service], list[dict[str, Any]]]]] = [
    _overview,
    _flows,
    _database,
    _cache,
    _dependencies,
    _queues,
    _runtime,
    _checks,
    _user_activity,
    _slos,
]


def _panels(service: Service) -> list[dict[str, Any]]:
    return _layout([panel for section in SECTIONS for panel in section(service)])


def _layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids and grid positions: rows full width, panels three to a row."""
    y, x = 0, 0
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
        if panel["type"] == "row":
            y += 0 if x == 0 else 8
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y, x = y + 1, 0
            continue
        width = 24 if panel["type"] == "table" else 8
        if x + width > 24:
            y, x = y + 8, 0
        panel["gridPos"] = {"h": 8, "w": width, "x": x, "y": y}
        x += width
        if x >= 24:
            y, x = y + 8, 0
    return panels


def _variable(name: str, label: str, query: str, *, all_value: bool) -> dict[str, Any]:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": _DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": all_value,
        "multi": False,
        **({"allValue": ".*"} if all_value else {}),
        "sort": 1,
    }


def dashboard(
    service: Service, *, traces_url: str | None = None, logs_url: str | None = None
) -> dict[str, Any]:
    """A Grafana dashboard (classic JSON model) for one declared service.

    Args:
        service: the declared service.
        traces_url: a link to its traces (e.g. a Grafana Explore URL on Tempo).
        logs_url: a link to its logs (e.g. a Grafana Explore URL on Loki).

    Returns:
        The dashboard model; ``json.dumps`` it for Grafana's import or provisioning.
    """
    links = [
        {"title": title, "type": "link", "url": url, "targetBlank": True}
        for title, url in (("Traces", traces_url), ("Logs", logs_url))
        if url
    ]
    env_default = service.environment or "All"
    return {
        "uid": "watchkit-" + re.sub(r"[^a-zA-Z0-9-]", "-", service.name)[:31],
        "title": f"{service.name} (watchkit)",
        "tags": ["watchkit", service.name],
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "links": links,
        "templating": {
            "list": [
                {
                    "type": "datasource",
                    "name": "datasource",
                    "label": "Data source",
                    "query": "prometheus",
                    "current": {},
                },
                {
                    **_variable(
                        names.LABEL_SERVICE,
                        "Service",
                        f"label_values(target_info, {names.LABEL_SERVICE})",
                        all_value=False,
                    ),
                    "current": {"text": service.name, "value": service.name},
                },
                {
                    **_variable(
                        names.LABEL_ENVIRONMENT,
                        "Environment",
                        f'label_values(target_info{{{names.LABEL_SERVICE}="$service_name"}}, '
                        f"{names.LABEL_ENVIRONMENT})",
                        all_value=True,
                    ),
                    "current": {"text": env_default, "value": service.environment or "$__all"},
                },
                _variable(
                    "instance",
                    "Instance",
                    f'label_values(target_info{{{names.LABEL_SERVICE}="$service_name"}}, instance)',
                    all_value=True,
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": _panels(service),
    }


def panel_queries(model: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, query) of every target, for checks."""
    return [
        (panel["title"], target["expr"])
        for panel in model["panels"]
        for target in panel.get("targets", [])
    ]
