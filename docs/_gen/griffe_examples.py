"""Griffe extension: read a Google-style ``Example:`` section as ``Examples:``.

watchkit's docstrings head their doctests ``Example:``; Griffe only parses
``Examples:`` as doctest code and renders ``Example:`` as Markdown, where
``>>>`` would start a block quote. Loaded by mkdocstrings (see mkdocs.yml).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


class ExamplesSection(griffe.Extension):
    """Rename ``Example:`` section headers to ``Examples:`` before parsing."""

    def on_instance(
        self,
        *,
        node: ast.AST | griffe.ObjectNode,
        obj: griffe.Object,
        agent: griffe.Visitor | griffe.Inspector,
        **kwargs: Any,
    ) -> None:
        """Rewrite the docstring of every object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
