"""Griffe extension: the reStructuredText habits of watchkit's docstrings, as Markdown.

mkdocstrings renders docstrings as Markdown with Google-style sections; the
docstrings also read well in ``help()`` and carry a few reStructuredText forms,
rewritten here before they are parsed (loaded by mkdocstrings, see mkdocs.yml):

- ``Example:`` heads the doctests; Griffe only parses ``Examples:`` as doctest
  code and renders ``Example:`` as Markdown, where ``>>>`` starts a block quote;
- Sphinx roles (``:func:`counter```) become code spans;
- a paragraph ending in ``::`` introduces an indented literal block, which
  Markdown already reads as code: the colon is kept single, a lone ``::`` dropped.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)
_ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|exc|obj|const):`~?([^`]+)`")
_LONE_LITERAL = re.compile(r"^[ \t]*::[ \t]*\n", re.M)
_LITERAL = re.compile(r"::[ \t]*$", re.M)


def markdown(text: str) -> str:
    """``text`` with the forms above rewritten."""
    text = _EXAMPLE.sub(r"\1Examples:", text)
    text = _ROLE.sub(r"`\1`", text)
    text = _LONE_LITERAL.sub("", text)
    return _LITERAL.sub(":", text)


class DocstringMarkdown(griffe.Extension):
    """Rewrite each docstring before Griffe parses it."""

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
            obj.docstring.value = markdown(obj.docstring.value)
