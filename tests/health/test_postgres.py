"""The SQL check against a real PostgreSQL (the session's private cluster), through real servers.

To take the database away and bring it back on the same address, the checks
reach the cluster through :class:`TcpProxy`, a loopback TCP forwarder the test
controls: ``down()`` closes its listener and every forwarded connection (new
connections are refused, pooled ones are dead, exactly what a client sees when
the server stops), ``up()`` listens on the same port again. The session
cluster itself is never stopped, so other tests keep using it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import threading
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy

from tests.integrations.servers import WsgiThread
from tests.support.postgres import PostgresServer
from watchkit import health
from watchkit.health import HealthRegistry

pytestmark = pytest.mark.server


class TcpProxy:
    """Forwards a loopback port to ``target``; can refuse and drop everything, then resume."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone leaves the socket listening while a thread is in
            # accept(); shutdown() wakes that thread (Linux) and stops the port.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Any:
    forwarder = TcpProxy((postgres_server.host, postgres_server.port)).up()
    yield forwarder
    forwarder.down()


def _dsn(server: PostgresServer, port: int, dbname: str | None = None) -> str:
    return (
        f"host=127.0.0.1 port={port} user={server.user} "
        f"dbname={dbname or server.dbname} connect_timeout=2"
    )


def test_sql_check_on_postgresql_with_psycopg_and_sqlalchemy(postgres_server):
    """SELECT 1 through a psycopg 3 connection factory and an SQLAlchemy (psycopg) engine."""
    registry = HealthRegistry()
    registry.add("pg", health.sql(functools.partial(psycopg.connect, postgres_server.dsn)))
    engine = sqlalchemy.create_engine(postgres_server.url, pool_size=1)
    registry.add("pg-engine", health.sql(engine), component_type="datastore")
    missing = functools.partial(
        psycopg.connect, _dsn(postgres_server, postgres_server.port, "no_such_db")
    )
    registry.add("pg-missing", health.sql(missing), critical=False)
    try:
        report = registry.run_sync("readyz")
    finally:
        engine.dispose()
    by_name = {r.name: r for r in report.results}
    assert by_name["pg"].status == "pass", by_name["pg"]
    assert by_name["pg-engine"].status == "pass", by_name["pg-engine"]
    assert by_name["pg-missing"].status == "fail"
    assert by_name["pg-missing"].error_type == "psycopg.OperationalError"
    assert "no_such_db" in (by_name["pg-missing"].detail or "")
    assert report.status == "warn"  # the failing check is not critical
    body = health.render(report).decode()
    assert "no_such_db" not in body and "127.0.0.1" not in body  # no details by default
    entry = json.loads(body)["checks"]["pg-missing:responseTime"][0]
    assert entry["output"] == "psycopg.OperationalError"


@pytest.mark.parametrize("client", ["psycopg", "sqlalchemy"])
def test_postgresql_down_and_back_gives_503_then_200_and_two_log_lines(
    postgres_server, proxy, client, caplog
):
    """/readyz under werkzeug: 200 while PostgreSQL answers, 503 while it is gone, 200 again.

    With SQLAlchemy the pool holds connections the outage killed; the check
    must not keep failing on them once the database is back.
    """
    registry = HealthRegistry()
    engine = None
    if client == "psycopg":
        target: Any = functools.partial(psycopg.connect, _dsn(postgres_server, proxy.port))
    else:
        url = f"postgresql+psycopg://{postgres_server.user}@127.0.0.1:{proxy.port}/postgres"
        engine = target = sqlalchemy.create_engine(
            url, pool_size=2, connect_args={"connect_timeout": 2}
        )
    registry.add("orders-db", health.sql(target), component_type="datastore", timeout=3.0)
    codes = []
    try:
        with (
            WsgiThread(health.wsgi_app(registry=registry)) as server,
            httpx.Client(base_url=server.url, timeout=10) as http,
            caplog.at_level(logging.INFO, logger="watchkit.health"),
        ):
            codes += [http.get("/readyz").status_code for _ in range(2)]
            proxy.down()
            down = http.get("/readyz")
            codes += [down.status_code, http.get("/readyz").status_code]
            proxy.up()
            codes += [http.get("/readyz").status_code for _ in range(2)]
    finally:
        if engine is not None:
            engine.dispose()
    assert codes == [200, 200, 503, 503, 200, 200]
    assert down.json()["checks"]["orders-db:responseTime"][0]["status"] == "fail"
    lines = [r.getMessage() for r in caplog.records if r.name == "watchkit.health"]
    assert len(lines) == 2, lines
    assert "'orders-db' is now fail (was pass)" in lines[0]
    assert "'orders-db' is now pass (was fail)" in lines[1]


def test_sqlalchemy_check_is_not_failed_by_a_pooled_connection_the_restart_killed(
    postgres_server, proxy
):
    """PostgreSQL gone and back between two probes: the next probe passes.

    The pool still holds a connection the outage closed; using it fails once
    and SQLAlchemy invalidates the pool. The check then asks a fresh
    connection, so readiness reports the database, not the stale connection.
    """
    url = f"postgresql+psycopg://{postgres_server.user}@127.0.0.1:{proxy.port}/postgres"
    engine = sqlalchemy.create_engine(url, pool_size=2, connect_args={"connect_timeout": 2})
    registry = HealthRegistry()
    registry.add("orders-db", health.sql(engine), timeout=3.0)
    try:
        assert registry.run_sync("readyz").status == "pass"
        proxy.down()
        proxy.up()
        result = registry.run_sync("readyz").results[0]
        assert result.status == "pass", result
        proxy.down()  # and while it is really gone, the check fails
        down = registry.run_sync("readyz").results[0]
        assert (down.status, down.error_type) == ("fail", "sqlalchemy.exc.OperationalError")
    finally:
        engine.dispose()
