"""The one error formatter: error.type, safe str/repr, stack traces and fingerprints."""

from __future__ import annotations

import json
import os

import pytest

import watchkit
from watchkit._internal import errors
from watchkit.testing import TelemetryCapture


class LedgerError(Exception):
    """An application error."""


def _post(amount: int) -> None:
    raise LedgerError(f"cannot post {amount}")


def _refund(amount: int) -> None:
    raise LedgerError(f"cannot post {amount}")


def _caught(fn, *args) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except BaseException as error:
        return error
    raise AssertionError("no exception")


def test_same_error_from_the_same_code_has_the_same_fingerprint() -> None:
    """Twice through the same code: one fingerprint, whatever the message."""
    first = errors.fingerprint(_caught(_post, 1))
    assert first == errors.fingerprint(_caught(_post, 1))
    assert first == errors.fingerprint(_caught(_post, 99))
    assert len(first) == 16 and int(first, 16) >= 0


def test_different_call_site_or_type_gives_a_different_fingerprint() -> None:
    """Another function raising the same type, or another type, is another error group."""
    base = errors.fingerprint(_caught(_post, 1))
    assert errors.fingerprint(_caught(_refund, 1)) != base

    def other(amount: int) -> None:
        raise KeyError(amount)

    assert errors.fingerprint(_caught(other, 1)) != base


def _parse(text: str, via_decoder: bool) -> object:
    # The two branches take different standard-library paths (json.loads ->
    # decode -> raw_decode versus decode -> raw_decode) and different lines.
    if via_decoder:
        return json.JSONDecoder().decode(text)
    return json.loads(text)


def test_library_frames_and_line_numbers_are_ignored() -> None:
    """Frames in the standard library (and line numbers) do not change the fingerprint."""
    a = errors.fingerprint(_caught(_parse, "{", False))
    b = errors.fingerprint(_caught(_parse, "[1,", True))
    assert a == b
    assert errors.is_library_file(json.__file__)
    assert errors.is_library_file(pytest.__file__)
    assert errors.is_library_file(watchkit.__file__)
    assert not errors.is_library_file(__file__)


def test_fingerprint_of_an_exception_never_raised() -> None:
    """No traceback: the type alone."""
    assert errors.fingerprint(LedgerError("x")) == errors.fingerprint(LedgerError("y"))


def test_safe_str_and_repr_survive_broken_dunders() -> None:
    """A failing __str__/__repr__ gives a placeholder naming the type."""

    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert errors.safe_str(Broken()) == "<unprintable Broken object>"
    assert errors.safe_repr(Broken()) == "<unrepresentable Broken>"


def test_stacktrace_names_file_function_and_source() -> None:
    """The fast formatter writes a Python-style traceback with the source line."""
    text = errors.format_stacktrace(_caught(_post, 3))
    assert text.startswith("Traceback (most recent call last):\n")
    assert f"{os.path.basename(__file__)}" in text and "in _post" in text
    assert 'raise LedgerError(f"cannot post {amount}")' in text
    assert text.endswith(f"{__name__}.LedgerError: cannot post 3\n")


def test_traced_and_flow_exception_events_carry_the_fingerprint(
    telemetry: TelemetryCapture,
) -> None:
    """traced and flow record the exception event with type, message, stack, fingerprint."""
    traced = watchkit.traced("ledger.post")(_post)
    flowed = watchkit.flow("ledger.flow")(_post)
    error = _caught(traced, 5)
    _caught(flowed, 6)
    for name in ("ledger.post", "ledger.flow"):
        (event,) = telemetry.span(name).events
        attributes = dict(event.attributes or {})
        assert event.name == "exception"
        assert attributes["exception.type"] == f"{__name__}.LedgerError"
        assert attributes["exception.message"].startswith("cannot post")
        assert "in _post" in attributes["exception.stacktrace"]
        assert attributes["exception.escaped"] == "True"
        assert attributes["exception.fingerprint"] == errors.fingerprint(error)


@pytest.fixture
def json_logs(clean_env):  # type: ignore[no-untyped-def]
    watchkit.configure(service_name="ledger", exporter="none", log_format="json")


def test_exception_log_records_carry_the_fingerprint(
    telemetry: TelemetryCapture, json_logs, capsys
) -> None:
    """The structlog exception dict and the OTel LogRecord both have the fingerprint."""
    error = _caught(_post, 7)
    try:
        raise error
    except LedgerError:
        watchkit.get_logger("ledger").exception("post.failed")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (record,) = telemetry.logs()
    expected = errors.fingerprint(error)
    assert line["exception"]["fingerprint"] == expected
    assert dict(record.attributes or {})["exception.fingerprint"] == expected
