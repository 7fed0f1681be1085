"""structlog chain: JSON/console lines, correlation, stdlib bridge, injection, OTel export."""

from __future__ import annotations

import json
import logging
import re

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import watchkit
from watchkit._internal.state import get_tracer
from watchkit.logs import LogHandler


def _lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line]


def _json(capsys) -> list[dict]:
    return [json.loads(line) for line in _lines(capsys)]


@pytest.fixture
def json_logs(clean_env):
    watchkit.configure(service_name="hotel", exporter="none", log_format="json")


def test_json_line_has_the_documented_keys(json_logs, capsys) -> None:
    """One parseable line with level, logger, UTC timestamp, service.name and the fields."""
    import structlog

    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        watchkit.get_logger("bookings").info("reservation.confirmed", nights=3, total=420.5)
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _json(capsys)
    assert line["event"] == "reservation.confirmed"
    assert line["level"] == "info"
    assert line["logger"] == "bookings"
    assert line["service.name"] == "hotel"
    assert line["request_id"] == "req-1"
    assert line["nights"] == 3
    assert line["total"] == 420.5
    assert line["timestamp"].endswith("Z")
    assert "T" in line["timestamp"]
    assert "trace_id" not in line  # no span: no ids


def test_default_logger_name_is_the_calling_module(json_logs, capsys) -> None:
    """get_logger() without a name uses the caller's __name__."""
    watchkit.get_logger().warning("x")
    assert _json(capsys)[0]["logger"] == __name__


def test_trace_ids_equal_the_exporting_span(telemetry, json_logs, capsys) -> None:
    """trace_id/span_id in the line are the ids of the span that was exported."""
    with get_tracer().start_as_current_span("checkout"):
        watchkit.get_logger("t").info("inside")
    span = telemetry.span("checkout")
    (line,) = _json(capsys)
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")


def test_unsampled_but_valid_context_still_correlates(json_logs, capsys) -> None:
    """An unsampled span context still stamps ids (REFERENCE P10)."""
    context = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    with trace.use_span(NonRecordingSpan(context)):
        watchkit.get_logger("t").info("unsampled")
    (line,) = _json(capsys)
    assert line["trace_id"] == format(0xABC, "032x")
    assert line["span_id"] == format(0xDEF, "016x")


def test_exception_is_structured(json_logs, capsys) -> None:
    """log.exception renders type, message and frames, innermost last."""

    def charge() -> None:
        raise ValueError("card declined")

    try:
        charge()
    except ValueError:
        watchkit.get_logger("t").exception("payment.failed")
    exception = _json(capsys)[0]["exception"]
    assert exception["type"] == "ValueError"
    assert exception["message"] == "card declined"
    assert exception["frames"][-1]["function"] == "charge"
    assert exception["frames"][-1]["file"].endswith("test_logging.py")
    assert isinstance(exception["frames"][-1]["line"], int)


def test_level_filter(clean_env, capsys) -> None:
    """Records below log_level are dropped."""
    watchkit.configure(exporter="none", log_format="json", log_level="warning")
    log = watchkit.get_logger("t")
    log.info("quiet")
    log.warning("loud")
    assert [line["event"] for line in _json(capsys)] == ["loud"]


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_injected_newline_stays_inside_one_line(clean_env, capsys, fmt) -> None:
    """A value with '\\n{"level":"critical"}' cannot forge a second record."""
    watchkit.configure(exporter="none", log_format=fmt)
    evil = 'guest\n{"level":"critical","event":"forged"}\r\x1b[2J'
    watchkit.get_logger("t").info("login", user=evil)
    logging.getLogger("thirdparty").warning("user %s", evil)
    lines = _lines(capsys)
    assert len(lines) == 2, lines
    for line in lines:
        assert "\x1b" not in line
        assert "\r" not in line
    if fmt == "json":
        assert json.loads(lines[0])["user"] == evil
        assert json.loads(lines[1])["event"] == f"user {evil}"


def test_stdlib_record_comes_out_once_and_formatted(json_logs, capsys) -> None:
    """A third-party stdlib logger goes through the same chain, exactly once."""
    logging.getLogger("uvicorn.error").warning(
        "Started %s", "server", extra={"port": 8000, "password": "x"}
    )
    lines = _json(capsys)
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "Started server"
    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["service.name"] == "hotel"
    assert line["port"] == 8000
    assert line["password"] == "[REDACTED]"


def test_stdlib_info_records_are_not_lost(json_logs, capsys) -> None:
    """The root level is lowered to log_level so INFO from libraries is kept."""
    logging.getLogger("django.request").info("hello")
    assert [line["event"] for line in _json(capsys)] == ["hello"]


def test_configure_twice_and_shutdown_keep_one_handler(clean_env) -> None:
    """One root handler however often configure() runs; none after shutdown; level restored."""
    root = logging.getLogger()
    level = root.level
    for _ in range(2):
        watchkit.configure(exporter="none", log_format="json")
        watchkit.configure(exporter="none", log_format="json")
        assert sum(isinstance(h, LogHandler) for h in root.handlers) == 1
        watchkit.shutdown()
        assert not any(isinstance(h, LogHandler) for h in root.handlers)
        assert root.level == level


def test_dictconfig_handler_is_not_duplicated(clean_env, capsys) -> None:
    """A LogHandler from the application's dictConfig is reused, not doubled."""
    import logging.config

    root = logging.getLogger()
    saved = root.handlers[:]
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"watchkit": {"()": "watchkit.logs.LogHandler"}},
            "root": {"handlers": ["watchkit"], "level": "INFO"},
        }
    )
    try:
        watchkit.configure(exporter="none", log_format="json")
        logging.getLogger("app").info("once")
        assert [line["event"] for line in _json(capsys)] == ["once"]
    finally:
        watchkit.shutdown()
        root.handlers[:] = saved


def test_redaction_in_log_lines(json_logs, capsys) -> None:
    """Keys and value patterns are redacted in the printed line, nested too."""
    watchkit.get_logger("t").info(
        "payment",
        card_number="4111111111111111",
        note="paid with 4111 1111 1111 1111",
        headers={"Authorization": "Bearer abcdef", "X-Api-Key": "k"},
        items=[{"cvv": 123}],
    )
    line = _json(capsys)[0]
    assert line["card_number"] == "[REDACTED]"
    assert line["note"] == "paid with [REDACTED]"
    assert line["headers"] == {"Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]"}
    assert line["items"] == [{"cvv": "[REDACTED]"}]


def test_records_are_exported_as_otel_log_records(telemetry, json_logs, capsys) -> None:
    """Under capture each record is an OTel LogRecord: severity, body, attributes, context."""
    log = watchkit.get_logger("bookings")
    with get_tracer().start_as_current_span("reserve"):
        log.warning("room.overbooked", room=12, token="t0k")
        try:
            raise KeyError("room")
        except KeyError:
            log.exception("lookup.failed")
    span = telemetry.span("reserve")
    warn, error = telemetry.logs()
    assert warn.body == "room.overbooked"
    assert warn.severity_text == "WARN"
    assert warn.trace_id == span.context.trace_id
    assert warn.span_id == span.context.span_id
    assert dict(warn.attributes or {}) == {"room": 12, "token": "[REDACTED]"}
    assert error.severity_text == "ERROR"
    attributes = dict(error.attributes or {})
    assert attributes["exception.type"] == "KeyError"
    assert "lookup" not in attributes.get("exception.message", "")
    assert "Traceback" in attributes["exception.stacktrace"]
    assert "trace_id" not in attributes  # ids are in the record fields, not duplicated


def test_console_exporter_mode_does_not_print_records_twice(clean_env, capsys) -> None:
    """exporter=console: a log line appears once (stdout), while OTel events still print."""
    telemetry = watchkit.configure(exporter="console", log_format="json")
    watchkit.get_logger("t").info("only.once")
    from watchkit._internal.state import get_logger

    get_logger("watchkit.events").emit(body="event.shown", attributes={"event.name": "x"})
    telemetry.force_flush()
    captured = capsys.readouterr()
    assert captured.out.count("only.once") == 1
    assert "only.once" not in captured.err
    assert "event.shown" in captured.err


def test_processor_bug_never_reaches_the_caller(json_logs, capsys, caplog, monkeypatch) -> None:
    """With internal errors swallowed (production), a failing processor drops only the line.

    The call returns normally, that line is not written, the bug is reported once, and
    the next line is written again once the processor works.
    """
    from watchkit._internal import guard
    from watchkit.logs import _processors as processors

    def broken(self, logger, name, event_dict):
        raise RuntimeError("bug")

    working = processors.AddTraceContext.__call__
    monkeypatch.setattr(guard, "_reported", set())
    monkeypatch.setattr(processors.AddTraceContext, "__call__", broken)
    old = guard.set_raise(False)
    try:
        with caplog.at_level(logging.WARNING, logger="watchkit"):
            assert watchkit.get_logger("t").info("dropped.line") is None
            watchkit.get_logger("t").info("dropped.again")
    finally:
        guard.set_raise(old)
    monkeypatch.setattr(processors.AddTraceContext, "__call__", working)
    watchkit.get_logger("t").info("written.line")
    assert [line["event"] for line in _json(capsys)] == ["written.line"]
    # Once per site: the logger call, and the handler that tried to write the report.
    reports = [r for r in caplog.records if "internal error in" in r.getMessage()]
    assert sorted(r.args[0] for r in reports if r.args) == [
        "watchkit.logs",
        "watchkit.logs.LogHandler",
    ]
    assert reports[0].exc_info is not None and "bug" in str(reports[0].exc_info[1])


@pytest.fixture
def production_guard(monkeypatch):
    """Internal errors and bad arguments swallowed and reported, as in production."""
    from watchkit._internal import guard

    monkeypatch.setattr(guard, "_reported", set())
    old = guard.set_raise(False)
    yield
    guard.set_raise(old)


def test_bad_positional_arguments_raise_under_the_test_switch(json_logs) -> None:
    """In a test suite (switch on) a mismatched message fails at the line that logged it."""
    with pytest.raises(ValueError, match="does not take the arguments"):
        watchkit.get_logger("t").info("total %d", "not-a-number")


def test_bad_positional_arguments_never_raise_into_the_app(
    json_logs, capsys, caplog, production_guard
) -> None:
    """`log.info("x %d", "a")` or `log.info("user", 42)` log a line instead of raising."""
    log = watchkit.get_logger("t")
    log.info("total %d", "not-a-number")
    log.warning("user", 42)  # noqa: PLE1205
    log.log(logging.ERROR, "%s and %s", "one")
    log.info("%(a)s", {"b": 1})
    log.info("paid %s", "4111 1111 1111 1111")
    events = [line["event"] for line in _json(capsys) if line.get("logger") == "t"]
    assert len(events) == 5
    assert "total %d" in events[0] and "not-a-number" in events[0]
    assert "user" in events[1] and "42" in events[1]
    assert events[4] == "paid [REDACTED]"
    reports = [r.getMessage() for r in caplog.records if "watchkit log call at" in r.getMessage()]
    assert len(reports) == 4  # once per call site; the fifth call was fine
    assert all("test_logging.py" in report for report in reports)


async def test_bad_positional_arguments_in_async_methods(
    json_logs, capsys, production_guard
) -> None:
    """The async methods (`ainfo`) do not raise on bad arguments either."""
    await watchkit.get_logger("t").ainfo("total %d", "x")
    assert "total %d" in _json(capsys)[0]["event"]


def test_stdlib_record_with_bad_arguments_is_still_written(json_logs, capsys) -> None:
    """A library's broken %-format or an unprintable message is written, not lost."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        __repr__ = __str__

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [h for h in saved if isinstance(h, LogHandler)]  # not pytest's capture
    try:
        logging.getLogger("requests").warning("retry %d of %d", "x")  # noqa: PLE1206
        logging.getLogger("requests").warning(Unprintable())
    finally:
        root.handlers[:] = saved
    lines = _json(capsys)
    assert len(lines) == 2
    assert "retry %d of %d" in lines[0]["event"]
    assert lines[0]["logger"] == "requests"
    assert lines[1]["level"] == "warning"


def test_trace_ids_never_mix_between_concurrent_records(json_logs, capsys) -> None:
    """A thread switch inside the trace-context processor cannot give a line another's ids.

    The switch is forced deterministically: formatting the span id of request A
    logs a line of request B (as another thread would at that moment).
    """
    log = watchkit.get_logger("t")
    other = SpanContext(0xB, 0xB2, is_remote=False, trace_flags=TraceFlags(1))

    class SwitchingSpanId(int):
        def __format__(self, spec: str) -> str:
            with trace.use_span(NonRecordingSpan(other)):
                log.info("request.b")
            return format(int(self), spec)

    first = SpanContext(0xA, 0xA1, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(first)):
        log.info("request.a.1")
    switching = SpanContext(0xA, SwitchingSpanId(0xA2), is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(switching)):
        log.info("request.a.2")
    ids = {line["event"]: (line["trace_id"], line["span_id"]) for line in _json(capsys)}
    assert ids["request.a.2"] == (format(0xA, "032x"), format(0xA2, "016x"))
    assert ids["request.b"] == (format(0xB, "032x"), format(0xB2, "016x"))


def test_odd_keys_and_objects_keep_the_line_readable(json_logs, capsys) -> None:
    """Non-string keys inside values do not degrade the rest of the line; reprs are scrubbed."""
    import dataclasses

    @dataclasses.dataclass
    class Login:
        user: str
        password: str

    watchkit.get_logger("t").info(
        "x", m={(1, 2): "a", 3: "Bearer abcdefgh"}, login=Login("ana", "hunter2")
    )
    (line,) = _json(capsys)
    assert line["logger"] == "t"
    assert line["event"] == "x"
    assert line["m"] == {"(1, 2)": "a", "3": "[REDACTED]"}
    assert "hunter2" not in line["login"] and "ana" in line["login"]


def test_self_referencing_value_does_not_hang_a_log_call(json_logs, capsys) -> None:
    """A value referring to itself many times is logged in bounded time."""
    import threading

    cyclic: dict = {"name": "ana"}
    for i in range(10):
        cyclic[f"k{i}"] = cyclic
    thread = threading.Thread(
        target=lambda: watchkit.get_logger("t").info("x", data=cyclic), daemon=True
    )
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert _json(capsys)[0]["data"]["name"] == "ana"


def test_handler_before_configure_escapes_control_characters(capsys) -> None:
    """Before configure() the handler's plain lines cannot be forged either."""
    handler = LogHandler()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "a\u2028b\x1b[2Jc\nd", None, None)
    handler.emit(record)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "\u2028" not in out and "\x1b" not in out


def test_existing_console_handler_on_root_is_reported_once() -> None:
    """basicConfig() before configure() would print stdlib records twice: say so, once."""
    from tests.helpers import run_python

    result = run_python(
        """
        import logging, sys
        logging.basicConfig(stream=sys.stderr, level=logging.INFO)
        import watchkit
        watchkit.configure(exporter="none", log_format="json")
        watchkit.shutdown()
        watchkit.configure(exporter="none", log_format="json")
        """
    )
    lines = [line for line in result.stderr.splitlines() if "already has a console handler" in line]
    assert len(lines) == 1, result.stderr
    assert "basicConfig" in lines[0]


def test_file_handlers_on_root_are_not_reported() -> None:
    """A FileHandler is the application's own destination, not a duplicate console."""
    from tests.helpers import run_python

    result = run_python(
        """
        import logging, os, tempfile
        path = os.path.join(tempfile.mkdtemp(), "app.log")
        handler = logging.FileHandler(path)
        logging.getLogger().addHandler(handler)
        import watchkit
        watchkit.configure(exporter="none", log_format="json")
        watchkit.shutdown()
        handler.close()
        """
    )
    assert "already has a console handler" not in result.stderr + result.stdout


@pytest.mark.server
def test_uvicorn_default_logging_goes_through_watchkit_once() -> None:
    """uvicorn's own loggers (access log, startup, tracebacks) come out once, as watchkit JSON."""
    import json as _json
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.helpers import clean_environ, free_port

    port = free_port()
    env = clean_environ(
        {"WATCHKIT_TEST_CONFIGURE": "1", "WATCHKIT_EXPORTER": "none", "WATCHKIT_LOG_FORMAT": "json"}
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.integrations.apps.fastapi_app:app",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/orders/7", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        httpx.get(f"http://127.0.0.1:{port}/orders/8", timeout=5)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(_json.loads(line))
        except ValueError:
            raise AssertionError(f"not a watchkit JSON line: {line!r}\n{out}\n{err}") from None
    access = [
        r for r in records if r.get("logger") == "uvicorn.access" and "/orders/8" in r["event"]
    ]
    assert len(access) == 1, lines
    assert any(r.get("logger") == "uvicorn.error" for r in records), lines


def test_server_logger_handlers_are_restored_at_shutdown(clean_env) -> None:
    """gunicorn-style loggers are routed through watchkit while configured, then given back."""
    import logging
    import sys

    import watchkit

    logger = logging.getLogger("gunicorn.error")
    console = logging.StreamHandler(sys.stderr)
    to_file = logging.NullHandler()  # stands for a FileHandler: not a console, kept
    logger.addHandler(console)
    logger.addHandler(to_file)
    logger.propagate = False
    try:
        watchkit.configure(exporter="none", log_format="json")
        assert console not in logger.handlers
        assert to_file in logger.handlers
        assert logger.propagate is True
        watchkit.shutdown()
        assert console in logger.handlers
        assert logger.propagate is False
    finally:
        logger.removeHandler(console)
        logger.removeHandler(to_file)
        logger.propagate = True


_CARD = "4111 1111 1111 1111"
# Timestamps' microseconds can read "...381111": a leak check looks at everything else.
_TIMESTAMP = re.compile(r"(?:\d{4}-\d{2}-\d{2}[T ])?\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")


def _without_timestamps(text: str) -> str:
    return _TIMESTAMP.sub("<time>", text)


def test_lines_before_configure_are_redacted_and_structured() -> None:
    """A structlog line written before configure() is redacted, one JSON line, not exported."""
    from tests.helpers import run_python

    result = run_python(
        f"""
        import logging
        import watchkit
        from watchkit.logs import LogHandler
        logging.getLogger().addHandler(LogHandler())  # as a dictConfig referencing it would
        log = watchkit.get_logger("payments")
        log.info("charge", card={_CARD!r}, password="hunter2", note="card {_CARD} declined")
        bound = log.bind(token="tok_live_abc123")
        bound.warning("retry")
        logging.getLogger("legacy").warning("paid with %s", {_CARD!r})
        """,
        env={"WATCHKIT_LOG_FORMAT": "json"},
    )
    assert "1111" not in _without_timestamps(result.stdout + result.stderr)
    assert "hunter2" not in result.stdout + result.stderr
    assert "tok_live_abc123" not in result.stdout + result.stderr
    charge, retry, legacy = [json.loads(line) for line in result.stdout.splitlines()]
    assert charge["event"] == "charge" and charge["logger"] == "payments"
    assert charge["level"] == "info" and charge["timestamp"].endswith("Z")
    assert retry["event"] == "retry" and retry["level"] == "warning"
    assert legacy["logger"] == "legacy" and legacy["level"] == "warning"


def test_logger_bound_before_configure_follows_configure(capsys) -> None:
    """A logger bound at import time is not frozen on the pre-configure chain."""
    from tests.helpers import run_python

    result = run_python(
        """
        import watchkit
        log = watchkit.get_logger("bookings").bind(hotel="Seaview")
        log.info("before")
        watchkit.configure(service_name="hotel", exporter="none", log_format="json")
        log.info("during")
        log.unbind("hotel").info("unbound")
        watchkit.shutdown()
        log.try_unbind("nope").info("after")
        """,
        env={"WATCHKIT_LOG_FORMAT": "json"},
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["before", "during", "unbound", "after"]
    assert lines[0]["hotel"] == "Seaview" and "service.name" in lines[0]
    assert lines[1]["service.name"] == "hotel" and lines[1]["hotel"] == "Seaview"
    assert "hotel" not in lines[2]
    assert lines[3]["hotel"] == "Seaview"


def test_handler_before_configure_redacts(capsys) -> None:
    """stdlib records through LogHandler before configure() are redacted too."""
    handler = LogHandler()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "card %s", (_CARD,), None)
    handler.emit(record)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "1111 1111" not in out


def test_console_lines_before_configure_are_redacted() -> None:
    """The console shape before configure() is redacted too."""
    from tests.helpers import run_python

    result = run_python(
        f"""
        import watchkit
        watchkit.get_logger("payments").info("charge", card={_CARD!r}, token="tok_live_abc123")
        """,
        env={"WATCHKIT_LOG_FORMAT": "console"},
    )
    out = result.stdout + result.stderr
    assert "charge" in result.stdout and "[REDACTED]" in result.stdout
    assert "1111" not in _without_timestamps(out) and "tok_live_abc123" not in out
