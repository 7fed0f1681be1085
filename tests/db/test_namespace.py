"""``db.namespace`` of SQLite: the file's base name, the same through DB-API, SQLAlchemy, Django."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy

import watchkit.db
from watchkit._db._record import namespace_of
from watchkit.integrations._django_db import _target
from watchkit.testing import TelemetryCapture

DURATION = "db.client.operation.duration"


def _namespaces(telemetry: TelemetryCapture) -> set[object]:
    spans = {s.attributes.get("db.namespace") for s in telemetry.spans() if s.attributes}
    points = {p.attributes.get("db.namespace") for p in telemetry.metric_points(DURATION)}
    return (spans | points) - {None}


def test_sqlalchemy_sqlite_file_is_named_by_its_base_name(
    telemetry: TelemetryCapture, tmp_path: Path
) -> None:
    """A file URL gives the file's base name, never the machine path; memory gives none."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    watchkit.db.instrument_sqlalchemy(engine)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("SELECT 1"))
    engine.dispose()
    assert _namespaces(telemetry) == {"orders.db"}
    assert str(tmp_path) not in str([s.attributes for s in telemetry.spans()])
    pools = {
        p.attributes.get("db.client.connection.pool.name")
        for p in telemetry.metric_points("db.client.connection.max")
    }
    assert pools == {"sqlite:///orders.db"}  # the pool is named without the machine path


def test_dbapi_wrap_connect_reads_the_file_and_explicit_paths_are_cut_too(
    telemetry: TelemetryCapture, tmp_path: Path
) -> None:
    """wrap_connect(sqlite3.connect) names the file; an explicit path keeps its base name."""
    connect = watchkit.db.wrap_connect(sqlite3.connect)
    with connect(tmp_path / "orders.db") as conn:
        conn.execute("SELECT 1")
    conn.close()
    assert _namespaces(telemetry) == {"orders.db"}
    telemetry.clear()  # spans only: metric points are cumulative
    memory = watchkit.db.wrap_connect(sqlite3.connect)(":memory:")
    memory.execute("SELECT 1")
    memory.close()
    assert "db.namespace" not in telemetry.spans()[-1].attributes  # type: ignore[operator]
    explicit = watchkit.db.instrument_connection(
        sqlite3.connect(":memory:"), namespace=str(tmp_path / "audit.sqlite3")
    )
    explicit.execute("SELECT 1")
    explicit.close()
    assert _namespaces(telemetry) == {"orders.db", "audit.sqlite3"}


def test_django_sqlite_name_as_a_path_object_is_named_like_the_others(tmp_path: Path) -> None:
    """Django's default NAME is a Path (BASE_DIR / "db.sqlite3"): the same base name."""
    for name in (tmp_path / "db.sqlite3", str(tmp_path / "db.sqlite3")):
        connection = SimpleNamespace(settings_dict={"NAME": name}, vendor="sqlite")
        assert _target(connection).namespace == "db.sqlite3"
    postgres = SimpleNamespace(settings_dict={"NAME": "shop"}, vendor="postgresql")
    assert _target(postgres).namespace == "shop"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/srv/app/data/orders.db", "orders.db"),
        ("C:\\app\\orders.db", "orders.db"),
        ("file:orders.db?mode=ro", "orders.db"),
        ("file:/srv/app/orders.db?cache=shared#x", "orders.db"),
        ("orders.db", "orders.db"),
        (":memory:", ":memory:"),
        ("", None),
        (None, None),
    ],
)
def test_namespace_of_sqlite_names(name: str | None, expected: str | None) -> None:
    """Paths, Windows paths and URI filenames all give the file's base name."""
    assert namespace_of("sqlite", name) == expected
    assert namespace_of("postgresql", "/not/a/path") == "/not/a/path"
