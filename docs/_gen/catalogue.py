"""Generate docs/reference/metrics.md: every metric watchkit emits.

Run ``make catalogue`` (or ``python docs/_gen/catalogue.py``) after adding or
changing an instrument; ``--check`` exits 1 when the committed page is stale
(tests/test_docs.py runs it).

Two sources, cross-checked:

- the instruments themselves: every watchkit module is imported and every
  instrument it defined is read back (name, kind, unit, description, bucket
  boundaries), so nothing emitted is left out;
- ``watchkit._internal.semconv``: the constant that names each metric and its
  attribute docstring, ``<Kind>, unit ``u``: ... by ``attr`` and ``attr``.``.
  The backticked attribute keys become the attributes column; a metric only
  defined when used (Redis server statistics) comes from its docstring alone.
  A docstring whose kind or unit contradicts the instrument is an error.

Prometheus names come from ``watchkit.ops._promnames``, the translation the
generated alert rules use.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEMCONV = ROOT / "src" / "watchkit" / "_internal" / "semconv.py"
PAGE = ROOT / "docs" / "reference" / "metrics.md"

_DOC = re.compile(r"^(?P<kind>[A-Z][a-z -]+), unit ``(?P<unit>[^`]*)``:(?P<rest>.*)$", re.S)
_TICKED = re.compile(r"``([^`]+)``")
_COUNTERS = frozenset({"counter", "observable counter"})
# Class name -> the OpenTelemetry instrument kind, as the catalogue names it.
_KINDS = {
    "Counter": "counter",
    "UpDownCounter": "up-down counter",
    "Histogram": "histogram",
    "Gauge": "gauge",
    "ObservableGauge": "observable gauge",
    "ObservableCounter": "observable counter",
    "ObservableUpDownCounter": "observable up-down counter",
    "InFlight": "observable up-down counter",
}


@dataclass
class Constant:
    """One string constant of the semconv module."""

    name: str
    value: str
    doc: str | None


@dataclass
class Metric:
    """One row of the catalogue."""

    name: str
    kind: str
    unit: str
    description: str
    constant: str | None = None
    buckets: tuple[float, ...] | None = None
    attributes: list[str] = field(default_factory=list)


def semconv_constants() -> list[Constant]:
    """The module's top-level string constants, in source order, with their docstrings."""
    tree = ast.parse(SEMCONV.read_text(encoding="utf-8"))
    values: dict[str, str] = {}
    found: list[Constant] = []
    body = tree.body
    for index, node in enumerate(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        else:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            text = value.value
        elif isinstance(value, ast.Name) and value.id in values:
            text = values[value.id]
        else:
            continue
        values[target] = text
        doc = None
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = " ".join(following.value.value.split())
        found.append(Constant(target, text, doc))
    return found


def emitted() -> dict[str, Any]:
    """Every instrument watchkit defines, by name, after importing all of watchkit."""
    sys.path.insert(0, str(ROOT / "src"))
    import watchkit
    from watchkit import _metrics, _runtime

    for module in pkgutil.walk_packages(watchkit.__path__, "watchkit."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    _runtime._define()  # the runtime instruments are defined on first use
    instruments: list[Any] = [*_metrics._instruments, *_metrics._in_flight]
    return {instrument.name: instrument for instrument in instruments}


def _family(kind: str) -> str:
    if kind in _COUNTERS:
        return "counter"
    return "histogram" if kind == "histogram" else "gauge"


def prometheus_name(metric: Metric) -> str:
    """The series name Prometheus shows for ``metric`` (histograms: the prefix)."""
    from watchkit.ops import _promnames

    family = _family(metric.kind)
    if family == "counter":
        return _promnames.counter(metric.name, metric.unit)
    if family == "histogram":
        return _promnames.histogram(metric.name, metric.unit)
    return _promnames.gauge(metric.name, metric.unit)


def catalogue() -> list[Metric]:
    """The catalogue rows, sorted by metric name; raises SystemExit on a contradiction."""
    constants = semconv_constants()
    known_values = {c.value for c in constants}
    instruments = emitted()
    metrics: dict[str, Metric] = {}
    for name, instrument in instruments.items():
        metrics[name] = Metric(
            name=name,
            kind=_KINDS.get(type(instrument).__name__, instrument.kind),
            unit=instrument.unit,
            description=instrument.description,
            buckets=getattr(instrument, "buckets", None),
        )
    problems: list[str] = []
    for constant in constants:
        parsed = _DOC.match(constant.doc or "")
        metric = metrics.get(constant.value)
        if parsed is None:
            if metric is not None and metric.constant is None:
                metric.constant = constant.name
            continue
        kind, unit = parsed["kind"].lower(), parsed["unit"]
        if metric is None:
            description = re.split(r",? by ``", parsed["rest"])[0].strip().rstrip(".")
            description = description.replace("``", "`")
            if description:
                description = description[:1].upper() + description[1:] + "."
            metric = metrics[constant.value] = Metric(constant.value, kind, unit, description)
        elif metric.constant is not None:
            continue  # an alias of a constant already read
        elif _family(kind) != _family(metric.kind) or unit != metric.unit:
            problems.append(
                f"semconv.{constant.name} says {kind!r} with unit {unit!r}; the instrument "
                f"is a {metric.kind} with unit {metric.unit!r}: correct the docstring"
            )
        metric.constant = constant.name
        reserved = {constant.value, unit}
        metric.attributes = [
            key
            for key in dict.fromkeys(_TICKED.findall(parsed["rest"]))
            if key in known_values and key not in reserved and key not in metrics
        ]
    for metric in metrics.values():
        if metric.constant is None:
            problems.append(
                f"metric {metric.name!r} is emitted but named by no constant of "
                "watchkit._internal.semconv: define it there"
            )
    if problems:
        raise SystemExit("metric catalogue:\n  " + "\n  ".join(problems))
    return sorted(metrics.values(), key=lambda m: m.name)


def _number(value: float) -> str:
    return f"{value:g}"


def render() -> str:
    """The Markdown page."""
    from watchkit._internal.semconv import DEFAULT_DURATION_BUCKETS
    from watchkit.ops import _promnames

    rows = catalogue()
    lines = [
        "# Metric catalogue",
        "",
        "<!-- Generated by docs/_gen/catalogue.py from the instruments and",
        "     src/watchkit/_internal/semconv.py: run `make catalogue`, do not edit. -->",
        "",
        "Every metric watchkit emits, as OpenTelemetry names it and as Prometheus shows it",
        "after the OpenTelemetry-to-Prometheus translation (the one the generated alert rules",
        "use: dots become underscores, the unit becomes a suffix, counters end in `_total`, a",
        "histogram is the `_bucket`, `_sum` and `_count` series of its name). Attribute keys",
        "become labels the same way: `http.route` is `http_route`. Metrics you define with",
        "`watchkit.counter()` and friends are translated by the same rules.",
        "",
        "Attributes are those the semantic-convention module documents for the metric; a",
        "metric without any there is listed with none. Names come from the OpenTelemetry",
        "semantic conventions where one exists, and from watchkit's own `watchkit.*`",
        "namespace otherwise.",
        "",
        "| Metric | Instrument | Unit | Prometheus | Attributes | Description |",
        "|---|---|---|---|---|---|",
    ]
    for metric in rows:
        prom = f"`{prometheus_name(metric)}`"
        if metric.kind == "histogram":
            prom += " (`_bucket`, `_sum`, `_count`)"
        attributes = ", ".join(f"`{a}`" for a in metric.attributes) or "-"
        unit = f"`{metric.unit}`" if metric.unit else "-"
        lines.append(
            f"| `{metric.name}` | {metric.kind} | {unit} | {prom} | {attributes} | "
            f"{metric.description or '-'} |"
        )
    lines += [
        "",
        "## Histogram buckets",
        "",
        "Bucket boundaries are advisory: a view in your own pipeline can override them.",
        "Histograms in seconds without buckets of their own use the default duration",
        "buckets, which `configure(duration_buckets=...)` (`WATCHKIT_DURATION_BUCKETS`)",
        "replaces; other histograms without buckets of their own use the OpenTelemetry SDK's",
        "defaults.",
        "",
        "| Metric | Buckets |",
        "|---|---|",
    ]
    for metric in rows:
        if metric.kind != "histogram":
            continue
        if metric.buckets is not None:
            text = ", ".join(_number(b) for b in metric.buckets)
        elif metric.unit == "s":
            text = "default duration buckets: " + ", ".join(
                _number(b) for b in DEFAULT_DURATION_BUCKETS
            )
        else:
            text = "the SDK's defaults"
        lines.append(f"| `{metric.name}` | {text} |")
    lines += [
        "",
        "## Labels",
        "",
        "| Attribute | Prometheus label |",
        "|---|---|",
    ]
    keys = sorted({key for metric in rows for key in metric.attributes})
    lines += [f"| `{key}` | `{_promnames.label(key)}` |" for key in keys]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` report whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if args.check:
        if current != text:
            print(
                f"{PAGE.relative_to(ROOT)} is stale: run `make catalogue` and commit the result",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
        print(f"wrote {PAGE.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
