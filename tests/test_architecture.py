"""The layers of docs/architecture.md: every module has one, and imports only downwards.

Imports are read from the source (including imports inside functions and under
``TYPE_CHECKING``: a lazy import is still a dependency), so the rule holds for code
paths no test happens to run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import watchkit
from tests.helpers import run_python

SRC = Path(watchkit.__file__).parent

# Lowest first. A module may import its own layer and the ones below, never one above.
# An entry names a module or a package (with everything under it); every module under
# src/ must match exactly one entry, so a new module has to be placed here.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("plumbing", ("watchkit._internal", "watchkit._version", "watchkit._exceptions")),
    (
        "signals",
        (
            "watchkit._tracing",
            "watchkit._metrics",
            "watchkit.logs",
            "watchkit._export",
            # Every signal redacts what it records, so redaction sits beside them.
            "watchkit.redaction",
            "watchkit.context",
        ),
    ),
    (
        "features",
        (
            "watchkit._flows",
            "watchkit._events",
            "watchkit._audit",
            "watchkit._security",
            "watchkit.health",
            "watchkit._db",
            "watchkit.ops",
            "watchkit.synthetic",
            "watchkit._runtime",
            "watchkit._outgoing",
            "watchkit._dependency",
            "watchkit._cache",
            "watchkit._queue",
        ),
    ),
    ("integrations", ("watchkit.integrations",)),
    (
        "entry points",
        (
            "watchkit",
            "watchkit._configure",
            # The composition root: exporter choice, providers, the OpenTelemetry globals.
            "watchkit._compose",
            "watchkit._cli",
            "watchkit.__main__",
            "watchkit.testing",
            # Public dependency modules: façades over a feature and its integrations.
            "watchkit.db",
            "watchkit.runtime",
            "watchkit.http_client",
            "watchkit.cache",
            # Login monitor and active users over the in-memory or the Redis stores.
            "watchkit.security",
            "watchkit.queue",
        ),
    ),
]
# Only the integrations layer may import these (and only lazily, when used).
FRAMEWORKS = frozenset(
    {"django", "fastapi", "flask", "gunicorn", "hypercorn", "starlette", "uvicorn", "werkzeug"}
    # Database, cache and HTTP client libraries of the dependency modules.
    | {"psutil", "psycopg", "psycopg_pool", "redis", "requests", "sqlalchemy"}
    # Task queues.
    | {"billiard", "celery", "kombu"}
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _entries(module: str) -> list[tuple[int, str]]:
    """The (layer, entry) pairs that claim ``module``."""
    return [
        (index, entry)
        for index, (_, entries) in enumerate(LAYERS)
        for entry in entries
        # The façade entry ("watchkit") names the package's own module only.
        if module == entry or (entry != "watchkit" and module.startswith(entry + "."))
    ]


def _layer(module: str) -> int:
    claims = _entries(module)
    return claims[0][0] if len(claims) == 1 else -1


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _target(imported: str, modules: dict[str, Path]) -> str:
    """The module an import names: ``from watchkit.logs import x`` -> ``watchkit.logs``."""
    while imported not in modules and "." in imported:
        imported = imported.rsplit(".", 1)[0]
    return imported


def test_every_module_belongs_to_exactly_one_layer() -> None:
    """A module matched by no entry, or by two, is a placement decision nobody made."""
    problems = []
    for name in sorted(_modules()):
        claims = _entries(name)
        if len(claims) != 1:
            where = [entry for _, entry in claims] or "no entry"
            problems.append(f"{name}: {where} (place it in LAYERS, tests/test_architecture.py)")
    assert not problems, "\n".join(problems)


def test_every_layer_entry_exists() -> None:
    """The table names only modules and packages that exist."""
    modules = _modules()
    stale = [
        entry
        for _, entries in LAYERS
        for entry in entries
        if entry not in modules and not any(m.startswith(entry + ".") for m in modules)
    ]
    assert not stale, stale


def _upward_imports() -> tuple[set[tuple[str, str]], list[str]]:
    modules = _modules()
    upward: set[tuple[str, str]] = set()
    frameworks = []
    for name, path in sorted(modules.items()):
        layer = _layer(name)
        if layer < 0:
            continue  # unplaced: test_every_module_belongs_to_exactly_one_layer says so
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in FRAMEWORKS and LAYERS[layer][0] != "integrations":
                frameworks.append(f"{name} imports framework {imported}")
            if top == "watchkit":
                target = _target(imported, modules)
                if _layer(target) > layer or _layer(target) < 0:
                    upward.add((name, target))
    return upward, frameworks


def test_lower_layers_never_import_higher_ones() -> None:
    """Plumbing < signals < features < integrations < entry points; frameworks in integrations."""
    upward, frameworks = _upward_imports()
    problems = [
        f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
        for name, target in sorted(upward)
    ]
    assert not problems + frameworks, "\n".join(problems + frameworks)


def test_import_watchkit_imports_no_framework() -> None:
    """The façade (every name touched) and the integration modules load no framework or gRPC."""
    result = run_python(
        """
        import json, sys
        import watchkit
        for name in watchkit.__all__:
            getattr(watchkit, name)
        import watchkit.integrations, watchkit.integrations.asgi, watchkit.integrations.wsgi
        heavy = {"grpc", "requests", "django", "fastapi", "flask", "gunicorn", "hypercorn",
                 "starlette", "uvicorn", "werkzeug"}
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
        """
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
