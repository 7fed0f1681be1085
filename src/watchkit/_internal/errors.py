"""One error formatter: ``error.type``, a safe ``str()``, the fast stack trace.

Every place that records an exception (HTTP requests, ``traced``, ``flow``,
log records, audit) formats it here, so the same exception reads the same in
spans, logs and metrics.
"""

from __future__ import annotations

import linecache
from typing import Final

__all__ = ["exception_type", "format_stacktrace", "safe_str"]

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
