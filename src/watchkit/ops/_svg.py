"""Line charts as standalone SVG, with no plotting library.

Reports are mailed and attached to reviews, so a chart must be a plain image
that any browser, mail client or ``rsvg-convert`` renders: axes, ticks, a
legend, series as polylines and horizontal reference lines (objectives,
thresholds). Nothing here knows about Prometheus.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

__all__ = ["Line", "Series", "line_chart"]

_WIDTH: Final = 720
_HEIGHT: Final = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 40, 36, 64
PALETTE: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (unix time, value); a None value breaks the line."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str = ""


@dataclass(frozen=True)
class Line:
    """A horizontal reference line (a threshold, an objective, 100 % of a budget)."""

    label: str
    value: float
    color: str = "#d62728"


@dataclass(frozen=True)
class _Frame:
    t0: float
    t1: float
    y0: float
    y1: float

    def x(self, t: float) -> float:
        span = (self.t1 - self.t0) or 1.0
        return _LEFT + (t - self.t0) / span * (_WIDTH - _LEFT - _RIGHT)

    def y(self, v: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return _HEIGHT - _BOTTOM - (v - self.y0) / span * (_HEIGHT - _TOP - _BOTTOM)


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    if raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return 10 * magnitude


def _time_label(t: float, span: float) -> str:
    moment = time.gmtime(t)
    if span > 2 * 86400:
        return time.strftime("%m-%d %H:%M", moment)
    if span > 600:
        return time.strftime("%H:%M", moment)
    return time.strftime("%H:%M:%S", moment)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    start: float,
    end: float,
    value_format: Callable[[float], str],
    lines: Sequence[Line] = (),
    y_min: float | None = 0.0,
) -> str:
    """An SVG document of ``series`` between ``start`` and ``end`` (unix seconds, UTC)."""
    values = [v for s in series for _, v in s.points if v is not None and math.isfinite(v)]
    values += [line.value for line in lines]
    low = min(values, default=0.0) if y_min is None else min(y_min, *values, y_min)
    high = max(values, default=1.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    step = _nice_step(high - low, 5)
    low = math.floor(low / step) * step
    high = math.ceil(high * 1.05 / step) * step
    frame = _Frame(start, end, low, high)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff"/>',
        f'<text x="{_WIDTH / 2}" y="20" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{escape(title)}</text>',
    ]
    tick = low
    while tick <= high + step / 1000:
        y = frame.y(tick)
        out.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e5e5e5"/>'
        )
        out.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(value_format(tick))}</text>"
        )
        tick += step
    span = end - start
    for index in range(6):
        t = start + span * index / 5
        x = frame.x(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_HEIGHT - _BOTTOM}" '
            f'y2="{_HEIGHT - _BOTTOM + 4}" stroke="#333333"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 16}" text-anchor="middle">'
            f"{escape(_time_label(t, span))}</text>"
        )
    out.append(
        f'<polyline points="{_LEFT},{_TOP} {_LEFT},{_HEIGHT - _BOTTOM} '
        f'{_WIDTH - _RIGHT},{_HEIGHT - _BOTTOM}" fill="none" stroke="#333333"/>'
    )
    legend: list[tuple[str, str, bool]] = []
    for line in lines:
        y = frame.y(line.value)
        out.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{line.color}" stroke-dasharray="6,4" stroke-width="1.5"/>'
        )
        legend.append((line.label, line.color, True))
    for index, one in enumerate(series):
        color = one.color or PALETTE[index % len(PALETTE)]
        legend.append((one.label, color, False))
        for run in _runs(one.points):
            if len(run) == 1:
                x, y = frame.x(run[0][0]), frame.y(run[0][1])
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
                continue
            points = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in run)
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
    x = float(_LEFT)
    for label, color, dashed in legend:
        y = _HEIGHT - 18
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        out.append(
            f'<line x1="{x:.1f}" x2="{x + 18:.1f}" y1="{y - 4}" y2="{y - 4}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{x + 22:.1f}" y="{y}">{escape(label)}</text>')
        x += 34 + 6.5 * len(label)
    if not any(_runs(s.points) for s in series):
        out.append(
            f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle" fill="#777777">'
            "no data in this period</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Consecutive defined points: a gap in the data is a gap in the line."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for t, v in points:
        if v is None or not math.isfinite(v):
            if current:
                runs.append(current)
            current = []
        else:
            current.append((t, v))
    if current:
        runs.append(current)
    return runs
