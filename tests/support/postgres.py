"""A private PostgreSQL cluster (Debian's server package) for tests.

:class:`PostgresServer` runs ``initdb`` into a temporary directory and starts
``postgres`` in the foreground on a free loopback port (TCP only, no Unix
socket, ``trust`` authentication for the ``postgres`` superuser), so the test
process owns it and always stops it. The session fixture ``postgres_server``
is registered for every test module by ``tests/conftest.py``::

    def test_query(postgres_server):
        import psycopg
        with psycopg.connect(postgres_server.dsn) as conn: ...

The binaries come from ``/usr/lib/postgresql/<version>/bin`` (the Debian
``postgresql`` package; ``make services`` (part of ``make test``) installs it when missing), or
from ``PATH``. The fixture fails, naming the script, when none is found.

``initdb`` and ``postgres`` refuse to run as root. As root (CI containers) the
cluster runs as the unprivileged ``nobody`` account (Popen ``user=``/``group=``):
no account is created and nothing outside the temporary directory changes.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PostgresServer", "PostgresStartError", "pg_binaries", "postgres_server"]

_HOST = "127.0.0.1"
_NOBODY = 65534
_live: set[PostgresServer] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for server in leftovers:
        server.stop()


class PostgresStartError(RuntimeError):
    """initdb failed, or the server exited or did not accept connections in time."""


def pg_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, newest version first, or None."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "postgres").exists():
            return Path(directory)
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _demote() -> dict[str, Any]:
    """Popen arguments that run the child as ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return {}
    return {"user": _NOBODY, "group": _NOBODY, "extra_groups": []}


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, on a free loopback port.

    Attributes:
        host: ``127.0.0.1``.
        port: the TCP port, chosen when started.
        user: the superuser (``postgres``, no password).
        dbname: the database tests use (``postgres``).
    """

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.host = _HOST
        self.port = 0
        self.user = "postgres"
        self.dbname = "postgres"
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def dsn(self) -> str:
        """A libpq connection string for the test database."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def url(self) -> str:
        """An SQLAlchemy URL for psycopg 3."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log."""
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def start(self, timeout: float = 30.0) -> PostgresServer:
        """initdb, start the server and wait until it accepts connections."""
        self._dir = Path(tempfile.mkdtemp(prefix="watchkit-pg-"))
        data = self._dir / "data"
        self._log = self._dir / "server.log"
        demote = _demote()
        if demote:
            os.chmod(self._dir, 0o755)
            os.chown(self._dir, _NOBODY, _NOBODY)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        initdb_args = [
            str(self.binaries / "initdb"), "-D", str(data), "-U", self.user,
            "--auth=trust", "--encoding=UTF8", "--no-sync",
        ]  # fmt: skip
        initdb = subprocess.run(
            initdb_args,
            **demote,
            cwd=self._dir,
            env=env,
            capture_output=True,
            check=False,
        )
        if initdb.returncode != 0:
            raise PostgresStartError(f"initdb failed: {initdb.stderr.decode(errors='replace')}")
        self.port = _free_port()
        server_args = [
            str(self.binaries / "postgres"), "-D", str(data),
            "-c", f"listen_addresses={_HOST}", "-c", f"port={self.port}",
            "-c", "unix_socket_directories=", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=50",
        ]  # fmt: skip
        log = open(self._log, "wb")  # noqa: SIM115 - the child keeps writing to it
        if demote:
            os.chown(self._log, _NOBODY, _NOBODY)
        try:
            self._process = subprocess.Popen(
                server_args,
                **demote,
                cwd=self._dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        with _live_lock:
            _live.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise PostgresStartError(f"postgres exited:\n{self.log_tail()}")
            if "ready to accept connections" in self.log_tail(200):
                return self
            time.sleep(0.05)
        self.stop()
        raise PostgresStartError(f"postgres did not start in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with _live_lock:
            _live.discard(self)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session."""
    binaries = pg_binaries()
    if binaries is None:
        # Not a skip: `make test` installs the package (`make services`), so a
        # missing server is a broken machine, not an optional test.
        pytest.fail("PostgreSQL server binaries not found: run make services")
    with PostgresServer(binaries) as server:
        yield server
