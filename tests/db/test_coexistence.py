"""With contrib database instrumentation also active: one span per query, and a warning."""

from __future__ import annotations

import logging
import sqlite3

import pytest
import sqlalchemy
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.dbapi import instrument_connection as contrib_instrument
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

import watchkit.db
from watchkit._db import _record
from watchkit.integrations.sqlalchemy import _contrib_listening
from watchkit.testing import TelemetryCapture


def test_suppression_key_is_the_one_contrib_reads() -> None:
    """The private opentelemetry-api key watchkit sets is what contrib checks (pins upstream)."""
    token = otel_context.attach(_record.suppressing_context())
    try:
        assert not is_instrumentation_enabled()
    finally:
        otel_context.detach(token)
    assert is_instrumentation_enabled()


def test_contrib_dbapi_connection_gives_one_span(
    telemetry: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    """A connection the contrib dbapi instrumentation wraps: only watchkit's span, one warning."""
    _record._warned.discard("db.contrib")
    raw = contrib_instrument(
        "sqlite3", sqlite3.connect(":memory:"), "sqlite",
        tracer_provider=telemetry.tracer_provider,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="watchkit"):
        conn = watchkit.db.instrument_connection(raw)
        watchkit.db.instrument_connection(contrib_instrument(
            "sqlite3", sqlite3.connect(":memory:"), "sqlite",
            tracer_provider=telemetry.tracer_provider,
        ))  # fmt: skip
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert [(s.name, s.instrumentation_scope.name) for s in telemetry.spans()] == [  # type: ignore[union-attr]
        ("SELECT", "watchkit")
    ]
    assert sum("contrib" in r.getMessage() for r in caplog.records) == 1


def test_contrib_sqlalchemy_engine_gives_one_span(telemetry: TelemetryCapture) -> None:
    """An engine the contrib SQLAlchemy instrumentation listens to: only watchkit's span."""
    engine = sqlalchemy.create_engine("sqlite://")
    instrumentor = SQLAlchemyInstrumentor()
    # Contrib declares SQLAlchemy < 2.1; its engine listeners work on 2.1 all the same.
    instrumentor.instrument(
        engine=engine, tracer_provider=telemetry.tracer_provider, skip_dep_check=True
    )
    try:
        assert _contrib_listening(engine)  # the test is not vacuous
        watchkit.db.instrument_sqlalchemy(engine)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    finally:
        instrumentor.uninstrument()
    # Contrib's own "connect" span stays (watchkit has none); no query is traced twice.
    spans = [(s.name, s.instrumentation_scope.name) for s in telemetry.spans()]  # type: ignore[union-attr]
    assert [name for name, scope in spans if scope != "watchkit"] == ["connect"]
    assert [name for name, scope in spans if scope == "watchkit"] == ["SELECT"]
