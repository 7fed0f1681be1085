"""Docs stay true: references list every option, metric, module and command; snippets run."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

import pytest

from tests.helpers import clean_environ, run_python
from tests.test_public_api import PUBLIC_MODULES
from watchkit import _cli
from watchkit._internal.settings import OPTIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"
# Blocks fenced as ```python exec are executed; plain ```python blocks are illustrations.
_EXEC = re.compile(r"```python exec\n(.*?)```", re.S)


def test_configuration_reference_lists_every_parameter_and_variable() -> None:
    """docs/configuration.md names every configure() parameter and environment variable."""
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"`{option.parameter}`" in page, option.parameter
        for env in option.env:
            assert f"`{env}`" in page, env


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for index, match in enumerate(_EXEC.finditer(page.read_text(encoding="utf-8"))):
            found.append((str(page.relative_to(DOCS)), index, match.group(1)))
    return found


@pytest.mark.parametrize(("page", "index", "code"), _blocks(), ids=lambda v: str(v)[:40])
def test_executable_snippets_run(page: str, index: int, code: str) -> None:
    """Every ```python exec block in docs/ runs without error in a fresh interpreter."""
    run_python(code, env={"WATCHKIT_EXPORTER": "none"}, timeout=60)


ROOT = DOCS.parent
API_PAGES = DOCS / "reference" / "api"
_DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.M)


def _generator_check(script: str) -> None:
    """Run a docs/_gen generator with ``--check``: it exits 1 when its committed output is stale."""
    result = subprocess.run(
        [sys.executable, str(DOCS / "_gen" / script), "--check"],
        cwd=ROOT,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr or result.stdout


def test_metric_catalogue_matches_the_instruments() -> None:
    """docs/reference/metrics.md is what docs/_gen/catalogue.py generates now (`make catalogue`)."""
    _generator_check("catalogue.py")


def test_metric_catalogue_lists_the_core_metrics() -> None:
    """The committed catalogue has HTTP, database and event metrics with Prometheus names."""
    page = (DOCS / "reference" / "metrics.md").read_text(encoding="utf-8")
    for row in (
        "| `http.server.request.duration` | histogram | `s` | "
        "`http_server_request_duration_seconds` (`_bucket`, `_sum`, `_count`) |",
        "| `watchkit.events` | counter | `{event}` | `watchkit_events_total` | `event.name` |",
        "| `db.client.operation.duration` | 0.001, 0.005, 0.01, 0.05, 0.1, 0.3,",
    ):
        assert row in page, row


def test_every_public_module_has_an_api_reference() -> None:
    """Each public module is rendered by a `::: module` directive under docs/reference/api/."""
    rendered = {
        name
        for page in API_PAGES.glob("*.md")
        for name in _DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    }
    missing = sorted(set(PUBLIC_MODULES) - rendered)
    assert not missing, (
        f"public modules without an API reference: {missing}; add `::: <module>` to a page "
        "under docs/reference/api/ (and the page to mkdocs.yml's nav)"
    )


def test_cli_reference_names_every_command() -> None:
    """docs/reference/cli.md documents every `python -m watchkit` subcommand."""
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    parser = _cli._parser()
    commands = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    assert commands
    for name in commands[0].choices:
        assert f"`python -m watchkit {name}" in page, name


def test_metric_catalogue_rejects_a_docstring_that_contradicts_the_instrument(
    tmp_path: Path,
) -> None:
    """A semconv docstring whose kind or unit disagrees with the instrument stops the generator."""
    semconv = (ROOT / "src" / "watchkit" / "_internal" / "semconv.py").read_text(encoding="utf-8")
    line = 'DB_CLIENT_CONNECTION_TIMEOUTS: Final = "db.client.connection.timeouts"\n'
    assert line in semconv
    wrong = tmp_path / "semconv.py"
    wrong.write_text(
        semconv.replace(line, line + '"""Histogram, unit ``ms``: by nothing."""\n'),
        encoding="utf-8",
    )
    result = run_python(
        f"""
        import importlib.util, pathlib, sys
        spec = importlib.util.spec_from_file_location(
            "catalogue", {str(DOCS / "_gen" / "catalogue.py")!r}
        )
        catalogue = sys.modules["catalogue"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(catalogue)
        catalogue.SEMCONV = pathlib.Path({str(wrong)!r})
        catalogue.catalogue()
        """,
        check=False,
    )
    assert result.returncode == 1
    assert "semconv.DB_CLIENT_CONNECTION_TIMEOUTS says 'histogram' with unit 'ms'" in result.stderr
    assert "the instrument is a counter with unit '{timeout}'" in result.stderr


PERFORMANCE = DOCS / "performance"
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def _benchcharts(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchcharts", DOCS / "_gen" / "benchcharts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchcharts", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_performance_charts_match_the_committed_results() -> None:
    """Every chart and the chart section of performance.md are what results.json gives now."""
    _generator_check("benchcharts.py")


def test_every_chart_the_performance_page_shows_exists_and_is_svg() -> None:
    """Each image performance.md embeds is a committed, well-formed SVG with a title."""
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    images = _IMAGE.findall(page)
    assert "performance/budgets.svg" in images
    suites = {
        row["suite"] for row in json.loads((PERFORMANCE / "results.json").read_text())["rows"]
    }
    assert len(images) == len(suites) + 1
    for image in images:
        path = DOCS / image
        assert path.is_file(), f"performance.md shows {image}, which does not exist"
        root = ElementTree.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", image
        assert root.find("{http://www.w3.org/2000/svg}title") is not None, image


def test_performance_charts_draw_budgets_and_find_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missed budget is drawn red, a met one green; --check names a stale or orphan chart."""
    charts = _benchcharts(monkeypatch)
    row = {
        "module": "demo",
        "suite": "Demo suite",
        "python": "3.11.7",
        "date": "2026-01-02",
        "quick": False,
    }
    rows = [
        {**row, "case": "bare", "median_s": 2e-6, "ratio": 1.0, "budgets": []},
        {
            **row,
            "case": "fast",
            "median_s": 3e-6,
            "ratio": 1.5,
            "budgets": [
                {"reference": "bare", "overhead_of": None, "limit": 2.0, "ratio": 1.5, "met": True}
            ],
        },
        {
            **row,
            "case": "slow",
            "median_s": 9e-6,
            "ratio": 4.5,
            "budgets": [
                {"reference": "bare", "overhead_of": None, "limit": 2.0, "ratio": 4.5, "met": False}
            ],
        },
    ]
    document = {
        "run": {"python": "3.11.7", "machine": "x86_64", "cpus": 2, "load_average": 0.1},
        "rows": rows,
    }
    (tmp_path / "results.json").write_text(json.dumps(document), encoding="utf-8")
    page = tmp_path / "performance.md"
    page.write_text(f"# Performance\n\n{charts.BEGIN}\n{charts.END}\n\n## Tables\n", "utf-8")
    monkeypatch.setattr(charts, "CHARTS", tmp_path)
    monkeypatch.setattr(charts, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(charts, "PAGE", page)
    monkeypatch.setattr(charts, "ROOT", tmp_path)
    assert charts.main(["--check"]) == 1
    assert charts.main([]) == 0
    assert charts.main(["--check"]) == 0
    suite = (tmp_path / "demo-suite.svg").read_text(encoding="utf-8")
    assert "3.00 µs (1.50x)" in suite
    assert "1.50x (limit 2.00x, met)" in suite
    assert "4.50x (limit 2.00x, missed)" in suite
    assert suite.count('height="12" fill="#d62728"') == 1  # the missed budget's bar
    assert suite.count('height="12" fill="#2ca02c"') == 1  # the met one
    overview = (tmp_path / "budgets.svg").read_text(encoding="utf-8")
    assert "225 % (4.50x (limit 2.00x, missed))" in overview
    text = page.read_text(encoding="utf-8")
    assert "a full run on 2026-01-02 (Python 3.11.7) on x86_64 with 2 CPUs" in text
    assert "(load average 0.1 when the last run started)" in text
    assert "![Demo suite](performance/demo-suite.svg)" in text
    assert text.endswith("## Tables\n")

    (tmp_path / "old-suite.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "demo-suite.svg").write_text(suite.replace("4.50x", "1.00x"), encoding="utf-8")
    assert charts.main(["--check"]) == 1
    assert charts.main([]) == 0
    assert not (tmp_path / "old-suite.svg").exists()
    assert (tmp_path / "demo-suite.svg").read_text(encoding="utf-8") == suite
