"""The façade and the layering rules.

`__all__` is what users get; lower layers never import higher ones.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import watchkit
from tests.helpers import run_python

SRC = Path(watchkit.__file__).parent

# Lowest first. A module may import from its own layer or lower ones, never higher.
# `_internal.pipeline` builds exporters, so it sits with the signals, not the plumbing.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("plumbing", ("watchkit._version", "watchkit._exceptions", "watchkit._internal")),
    (
        "signals",
        (
            "watchkit._internal.pipeline",
            "watchkit._export",
            "watchkit._tracing",
            "watchkit.context",
            "watchkit._metrics",
            "watchkit.redaction",
            "watchkit.logs",
            "watchkit._events",
            "watchkit._decorators",
        ),
    ),
    # `_configure` is the composition root: it starts the audit shipper, so it sits
    # with the features it wires (integrations still import its force_flush).
    (
        "features",
        (
            "watchkit._flows",
            "watchkit._audit",
            "watchkit.security",
            "watchkit.health",
            "watchkit._configure",
        ),
    ),
    ("integrations", ("watchkit.integrations",)),
    ("entry points", ("watchkit.testing", "watchkit._cli", "watchkit.__main__")),
]
FRAMEWORKS = ("fastapi", "starlette", "flask", "django", "werkzeug", "uvicorn", "gunicorn")


def _layer(module: str) -> int:
    best, length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    return best


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_all_is_sorted_and_every_name_resolves() -> None:
    """Every name in `__all__` exists; `dir()` shows exactly `__all__`."""
    assert watchkit.__all__ == sorted(watchkit.__all__)
    for name in watchkit.__all__:
        assert getattr(watchkit, name) is not None, name
    assert sorted(dir(watchkit)) == sorted(watchkit.__all__)


def test_lazy_table_only_publishes_names_in_all() -> None:
    """The lazy loader serves nothing that `__all__` does not promise."""
    lazy = watchkit._LAZY  # type: ignore[attr-defined]
    assert set(lazy) <= set(watchkit.__all__)
    for name, module in lazy.items():
        assert module.startswith("watchkit."), name
        assert hasattr(importlib.import_module(module), name), name


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A typo gives AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="configur"):
        watchkit.configur  # type: ignore[attr-defined]  # noqa: B018


def test_every_module_has_a_layer_and_imports_only_downwards() -> None:
    """Lower layers never import higher ones; only integrations import frameworks."""
    problems = []
    for name, path in sorted(_modules().items()):
        if name == "watchkit":
            continue  # the façade re-exports every layer, lazily
        layer = _layer(name)
        if layer < 0:
            problems.append(f"{name}: no layer assigned in tests/test_public_api.py")
            continue
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in FRAMEWORKS and LAYERS[layer][0] != "integrations":
                problems.append(f"{name} imports framework {imported}")
            if top == "watchkit" and imported != "watchkit":
                target = _layer(imported)
                if target > layer:
                    problems.append(
                        f"{name} ({LAYERS[layer][0]}) imports {imported} ({LAYERS[target][0]})"
                    )
    assert not problems, "\n".join(problems)


def test_import_watchkit_loads_no_framework() -> None:
    """`import watchkit` (and touching the whole façade) imports no web framework or gRPC."""
    result = run_python(
        """
        import json, sys
        import watchkit
        for name in watchkit.__all__:
            getattr(watchkit, name)
        heavy = {"grpc", "fastapi", "starlette", "flask", "django", "werkzeug", "uvicorn"}
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
        """
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
