"""The public surface: every public namespace has a sorted `__all__` that matches reality.

A module is public when no part of its dotted path starts with ``_``; new modules are
covered automatically. Everything else is an implementation detail.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import watchkit

SRC = Path(watchkit.__file__).parent

# Names the issue tracker found leaking once; they must never come back into a public `__all__`.
KNOWN_PRIVATE = frozenset(
    {"TRACER", "attributes_key", "current_redactor", "error_type", "record_error", "report"}
)
# The hooks `_internal.wrapping.instrument` calls: plumbing, not API of a public class.
WRAPPER_HOOKS = frozenset({"begin", "end", "pause", "resume"})
# Shared between the WSGI adapter and the Flask/Django ones; to be `_`-prefixed once the
# HTTP request module split (which rewrites these files) has landed. Nothing else may go here.
PENDING_RENAMES: dict[str, frozenset[str]] = {
    # Used by logs and audit; becomes private with the per-pipeline redactor rework.
    "watchkit.redaction": frozenset({"current_redactor"}),
    "watchkit.integrations.starlette": frozenset({"instrument_app"}),
    "watchkit.integrations.wsgi": frozenset(
        {"ENVIRON_GETTER", "ENVIRON_KEY", "environ_name", "response_started", "start_from_environ"}
    ),
}


def _public_modules() -> list[str]:
    names = []
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names)


PUBLIC_MODULES = _public_modules()


def _defined_names(module: ModuleType) -> set[str]:
    """Names a module's own source defines at top level (not what it imports)."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_public_modules_are_discovered() -> None:
    """The discovery finds the documented public namespaces (so the tests below are not empty)."""
    assert {"watchkit", "watchkit.context", "watchkit.redaction", "watchkit.security"} <= set(
        PUBLIC_MODULES
    )
    assert {"watchkit.testing", "watchkit.logs", "watchkit.integrations"} <= set(PUBLIC_MODULES)
    assert not [name for name in PUBLIC_MODULES if "._" in name]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_unique_and_resolves(name: str) -> None:
    """`__all__` exists, is sorted without duplicates, and every listed name exists."""
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{name} has no __all__ list"
    assert exported == sorted(set(exported)), f"{name}.__all__ is not sorted and unique"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"


def _defined_under(value: object, package: str) -> bool:
    return str(getattr(value, "__module__", "")).startswith(f"{package}.")


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_nothing_private_leaks(name: str) -> None:
    """`__all__` lists no private name, and every public-looking definition is in it."""
    module = importlib.import_module(name)
    exported = set(module.__all__)
    private = sorted(
        item
        for item in exported
        if (item.startswith("_") and item != "__version__")
        # A known private helper re-exported; a public name of this package may share it.
        or (item in KNOWN_PRIVATE and not _defined_under(getattr(module, item), name))
    )
    assert not private, f"{name}.__all__ exposes private names: {private}"
    pending = PENDING_RENAMES.get(name, frozenset())
    unlisted = sorted(
        item for item in _defined_names(module) - exported - pending if not item.startswith("_")
    )
    assert not unlisted, (
        f"{name} defines public-looking names outside __all__: {unlisted}; "
        "add them to __all__ or give them a leading underscore"
    )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_classes_report_their_public_home(name: str) -> None:
    """A class exported from a public namespace names a public module in `__module__`.

    Tracebacks, `repr()`, pickles and the API reference then show `watchkit.Counter`,
    never the private module that happens to define it.
    """
    module = importlib.import_module(name)
    wrong = []
    for item in module.__all__:
        value = getattr(module, item)
        if not inspect.isclass(value) or not value.__module__.startswith("watchkit"):
            continue
        home = value.__module__
        public_home = not any(part.startswith("_") for part in home.split("."))
        if not public_home or item not in getattr(importlib.import_module(home), "__all__", ()):
            wrong.append(f"{item}.__module__ == {home!r}")
    assert not wrong, (
        f"{name}: {wrong}; set `__module__ = {name!r}` in the class body "
        "(or the public module that exports it)"
    )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_classes_do_not_expose_wrapper_hooks(name: str) -> None:
    """The decorator hooks (`begin`/`end`/`pause`/`resume`) are not methods users can call."""
    module = importlib.import_module(name)
    exposed = []
    for item in module.__all__:
        value = getattr(module, item)
        if inspect.isclass(value) and value.__module__.startswith("watchkit"):
            hooks = WRAPPER_HOOKS & {attr for attr in dir(value) if not attr.startswith("_")}
            if hooks:
                exposed.append(f"{item}: {sorted(hooks)}")
    assert not exposed, f"{name} exposes wrapper hooks: {exposed}"


def test_facade_dir_is_all_and_lazy_table_serves_only_all() -> None:
    """`dir(watchkit)` is `__all__`; the lazy loader serves nothing `__all__` does not promise."""
    assert sorted(dir(watchkit)) == watchkit.__all__
    lazy = watchkit._LAZY  # type: ignore[attr-defined]
    assert set(lazy) <= set(watchkit.__all__)
    for item, module in lazy.items():
        assert module.startswith("watchkit."), item
        assert hasattr(importlib.import_module(module), item), item


def test_facade_classes_are_watchkit_classes() -> None:
    """The façade's classes report ``watchkit`` (``watchkit.Counter``, ``watchkit.ConfigError``)."""
    classes = [item for item in watchkit.__all__ if inspect.isclass(getattr(watchkit, item))]
    assert {"ConfigError", "Counter", "Telemetry"} <= set(classes)
    wrong = {item: getattr(watchkit, item).__module__ for item in classes}
    assert {item: home for item, home in wrong.items() if home != "watchkit"} == {}


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A typo gives AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="configur"):
        watchkit.configur  # type: ignore[attr-defined]  # noqa: B018
