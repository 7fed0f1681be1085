"""ops.report: argument errors, an unreachable Prometheus, and the SVG charts it draws.

The report against a real Prometheus is in test_e2e_prometheus.py.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from watchkit import ConfigError, ops
from watchkit._cli import main
from watchkit.ops._svg import Line, Series, line_chart

DECL = "services:\n  - name: checkout\n    slos:\n      - {name: availability, objective: 0.999}\n"


def _service() -> ops.Service:
    return ops.service("checkout", slos=[ops.slo("availability", objective=0.999)])


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prometheus_url": "prometheus:9090"}, r"prometheus_url = 'prometheus:9090'.*http://"),
        ({"period": "a week"}, r"period = 'a week' is not accepted"),
        ({"period": "1h", "step": "2h"}, r"step = '2h'.*shorter than the period"),
        ({"period": "1h", "step": "500ms"}, r"step = '500ms'.*whole seconds"),
    ],
)
def test_bad_arguments_name_the_parameter(arguments: dict[str, str], message: str) -> None:
    """ConfigError before any request, naming the parameter and what is accepted."""
    values = {"prometheus_url": _closed_url(), **arguments}
    url = values.pop("prometheus_url")
    with pytest.raises(ConfigError, match=message):
        ops.report(_service(), url, **values)
    with pytest.raises(ConfigError, match="services"):
        ops.report([], url)


def test_unreachable_prometheus_is_an_oserror_naming_it() -> None:
    """A refused connection names the URL; nothing is written."""
    url = _closed_url()
    with pytest.raises(OSError, match=f"Prometheus at {url} cannot be queried"):
        ops.report(_service(), url, period="1d", timeout=5)


def test_cli_report_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """2 for a bad argument, 1 when Prometheus cannot be queried; one line on stderr."""
    source = tmp_path / "ops.yaml"
    source.write_text(DECL)
    out = tmp_path / "report.md"
    common = ["report", "--from", str(source), "-o", str(out)]
    assert main([*common, "--prometheus", _closed_url(), "--period", "1 day"]) == 2
    assert "period = '1 day'" in capsys.readouterr().err
    assert main([*common, "--prometheus", _closed_url(), "--service", "nope"]) == 2
    assert "use one of: checkout" in capsys.readouterr().err
    assert main([*common, "--prometheus", _closed_url()]) == 1
    assert "cannot be queried" in capsys.readouterr().err
    assert not out.exists()


def test_line_chart_is_well_formed_svg_with_axes_lines_and_legend() -> None:
    """Series become polylines (a gap splits one), reference lines are dashed, text is escaped."""
    points = [(0.0, 0.1), (60.0, 0.2), (120.0, None), (180.0, 0.4), (240.0, 0.5)]
    svg = line_chart(
        "p95 <checkout>", [Series("p95", points)], start=0, end=240,
        value_format=lambda v: f"{v * 1000:g} ms", lines=[Line("critical", 0.3)],
    )  # fmt: skip
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert root.find(f"{ns}title").text == "p95 <checkout>"  # type: ignore[union-attr]
    polylines = root.findall(f"{ns}polyline")
    assert len(polylines) == 3  # the axes, and the series in two runs around the gap
    dashed = [e for e in root.findall(f"{ns}line") if e.get("stroke-dasharray")]
    assert len(dashed) == 2  # the reference line and its legend sample
    texts = [e.text for e in root.findall(f"{ns}text")]
    assert "300 ms" in texts and "critical" in texts and "00:04:00" in texts


def test_line_chart_without_data_says_so() -> None:
    """An empty period is a readable chart, not an empty image."""
    svg = line_chart("nothing", [Series("p95", [])], start=0, end=3600, value_format=str)
    ElementTree.fromstring(svg)
    assert "no data in this period" in svg
