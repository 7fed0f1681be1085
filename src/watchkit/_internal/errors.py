"""One error formatter: ``error.type``, safe str/repr, the fast stack trace, the fingerprint.

Every place that records an exception (HTTP requests, ``traced``, ``flow``,
log records, audit) formats it here, so the same exception reads the same in
spans, logs and metrics.

The fingerprint groups recurring errors: the exception type plus the
innermost frames of *application* code, each as ``module:function``. Line
numbers (they move with every edit), the message (it carries ids and values)
and frames of libraries (the standard library, installed packages, watchkit
itself: they differ with the path an error takes through a framework) are left
out, so the same bug gives the same fingerprint across requests, processes and
releases, and a different call site gives a different one.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sysconfig
from types import FrameType, TracebackType
from typing import Any, Final

__all__ = ["exception_type", "fingerprint", "format_stacktrace", "safe_repr", "safe_str"]

_CACHE_LIMIT: Final = 4096
_ERROR_TYPES: dict[type[BaseException], str] = {}


def exception_type(exc: BaseException) -> str:
    """``error.type`` of an exception: ``module.QualName``; builtins without a module.

    The same convention as the OpenTelemetry SDK's ``exception.type``; cached per class.

    Example:
        >>> exception_type(ValueError("bad"))
        'ValueError'
        >>> import asyncio
        >>> exception_type(asyncio.TimeoutError())
        'TimeoutError'
    """
    cls = type(exc)
    found = _ERROR_TYPES.get(cls)
    if found is None:
        module = cls.__module__
        found = (
            cls.__qualname__
            if not module or module == "builtins"
            else f"{module}.{cls.__qualname__}"
        )
        if len(_ERROR_TYPES) < _CACHE_LIMIT:
            _ERROR_TYPES[cls] = found
    return found


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's ``__str__`` itself fails."""
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__} object>"


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a placeholder when its ``__repr__`` fails."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


_APP_FRAMES: Final = 3
_MAX_DEPTH: Final = 200
_LIBRARY: dict[str, bool] = {}


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {
        os.path.normcase(os.path.realpath(paths[key]))
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if paths.get(key)
    }
    # watchkit's own frames (its wrappers, middleware) are library frames too,
    # also when it is installed in development mode outside site-packages.
    roots.add(os.path.normcase(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
    return tuple(sorted(roots))


_ROOTS: Final = _library_roots()
_PACKAGE_DIRS: Final = (
    f"{os.sep}site-packages{os.sep}",
    f"{os.sep}dist-packages{os.sep}",
)


def is_library_file(filename: str) -> bool:
    """Whether a code file belongs to the standard library, an installed package or watchkit."""
    found = _LIBRARY.get(filename)
    if found is None:
        if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
            found = True
        else:
            path = os.path.normcase(os.path.realpath(filename))
            found = any(part in path for part in _PACKAGE_DIRS) or any(
                path == root or path.startswith(root + os.sep) for root in _ROOTS
            )
        if len(_LIBRARY) < _CACHE_LIMIT:
            _LIBRARY[filename] = found
    return found


def _app_frames(tb: TracebackType | None) -> list[str]:
    # The traceback holds the frames from where the exception is examined down
    # to where it was raised; the frames above (f_back of the first one) are
    # added, so the fingerprint does not depend on where it is computed (in a
    # decorator, a middleware or a later except block).
    frames: list[FrameType] = []
    depth = 0
    while tb is not None and depth < _MAX_DEPTH:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
        depth += 1
    above: list[FrameType] = []
    frame = frames[0].f_back if frames else None
    while frame is not None and len(above) < _MAX_DEPTH:
        above.append(frame)
        frame = frame.f_back
    found: list[str] = []
    for frame in (*reversed(frames), *above):
        code = frame.f_code
        if is_library_file(code.co_filename):
            continue
        module = frame.f_globals.get("__name__") or os.path.basename(code.co_filename)
        found.append(f"{module}:{getattr(code, 'co_qualname', code.co_name)}")
        if len(found) == _APP_FRAMES:
            break
    return found


def fingerprint(exc: BaseException) -> str:
    """A stable id of where an error comes from, to count recurring errors.

    16 hex digits from the exception type and the innermost application
    frames (``module:function``); no line numbers, no message, no library frames.

    Example:
        >>> def check(n):
        ...     raise ValueError(f"bad {n}")
        >>> def fp(n):
        ...     try:
        ...         check(n)
        ...     except ValueError as error:
        ...         return fingerprint(error)
        >>> fp(1) == fp(2)
        True
    """
    parts = [exception_type(exc), *_app_frames(exc.__traceback__)]
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "replace"), digest_size=8).hexdigest()


def format_stacktrace(exc: BaseException) -> str:
    """A Python-style traceback of ``exc`` (with its causes), without 3.11's ``^^^`` markers.

    ``traceback.format_exception`` on Python 3.11+ re-parses each frame's source
    line to place the caret markers; with ~20 framework frames per request that
    dominates the error path. File, line, function and the source line (from
    linecache) carry the same information.
    """
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    note: str | None = None
    while current is not None and id(current) not in seen and len(chain) < 8:
        seen.add(id(current))
        chain.append((current, note))
        if current.__cause__ is not None:
            note = "The above exception was the direct cause of the following exception:"
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            note = "During handling of the above exception, another exception occurred:"
            current = current.__context__
        else:
            current = None
    lines: list[str] = []
    for error, link in reversed(chain):
        tb = error.__traceback__
        if tb is not None:
            lines.append("Traceback (most recent call last):\n")
        depth = 0
        while tb is not None and depth < 100:
            code = tb.tb_frame.f_code
            lineno = tb.tb_lineno
            lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
            source = linecache.getline(code.co_filename, lineno).strip()
            if source:
                lines.append(f"    {source}\n")
            tb = tb.tb_next
            depth += 1
        message = safe_str(error)
        name = exception_type(error)
        lines.append(f"{name}: {message}\n" if message else f"{name}\n")
        if link is not None:
            lines.append(f"\n{link}\n\n")
    return "".join(lines)
