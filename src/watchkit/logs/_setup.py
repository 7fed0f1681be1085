"""Install and remove watchkit's logging: structlog configuration plus the stdlib bridge.

One output, one chain, each record once:

* structlog loggers (``watchkit.get_logger``) run the chain and write the
  rendered line themselves; they never pass through :mod:`logging`.
* stdlib records (uvicorn, Django, requests, ...) reach the one
  :class:`LogHandler` on the root logger, whose ``ProcessorFormatter`` runs the
  same processors as its ``foreign_pre_chain`` and writes to the same stream.

Installing twice leaves one handler; shutdown removes it, restores the root
level it lowered and the structlog configuration it replaced.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

import structlog
from structlog._config import BoundLoggerLazyProxy
from structlog.contextvars import merge_contextvars
from structlog.stdlib import ExtraAdder, ProcessorFormatter

from watchkit._internal import fork, guard, semconv
from watchkit._internal.settings import Settings, resolve_or_defaults
from watchkit.logs._otel import OTelExport
from watchkit.logs._processors import (
    AddLevel,
    AddLoggerName,
    AddServiceName,
    AddTimestamp,
    AddTraceContext,
    ConsoleSafe,
    JsonRenderer,
    Redact,
    StructuredException,
)

__all__ = ["LazyLogger", "LogHandler", "install"]

# structlog method -> the level name it logs at (what _proxy_to_logger receives).
_METHOD_LEVELS = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "critical": "critical",
    "fatal": "critical",
}

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class _Runtime:
    """Where lines go and how stdlib records are formatted; swapped by install()."""

    def __init__(self) -> None:
        self.stream: IO[str] | None = None
        self.formatter: logging.Formatter | None = None
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        stream = self.stream or sys.stdout  # looked up per line: pytest and redirection work
        with self.lock:
            stream.write(line + "\n")
            stream.flush()


RUNTIME = _Runtime()


class _Output:
    """The object structlog calls with the rendered line (every method name alike)."""

    __slots__ = ()

    def msg(self, message: str) -> None:
        RUNTIME.write(message)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = msg


_OUTPUT = _Output()


def _output_factory(*args: Any) -> _Output:
    return _OUTPUT


def interpolate(event: Any, args: tuple[Any, ...]) -> Any:
    """``event % args`` like structlog, but a mismatch degrades to ``"event (args)"``.

    The mismatch is reported once per call site (and raises under the test switch).
    """
    if not args:
        return event
    try:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            return event % args[0]
        return event % args
    except Exception:
        guard.invalid_argument(
            "watchkit log call",
            f"the message {_safe_repr(event)!r} does not take the arguments {_safe_repr(args)}",
            "the line was written with the message and the arguments side by side",
        )
        return f"{_safe_repr(event)} {_safe_repr(args)}"


def _safe_repr(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _guarded_wrapper(level: int) -> type[Any]:
    """A filtering bound logger whose processing errors never reach the caller.

    structlog's own methods interpolate positional arguments (``event % args``)
    before anything else and raise on a mismatch (``log.info("user", 42)``);
    the enabled level methods here interpolate safely instead.
    """
    base: Any = structlog.make_filtering_bound_logger(level)

    def safe_method(name: str, original: Any, is_async: bool) -> Any:
        if is_async:

            async def ameth(self: Any, event: Any = None, *args: Any, **kw: Any) -> Any:
                return await original(self, interpolate(event, args), **kw)

            ameth.__name__ = original.__name__
            return ameth

        def meth(self: Any, event: Any = None, *args: Any, **kw: Any) -> Any:
            return self._proxy_to_logger(name, interpolate(event, args) if args else event, **kw)

        meth.__name__ = original.__name__
        return meth

    methods: dict[str, Any] = {}
    for method_name, level_name in _METHOD_LEVELS.items():
        original = getattr(base, method_name, None)
        if original is None or original.__name__ in ("_nop", "_anop"):
            continue  # disabled levels stay structlog's no-op
        methods[method_name] = safe_method(level_name, original, False)
        async_original = getattr(base, f"a{method_name}", None)
        if async_original is not None:
            methods[f"a{method_name}"] = safe_method(level_name, async_original, True)

    def log(self: Any, level: int, event: Any = None, *args: Any, **kw: Any) -> Any:
        return base.log(self, level, interpolate(event, args), **kw)

    async def alog(self: Any, level: int, event: Any = None, *args: Any, **kw: Any) -> Any:
        return await base.alog(self, level, interpolate(event, args), **kw)

    def proxy(self: Any, method_name: str, event: str | None = None, **event_kw: Any) -> Any:
        try:
            return base._proxy_to_logger(self, method_name, event, **event_kw)
        except Exception:
            guard.report("watchkit.logs")
            return None

    methods.update(log=log, alog=alog, _proxy_to_logger=proxy)
    return type("WatchkitBoundLogger", (base,), methods)


class LogHandler(logging.Handler):
    """Standard-library handler that sends records through watchkit's log chain.

    ``watchkit.configure()`` installs one on the root logger. Reference it in
    your own ``logging.config.dictConfig`` when that config replaces the root
    handlers (watchkit then does not add a second one)::

        LOGGING = {
            "version": 1,
            "handlers": {"watchkit": {"()": "watchkit.logs.LogHandler"}},
            "root": {"handlers": ["watchkit"], "level": "INFO"},
        }

    Before ``configure()`` (and after ``shutdown()``) records go through the
    same chain without the OpenTelemetry export, format and level taken from
    ``WATCHKIT_LOG_FORMAT``/``WATCHKIT_LOG_LEVEL``: secrets are redacted and
    nothing is lost.
    """

    __module__ = "watchkit.logs"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            formatter = RUNTIME.formatter or _fallback_formatter()
            try:
                line = formatter.format(record)
            except Exception:
                # The record's own message is broken ("%d" % "x", a raising __str__):
                # write it with its parts shown as they are rather than lose it.
                if not _message_fails(record):
                    raise
                line = formatter.format(_readable_copy(record))
            RUNTIME.write(line)
        except Exception:
            guard.report("watchkit.logs.LogHandler")


def _message_fails(record: logging.LogRecord) -> bool:
    try:
        record.getMessage()
    except Exception:
        return True
    return False


def _readable_copy(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of ``record`` whose message is ``repr(msg) repr(args)`` (never raises to format)."""
    copy = logging.makeLogRecord(record.__dict__)
    copy.msg = (
        f"{_safe_repr(record.msg)} {_safe_repr(record.args)}"
        if record.args
        else (_safe_repr(record.msg))
    )
    copy.args = None
    return copy


def _service_name(settings: Settings) -> str:
    return dict(settings.resource_attributes).get(semconv.SERVICE_NAME) or _resource_name()


def _resource_name() -> str:
    from opentelemetry.sdk.resources import Resource

    name = Resource.create({}).attributes.get(semconv.SERVICE_NAME, "unknown_service")
    return str(name)


def _use_console(fmt: str, stream: IO[str] | None) -> bool:
    if fmt == "auto":
        target = stream or sys.stdout
        try:
            return bool(target.isatty())
        except Exception:
            return False
    return fmt == "console"


def build_processors(
    settings: Settings, *, console: bool, export: bool
) -> tuple[list[Any], list[Any], Any]:
    """(structlog chain without renderer, stdlib pre-chain, renderer processors)."""
    service = AddServiceName(_service_name(settings))
    common = [
        AddTimestamp(),
        StructuredException(),
        AddTraceContext(),
        service,
        Redact(),
        OTelExport(export),
    ]
    chain: list[Any] = [merge_contextvars, AddLevel(), *common]
    foreign: list[Any] = [merge_contextvars, ExtraAdder(), AddLevel(), AddLoggerName(), *common]
    renderer: list[Any]
    if console:
        colors = False
        try:
            colors = bool((RUNTIME.stream or sys.stdout).isatty())
        except Exception:
            colors = False
        renderer = [ConsoleSafe(), structlog.dev.ConsoleRenderer(colors=colors)]
    else:
        renderer = [JsonRenderer()]
    return chain, foreign, renderer


_reported_console_handlers = False

# Servers that give their loggers console handlers of their own and switch off
# propagation (uvicorn's default log_config, gunicorn's glogging), so their
# access lines and tracebacks would bypass the root handler and watchkit's chain.
_SERVER_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
    "hypercorn.error",
    "hypercorn.access",
)
_CONSOLE_STREAMS = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def _is_console(handler: logging.Handler) -> bool:
    return (
        type(handler) is logging.StreamHandler
        and getattr(handler, "stream", None) in _CONSOLE_STREAMS
    )


def _adopt_server_loggers() -> Callable[[], None]:
    """Route the servers' loggers through the root (and so through watchkit), once.

    Only their console handlers are detached (a file handler stays); the undo
    puts handlers and propagation back as they were.
    """
    undo: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    for name in _SERVER_LOGGERS:
        if name not in logging.Logger.manager.loggerDict:
            continue  # never created: that server is not in use
        logger = logging.getLogger(name)
        consoles = [h for h in logger.handlers if _is_console(h)]
        if not consoles and logger.propagate:
            continue
        for handler in consoles:
            logger.removeHandler(handler)
        undo.append((logger, consoles, logger.propagate))
        logger.propagate = True

    def restore() -> None:
        for logger, consoles, propagate in undo:
            for handler in consoles:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
            logger.propagate = propagate

    return restore


def _report_console_handlers(root: logging.Logger) -> None:
    """Warn once if the root logger already prints to a terminal stream.

    Such a handler (``logging.basicConfig()``, a dictConfig console handler)
    would print every stdlib record a second time next to watchkit's line.
    watchkit does not remove the application's handlers; it says so, once.
    """
    global _reported_console_handlers
    if _reported_console_handlers:
        return
    consoles = [h for h in root.handlers if not isinstance(h, LogHandler) and _is_console(h)]
    if consoles:
        _reported_console_handlers = True
        guard.internal_logger.warning(
            "watchkit: the root logger already has a console handler (%r); standard-library "
            "records will be printed by it and by watchkit. Remove it (for example drop "
            "logging.basicConfig()) to get each record once; see docs/logging.md.",
            consoles[0],
        )


class _Fallback:
    """The chain used while watchkit's logging is not installed (before configure()).

    Built once from the environment (``WATCHKIT_LOG_FORMAT``/``WATCHKIT_LOG_LEVEL``,
    the service name) with the export off: a line written at import time, before
    ``configure()``, is redacted and shaped like every other line, and nothing is
    sent anywhere. Without it structlog's own defaults would print values as
    they are, card numbers and tokens included.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built: tuple[list[Any], type[Any], logging.Formatter] | None = None

    def get(self) -> tuple[list[Any], type[Any], logging.Formatter]:
        built = self.built
        if built is None:
            with self.lock:
                built = self.built
                if built is None:
                    built = self.built = self._build()
        return built

    def reset(self) -> None:
        self.built = None

    @staticmethod
    def _build() -> tuple[list[Any], type[Any], logging.Formatter]:
        settings = resolve_or_defaults()
        console = _use_console(settings.log_format, RUNTIME.stream)
        chain, foreign, renderer = build_processors(settings, console=console, export=False)
        formatter = ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[ProcessorFormatter.remove_processors_meta, *renderer],
            use_get_message=True,
        )
        return [*chain, *renderer], _guarded_wrapper(_LEVELS[settings.log_level]), formatter


_FALLBACK = _Fallback()


def _fresh_locks() -> None:
    RUNTIME.lock = threading.Lock()
    _FALLBACK.lock = threading.Lock()


# A pre-fork server forks while other threads write lines: the child would find
# the line lock (or the stream's own buffer lock under it) held for ever, and its
# first line would hang the worker. The fork waits for the line being written.
fork.hold_across_fork("logs.runtime.lock", lambda: RUNTIME.lock)
fork.at_fork(fork.LOCKS, "logs.locks", _fresh_locks)


def _fallback_formatter() -> logging.Formatter:
    return _FALLBACK.get()[2]


def _fallback_logger(values: dict[str, Any]) -> Any:
    processors, wrapper, _ = _FALLBACK.get()
    return wrapper(_OUTPUT, processors=processors, context=dict(values))


class LazyLogger(BoundLoggerLazyProxy):
    """What ``watchkit.get_logger()`` returns: bound on use, never through structlog's defaults.

    Once structlog is configured (by ``configure()``, or by the application
    itself) this is structlog's own lazy proxy. Before that, each call runs
    watchkit's fallback chain and ``bind()``/``unbind()`` return another lazy
    logger, so a logger bound at import time still follows ``configure()`` later.
    """

    def bind(self, **new_values: Any) -> Any:
        if structlog.is_configured():
            return super().bind(**new_values)
        if new_values:
            return self._with({**self._initial_values, **new_values})
        return _fallback_logger(self._initial_values)

    def unbind(self, *keys: str) -> Any:
        if structlog.is_configured():
            return super().unbind(*keys)
        values = dict(self._initial_values)
        for key in keys:
            del values[key]  # a missing key raises KeyError, as structlog's unbind does
        return self._with(values)

    def try_unbind(self, *keys: str) -> Any:
        if structlog.is_configured():
            return super().try_unbind(*keys)
        values = dict(self._initial_values)
        for key in keys:
            values.pop(key, None)
        return self._with(values)

    def _with(self, values: dict[str, Any]) -> LazyLogger:
        args = self._logger_factory_args
        return LazyLogger(None, initial_values=values, logger_factory_args=args)


def install(settings: Settings, *, stream: IO[str] | None = None) -> Callable[[], None]:
    """Configure structlog and the root-logger bridge for ``settings``; return the undo.

    ``stream`` (default: ``sys.stdout`` at write time) receives every line.
    """
    # The environment may have changed since the fallback was built; after
    # shutdown() the fallback is rebuilt from what it says then.
    _FALLBACK.reset()
    RUNTIME.stream = stream
    console = _use_console(settings.log_format, stream)
    chain, foreign, renderer = build_processors(
        settings, console=console, export=settings.exporter == "otlp"
    )
    level = _LEVELS[settings.log_level]

    previous_config = dict(structlog.get_config())
    was_configured = structlog.is_configured()
    structlog.configure(
        processors=[*chain, *renderer],
        wrapper_class=_guarded_wrapper(level),
        context_class=dict,
        logger_factory=_output_factory,
        cache_logger_on_first_use=True,
    )
    RUNTIME.formatter = ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[ProcessorFormatter.remove_processors_meta, *renderer],
        use_get_message=True,
    )

    root = logging.getLogger()
    ours: LogHandler | None = None
    if not any(isinstance(h, LogHandler) for h in root.handlers):
        ours = LogHandler(level)
        root.addHandler(ours)
    _report_console_handlers(root)
    restore_servers = _adopt_server_loggers()
    previous_level = root.level
    lowered = previous_level == logging.NOTSET or previous_level > level
    if lowered:
        root.setLevel(level)

    def uninstall() -> None:
        restore_servers()
        if ours is not None and ours in root.handlers:
            root.removeHandler(ours)
        if lowered and root.level == level:
            root.setLevel(previous_level)
        RUNTIME.formatter = None
        RUNTIME.stream = None
        if was_configured:
            structlog.configure(**previous_config)
        else:
            structlog.reset_defaults()

    return uninstall
