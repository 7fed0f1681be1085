"""SLO and performance reports for a period, read from a Prometheus.

For each declared service: each SLO's compliance and error budget spent over
the period (from the same SLI expressions the rules record, with ``increase``
over the whole period, so it is the share of good events rather than a mean of
ratios), the worst routes and dependencies, how many alerts fired, and two
kinds of chart drawn as SVG: the error budget spent as the period went by, and
the latency percentiles with the declared thresholds. Only the standard
library talks to Prometheus (its HTTP API, ``/api/v1/query`` and
``/api/v1/query_range``), so the ``ops`` extra stays small.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Final

from watchkit._exceptions import ConfigError
from watchkit.ops import _promnames as names
from watchkit.ops._model import SLO, Service, format_duration, parse_duration
from watchkit.ops._rules import _escape, selector, sli_counts
from watchkit.ops._svg import Line, Series, line_chart

__all__ = ["Report", "SLOCompliance", "report"]

_POINTS: Final = 120
_TOP: Final = 10
_QUANTILES: Final = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))

_Vector = list[tuple[dict[str, str], float]]


@dataclass(frozen=True)
class SLOCompliance:
    """How one SLO did over the report's period.

    Attributes:
        service: the service's name.
        slo: the SLO's name.
        objective: the declared good share (``0.999``).
        events: events counted over the period (requests, flows, queries).
        bad: of those, the bad ones (errors, or slower than the threshold).
    """

    __module__ = "watchkit.ops"

    service: str
    slo: str
    objective: float
    events: float
    bad: float

    @property
    def compliance(self) -> float | None:
        """The good share over the period; None when nothing was counted."""
        if self.events <= 0:
            return None
        return max(0.0, min(1.0, 1 - self.bad / self.events))

    @property
    def budget_spent(self) -> float | None:
        """The share of the error budget the period used (above 1: overspent)."""
        compliance = self.compliance
        if compliance is None:
            return None
        return (1 - compliance) / (1 - self.objective)

    @property
    def met(self) -> bool | None:
        """Whether the objective was met; None when nothing was counted."""
        compliance = self.compliance
        return None if compliance is None else compliance >= self.objective


@dataclass(frozen=True)
class Report:
    """An SLO and performance report, ready to be written as Markdown or HTML.

    Attributes:
        prometheus_url: where the numbers come from.
        start: the period's start, unix seconds.
        end: the period's end, unix seconds.
        slos: one entry per declared SLO.
        routes: per service, the worst routes: dicts with ``service``,
            ``route``, ``requests``, ``error_ratio`` and ``p95`` (seconds).
        dependencies: the worst outgoing calls: dicts with ``service``,
            ``kind`` (``http``, ``dependency`` or ``database``), ``name``,
            ``calls``, ``error_ratio`` and ``p95``.
        alerts: alerts that fired: dicts with ``service``, ``alertname``,
            ``severity``, ``fired`` (distinct alerts) and ``firing_seconds``.
        charts: SVG documents by file name.
        services: the names of the services reported on, in order.
        captions: per chart file name, (its service, its caption).
    """

    __module__ = "watchkit.ops"

    prometheus_url: str
    start: float
    end: float
    slos: tuple[SLOCompliance, ...]
    routes: tuple[dict[str, Any], ...]
    dependencies: tuple[dict[str, Any], ...]
    alerts: tuple[dict[str, Any], ...]
    charts: Mapping[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = ()
    captions: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def markdown(self, chart_prefix: str = "") -> str:
        """The report as Markdown; charts are linked as ``chart_prefix + name``."""
        return _render(self, _Markdown(chart_prefix))

    def html(self) -> str:
        """The report as one HTML document with the charts embedded."""
        return _render(self, _Html())

    def write(self, path: str | os.PathLike[str]) -> list[Path]:
        """Write the report; return the files written.

        ``.html`` / ``.htm``: one self-contained HTML file. Anything else:
        Markdown, with each chart as an SVG file beside it named after the
        report (``weekly.md`` -> ``weekly-checkout-availability-budget.svg``).
        """
        target = Path(path)
        if target.suffix.lower() in (".html", ".htm"):
            target.write_text(self.html(), encoding="utf-8")
            return [target]
        prefix = f"{target.stem}-"
        target.write_text(self.markdown(prefix), encoding="utf-8")
        written = [target]
        for name, svg in self.charts.items():
            chart = target.with_name(prefix + name)
            chart.write_text(svg, encoding="utf-8")
            written.append(chart)
        return written


class _Prometheus:
    """The two HTTP API calls a report needs, through urllib."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read()).get("error", error.reason)
            except ValueError:
                detail = error.reason
            raise OSError(
                f"Prometheus at {self.url} refused {params['query']!r}: {detail}"
            ) from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise OSError(f"Prometheus at {self.url} cannot be queried: {error}") from error
        if payload.get("status") != "success":
            raise OSError(f"Prometheus at {self.url} refused {params['query']!r}: {payload}")
        return payload["data"]["result"]

    def instant(self, query: str, at: float) -> _Vector:
        return [
            (item["metric"], float(item["value"][1]))
            for item in self._get("/api/v1/query", {"query": query, "time": f"{at:.3f}"})
        ]

    def scalar(self, query: str, at: float) -> float | None:
        found = [value for _, value in self.instant(query, at) if math.isfinite(value)]
        return sum(found) if found else None

    def range(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return [
            (item["metric"], [(float(t), float(v)) for t, v in item["values"]])
            for item in self._get("/api/v1/query_range", params)
        ]


def report(
    services: Service | Iterable[Service],
    prometheus_url: str,
    *,
    period: str = "7d",
    end: float | None = None,
    step: str | None = None,
    timeout: float = 30.0,
) -> Report:
    """Query ``prometheus_url`` for an SLO and performance report over ``period``.

    Args:
        services: the declared services (the same declarations as the rules).
        prometheus_url: the Prometheus (or compatible API) holding the metrics,
            e.g. ``"http://prometheus:9090"``.
        period: how far back from ``end`` the report looks: ``"1d"`` for a
            daily status, ``"7d"`` weekly, ``"30d"`` monthly.
        end: the period's end in unix seconds (default: now).
        step: the charts' resolution (default: the period / 120, at least a
            minute or a tenth of the period).
        timeout: seconds per Prometheus request.

    Returns:
        The :class:`Report`; :meth:`Report.write` saves it as Markdown or HTML.

    Raises:
        ConfigError: an argument is invalid (the message names it).
        OSError: Prometheus cannot be reached or refuses a query.
    """
    if isinstance(services, Service):
        services = [services]
    chosen = list(services)
    if not all(isinstance(s, Service) for s in chosen) or not chosen:
        raise ConfigError("services: pass one or more watchkit.ops.Service (ops.service(...))")
    if not isinstance(prometheus_url, str) or not re.match(r"^https?://[^/]", prometheus_url):
        raise ConfigError(
            f"prometheus_url = {prometheus_url!r} is not accepted; use an http:// or "
            "https:// URL such as 'http://prometheus:9090'"
        )
    seconds = parse_duration(period, "period")
    resolution = (
        parse_duration(step, "step")
        if step is not None
        else float(max(1, round(max(seconds / _POINTS, min(60.0, seconds / 10)))))
    )
    if not 1 <= resolution <= seconds:
        raise ConfigError(
            f"step = {step!r} is not accepted; use whole seconds or more, shorter than the period"
        )
    finish = time.time() if end is None else float(end)
    api = _Prometheus(prometheus_url, timeout)
    window = format_duration(seconds)
    collected = _Collected()
    for service in chosen:
        _collect(api, service, finish - seconds, finish, window, resolution, collected)
    return Report(
        prometheus_url=prometheus_url,
        start=finish - seconds,
        end=finish,
        slos=tuple(collected.slos),
        routes=tuple(collected.routes),
        dependencies=tuple(collected.dependencies),
        alerts=tuple(collected.alerts),
        charts=collected.charts,
        services=tuple(s.name for s in chosen),
        captions=collected.titles,
    )


@dataclass
class _Collected:
    slos: list[SLOCompliance] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)
    titles: dict[str, tuple[str, str]] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _percent(value: float) -> str:
    return f"{value * 100:g} %" if value * 100 == round(value * 100) else f"{value * 100:.1f} %"


def _seconds_label(value: float) -> str:
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def _collect(
    api: _Prometheus,
    service: Service,
    start: float,
    end: float,
    window: str,
    step: float,
    out: _Collected,
) -> None:
    for slo in service.slos:
        out.slos.append(_compliance(api, service, slo, window, end))
        name = f"{_slug(service.name)}-{_slug(slo.name)}-budget.svg"
        out.charts[name] = _budget_chart(api, service, slo, start, end, step)
        out.titles[name] = (service.name, f"Error budget spent: {slo.name}")
    name = f"{_slug(service.name)}-latency.svg"
    out.charts[name] = _latency_chart(api, service, start, end, step)
    out.titles[name] = (service.name, "Latency percentiles")
    out.routes.extend(_routes(api, service, window, end))
    out.dependencies.extend(_dependencies(api, service, window, end))
    out.alerts.extend(_alerts(api, service, window, step, end))


def _compliance(
    api: _Prometheus, service: Service, slo: SLO, window: str, end: float
) -> SLOCompliance:
    bad, total = sli_counts(service, slo, window, "increase")
    events = api.scalar(total, end) or 0.0
    failed = api.scalar(f"{bad} or vector(0)", end) or 0.0
    return SLOCompliance(service.name, slo.name, slo.objective, events, max(0.0, failed))


def _budget_chart(
    api: _Prometheus, service: Service, slo: SLO, start: float, end: float, step: float
) -> str:
    """The budget spent so far at each step: bad events to date / (budget x the period's events).

    Counted per step with non-overlapping ``increase`` windows, so the last
    point is the period's total and the line's slope is the burn rate.
    """
    bad, total = sli_counts(service, slo, format_duration(step), "increase")
    first = start + step
    bad_steps = dict(_single(api.range(f"{bad} or vector(0)", first, end, step)))
    total_steps = _single(api.range(total, first, end, step))
    all_events = sum(v for _, v in total_steps if math.isfinite(v))
    points: list[tuple[float, float | None]] = []
    spent = 0.0
    for t, _ in total_steps:
        value = bad_steps.get(t, 0.0)
        spent += max(0.0, value) if math.isfinite(value) else 0.0
        points.append((t, spent / (slo.budget * all_events) if all_events else None))
    return line_chart(
        f"{service.name} / {slo.name}: error budget spent (objective {_percent(slo.objective)})",
        [Series("budget spent", points)],
        start=start,
        end=end,
        value_format=lambda v: f"{v * 100:g} %",
        lines=[Line("whole budget", 1.0)],
    )


def _single(
    result: list[tuple[dict[str, str], list[tuple[float, float]]]],
) -> list[tuple[float, float]]:
    return result[0][1] if result else []


def _latency_chart(
    api: _Prometheus, service: Service, start: float, end: float, step: float
) -> str:
    # A rate needs several scrapes in its window whatever the chart's step.
    window = format_duration(max(step, 60.0))
    series = []
    for quantile, label in _QUANTILES:
        query = (
            f"histogram_quantile({quantile}, sum by (le) "
            f"(rate({names.HTTP_DURATION}_bucket{selector(service)}[{window}])))"
        )
        series.append(Series(label, list(_single(api.range(query, start, end, step)))))
    lines = []
    for threshold in service.thresholds:
        if threshold.kind == "latency" and threshold.route is None:
            if threshold.warning is not None:
                lines.append(Line(f"{threshold.name} warning", threshold.warning, color="#ff9900"))
            if threshold.critical is not None:
                lines.append(Line(f"{threshold.name} critical", threshold.critical))
            break
    return line_chart(
        f"{service.name}: request latency percentiles",
        series,
        start=start,
        end=end,
        value_format=_seconds_label,
        lines=lines,
    )


def _by(vector: _Vector, label: str) -> dict[str, float]:
    return {labels.get(label, ""): value for labels, value in vector}


def _worst(
    api: _Prometheus,
    metric: str,
    label: str,
    sel: str,
    bad_sel: str,
    window: str,
    end: float,
) -> list[tuple[str, float, float, float | None]]:
    """(name, count, error ratio, p95) per ``label`` value, worst first."""
    counts = _by(
        api.instant(f"sum by ({label}) (increase({metric}_count{sel}[{window}]))", end), label
    )
    errors = _by(
        api.instant(f"sum by ({label}) (increase({metric}_count{bad_sel}[{window}]))", end), label
    )
    p95 = _by(
        api.instant(
            f"histogram_quantile(0.95, sum by (le, {label}) "
            f"(rate({metric}_bucket{sel}[{window}])))",
            end,
        ),
        label,
    )
    rows = []
    for key, count in counts.items():
        if not count > 0:
            continue
        latency = p95.get(key)
        rows.append(
            (key, count, errors.get(key, 0.0) / count,
             latency if latency is not None and math.isfinite(latency) else None)
        )  # fmt: skip
    rows.sort(key=lambda row: (-row[2], -(row[3] or 0.0), row[0]))
    return rows[:_TOP]


def _routes(api: _Prometheus, service: Service, window: str, end: float) -> list[dict[str, Any]]:
    rows = _worst(
        api, names.HTTP_DURATION, names.LABEL_ROUTE, selector(service),
        selector(service, f'{names.LABEL_STATUS}=~"5.."'), window, end,
    )  # fmt: skip
    return [
        {"service": service.name, "route": route or "(no route)", "requests": count,
         "error_ratio": ratio, "p95": p95}
        for route, count, ratio, p95 in rows
    ]  # fmt: skip


def _dependencies(
    api: _Prometheus, service: Service, window: str, end: float
) -> list[dict[str, Any]]:
    error = f'{names.LABEL_ERROR_TYPE}!=""'
    kinds = (
        ("http", names.HTTP_CLIENT_DURATION, names.LABEL_SERVER_ADDRESS, error),
        ("dependency", names.DEPENDENCY_DURATION, names.LABEL_PEER_SERVICE,
         f'{names.LABEL_DEPENDENCY_OUTCOME}="error"'),
        ("database", names.DB_DURATION, names.LABEL_DB_SYSTEM, error),
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for kind, metric, label, bad in kinds:
        for name, count, ratio, p95 in _worst(
            api, metric, label, selector(service), selector(service, bad), window, end
        ):
            rows.append({"service": service.name, "kind": kind, "name": name or "(unnamed)",
                         "calls": count, "error_ratio": ratio, "p95": p95})  # fmt: skip
    rows.sort(key=lambda row: (-row["error_ratio"], -(row["p95"] or 0.0)))
    return rows[:_TOP]


def _alerts(
    api: _Prometheus, service: Service, window: str, step: float, end: float
) -> list[dict[str, Any]]:
    # ALERTS exists while an alert is pending or firing, one series per alert
    # (label set), so the series seen firing in the period are the alerts fired.
    sel = '{alertstate="firing", ' + f'{names.LABEL_SERVICE}="{_escape(service.name)}"' + "}"
    by = "alertname, severity"
    fired = api.instant(f"count by ({by}) (max_over_time(ALERTS{sel}[{window}]))", end)
    resolution = format_duration(step)
    firing = api.instant(
        f"sum by ({by}) (count_over_time(ALERTS{sel}[{window}:{resolution}])) * {step:g}", end
    )
    seconds = {(labels.get("alertname"), labels.get("severity")): v for labels, v in firing}
    rows: list[dict[str, Any]] = [
        {"service": service.name, "alertname": labels.get("alertname", ""),
         "severity": labels.get("severity", ""), "fired": int(count),
         "firing_seconds": seconds.get((labels.get("alertname"), labels.get("severity")), 0.0)}
        for labels, count in fired
    ]  # fmt: skip
    order = {"critical": 0, "warning": 1, "info": 2}
    rows.sort(key=lambda row: (order.get(row["severity"], 3), row["alertname"]))
    return rows


# ------------------------------------------------------------------ rendering


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f} %"


def _latency(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def _hours(seconds: float) -> str:
    return format_duration(max(0.0, round(seconds)))


class _Markdown:
    def __init__(self, chart_prefix: str) -> None:
        self.prefix = chart_prefix

    def heading(self, level: int, text: str) -> str:
        return f"{'#' * level} {text}\n"

    def paragraph(self, text: str) -> str:
        return f"{text}\n"

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        if not rows:
            return "None in this period.\n"
        cells = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines) + "\n"

    def chart(self, name: str, title: str, svg: str) -> str:
        return f"![{title}]({self.prefix}{name})\n"

    def document(self, title: str, blocks: list[str]) -> str:
        return "\n".join(blocks)


class _Html:
    def heading(self, level: int, text: str) -> str:
        return f"<h{level}>{escape(text)}</h{level}>"

    def paragraph(self, text: str) -> str:
        return f"<p>{escape(text)}</p>"

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        if not rows:
            return "<p>None in this period.</p>"
        head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def chart(self, name: str, title: str, svg: str) -> str:
        return f'<figure id="{escape(name)}">{svg}<figcaption>{escape(title)}</figcaption></figure>'

    def document(self, title: str, blocks: list[str]) -> str:
        style = (
            "body{font-family:sans-serif;max-width:780px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}"
            "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
            "figure{margin:1em 0}"
        )
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{style}</style></head><body>\n"
            + "\n".join(blocks)
            + "\n</body></html>\n"
        )


# (heading, column names, rows, the cells of one row)
_Table = tuple[str, list[str], Sequence[dict[str, Any]], Callable[[dict[str, Any]], list[str]]]


def _render(data: Report, out: _Markdown | _Html) -> str:
    title = "SLO and performance report"
    blocks = [
        out.heading(1, title),
        out.paragraph(
            f"Period: {_when(data.start)} to {_when(data.end)} "
            f"({format_duration(data.end - data.start)}), from {data.prometheus_url}."
        ),
    ]
    for service in data.services:
        blocks.append(out.heading(2, service))
        blocks.append(out.heading(3, "Service levels"))
        slos = [s for s in data.slos if s.service == service]
        blocks.append(
            out.table(
                ["SLO", "Objective", "Compliance", "Error budget spent", "Events", "Status"],
                [
                    [
                        s.slo,
                        _ratio(s.objective, 2),
                        _ratio(s.compliance),
                        _ratio(s.budget_spent, 1),
                        _count(s.events),
                        {True: "met", False: "missed", None: "no data"}[s.met],
                    ]
                    for s in slos
                ],
            )
        )
        for name, (owner, caption) in data.captions.items():
            if owner == service:
                blocks.append(out.chart(name, caption, data.charts[name]))
        tables: tuple[_Table, ...] = (
            ("Worst routes", ["Route", "Requests", "5xx", "p95"], data.routes,
             lambda r: [r["route"], _count(r["requests"]), _ratio(r["error_ratio"], 2),
                        _latency(r["p95"])]),
            ("Worst dependencies", ["Dependency", "Kind", "Calls", "Errors", "p95"],
             data.dependencies,
             lambda d: [d["name"], d["kind"], _count(d["calls"]), _ratio(d["error_ratio"], 2),
                        _latency(d["p95"])]),
            ("Alerts", ["Alert", "Severity", "Fired", "Firing for"], data.alerts,
             lambda a: [a["alertname"], a["severity"], str(a["fired"]),
                        _hours(a["firing_seconds"])]),
        )  # fmt: skip
        for heading, header, rows, cells in tables:
            blocks.append(out.heading(3, heading))
            blocks.append(out.table(header, [cells(r) for r in rows if r["service"] == service]))
    return out.document(title, blocks)
