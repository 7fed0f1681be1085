"""Docs stay true: the configuration reference lists every option; runnable snippets run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_python
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
