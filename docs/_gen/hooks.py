"""MkDocs hooks for the watchkit site (configured under ``hooks:`` in mkdocs.yml)."""

from __future__ import annotations

import re
from typing import Any

# tests/test_docs.py runs the blocks fenced as ```python exec; on the site they
# are ordinary Python blocks (Markdown has no fence info string with two words).
_EXEC_FENCE = re.compile(r"^(\s*```python) exec[ \t]*$", re.M)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Render ```python exec blocks as ```python."""
    return _EXEC_FENCE.sub(r"\1", markdown)
