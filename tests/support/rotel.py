"""Run a real rotel OpenTelemetry collector as a subprocess for end-to-end tests.

`rotel <https://github.com/streamfold/rotel>`_ is a Rust OpenTelemetry
collector whose PyPI wheel ships the ``rotel-agent`` binary inside the
``rotel`` package. :class:`RotelCollector` runs that binary in the
*foreground* with :class:`subprocess.Popen` (never ``--daemon``), so the test
process owns it, can signal it directly and always reaps it.

The collector receives OTLP over gRPC and HTTP on two free loopback ports and
forwards all three signals with its ``otlp`` exporter over OTLP/HTTP to an
:class:`~tests.support.receiver.OtlpReceiver` (or any other URL)::

    app (SDK) --OTLP gRPC/HTTP--> rotel-agent --OTLP/HTTP, gzip--> OtlpReceiver

Observed rotel behaviour (wheel ``rotel 0.0.1a15``, whose binary reports
``rotel 0.0.1-alpha10``), all measured on loopback:

* Start-up takes ~11 ms (max 12 ms over 20 runs) from ``Popen`` until both
  ports accept; a full start/stop cycle ~15 ms. A fresh collector per test
  is therefore affordable. Foreground mode writes no pid file.
* ``--disable-batching`` forwards every incoming export as one outgoing
  request at once: a span reaches the receiver 1-2 ms after it ends (SDK
  ``SimpleSpanProcessor``, gRPC or HTTP). With batching the delay is one to
  two batch timeouts: 10-20 ms at ``--batch-timeout 10ms``, 200-400 ms at
  the 200 ms default. rotel acknowledges the client *before* forwarding, so
  a successful SDK export proves nothing about delivery; only the receiver
  does.
* Export is OTLP/HTTP protobuf, gzip-compressed by default, to
  ``<endpoint>/v1/{traces,metrics,logs}`` (user agent ``Rotel Rust/...``).
* Payloads pass through unchanged: resource attributes, scope names,
  ``LogRecord.event_name``, delta *and* cumulative temporality, exponential
  histograms, kvlist/bytes bodies. rotel adds no resource attributes unless
  ``--otel-resource-attributes k=v,...`` is given, and those are merged into
  every forwarded resource *overriding* existing keys (even ``service.name``).
* Its OTLP/HTTP receiver also accepts OTLP/JSON (answering
  ``{"partialSuccess":null}``); ``/v1/profiles`` is 404; an undecodable
  protobuf body is a 400 plus an ``ERROR`` log line, an unknown content type
  a silent 400.
* Backend answers 429, 500, 502, 503 and 504 are retried with jittered
  exponential backoff per ``--otlp-exporter-retry-*``; the defaults (5 s
  initial, 300 s max elapsed) are far too slow for tests, so this class
  shortens them. Once the backend recovers the batch is delivered; after
  ``retry_max_elapsed_time`` it is dropped ("Exporting failed, dropping
  data"). A 400 is dropped at once, without retry.
* SIGTERM normally exits with status 0 within a few ms. While an export is
  being retried, shutdown waits ~3 s ("timed out waiting for exporters to
  exit"), exits with status 1 and drops that data; :meth:`RotelCollector.kill`
  avoids the wait.
* Every flag can also come from a ``ROTEL_*`` environment variable, so those
  are scrubbed from the child environment; a flag given twice is a usage
  error (exit 2), so ``extra_args`` cannot override flags this class sets.
* Logs carry ANSI colours even when redirected unless ``NO_COLOR`` is set.
* A port already in use makes it exit 1 with "Address already in use".
* It does not exit when its parent dies, so agents still running at
  interpreter exit are killed by an :mod:`atexit` hook.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from tests.support.receiver import OtlpReceiver

__all__ = ["RotelCollector", "RotelStartError", "agent_binary", "free_port"]

_HOST = "127.0.0.1"
_RUN_HEADER = "=== rotel-agent "
# Inherited variables that would silently reconfigure the agent: every CLI
# flag has a ROTEL_* twin, and clap lets the environment fill unset flags.
_SCRUBBED_ENV_PREFIXES = ("ROTEL_", "OTEL_", "RUST_LOG")

# Strong references on purpose: a collector must outlive its process, both so
# the atexit hook can reach it and to avoid Popen's "still running" warning.
_live: set[RotelCollector] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    """Kills agents a crashed or interrupted test run did not stop."""
    with _live_lock:
        leftovers = list(_live)
    for collector in leftovers:
        collector.kill()


class RotelStartError(RuntimeError):
    """The agent exited or did not open its ports in time."""


def agent_binary() -> Path:
    """Locates the ``rotel-agent`` executable shipped inside the rotel wheel.

    Returns:
        Path of the executable.

    Raises:
        FileNotFoundError: If the wheel does not contain a usable binary
            (e.g. an sdist install or an unsupported platform).
    """
    # find_spec() locates the package without importing it (rotel's __init__
    # pulls in its own config machinery, which we do not use).
    spec = importlib.util.find_spec("rotel")
    if spec is None or not spec.submodule_search_locations:
        msg = "the rotel package is not installed (pip install rotel)"
        raise FileNotFoundError(msg)
    path = Path(next(iter(spec.submodule_search_locations))) / "rotel-agent"
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"rotel-agent executable not found at {path}; is the rotel wheel installed?"
        raise FileNotFoundError(msg)
    return path


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago.

    The port is released before returning, so another process could grab it
    before the agent binds it; :meth:`RotelCollector.start` retries with new
    ports in that case.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((_HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class RotelCollector:
    """A ``rotel-agent`` subprocess listening on free loopback ports.

    The ports are chosen on the first :meth:`start` and kept for the lifetime
    of the object, so ``stop()`` followed by ``start()`` brings the collector
    back on the *same* endpoints, which is how tests simulate a collector
    outage that an application has to survive.

    The agent's stdout and stderr go to :attr:`log_path` (appended to across
    restarts); :meth:`log_text` returns it for failure messages.

    Example:
        >>> with OtlpReceiver() as receiver, RotelCollector(receiver) as rotel:  # doctest: +SKIP
        ...     exporter = OTLPSpanExporter(endpoint=rotel.grpc_endpoint, insecure=True)
    """

    def __init__(
        self,
        export_to: OtlpReceiver | str,
        *,
        log_dir: Path | str | None = None,
        disable_batching: bool = True,
        batch_timeout: str = "10ms",
        retry_initial_backoff: str = "50ms",
        retry_max_backoff: str = "500ms",
        retry_max_elapsed_time: str = "30s",
        request_timeout: str = "2s",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        """Configures (but does not start) a collector.

        Durations use rotel's syntax (``"50ms"``, ``"2s"``).

        Args:
            export_to: Receiver (its :attr:`~OtlpReceiver.endpoint` is
                resolved lazily at start) or base URL such as
                ``"http://127.0.0.1:4318"``; rotel appends ``/v1/<signal>``.
            log_dir: Directory for the agent's log file. Defaults to a fresh
                temporary directory that :meth:`close` removes.
            disable_batching: Forward every incoming export immediately
                (``--disable-batching``), the lowest-latency option.
            batch_timeout: ``--batch-timeout`` used when batching stays on.
            retry_initial_backoff: First retry delay after a failed export.
            retry_max_backoff: Upper bound of the exponential retry delay.
            retry_max_elapsed_time: Give up (drop the batch) after this long.
            request_timeout: Timeout of one export request to the backend.
            extra_args: Additional ``rotel-agent start`` flags, appended last.
            startup_timeout: Seconds to wait for both ports to accept.
            stop_timeout: Seconds to wait after SIGTERM before SIGKILL.
        """
        self._export_to = export_to
        self._log_dir = None if log_dir is None else Path(log_dir)
        self._owns_log_dir = log_dir is None
        self._disable_batching = disable_batching
        self._batch_timeout = batch_timeout
        self._retry = (retry_initial_backoff, retry_max_backoff, retry_max_elapsed_time)
        self._request_timeout = request_timeout
        self._extra_args = tuple(extra_args)
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._grpc_port = 0
        self._http_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.startup_seconds: float | None = None
        """Seconds the most recent :meth:`start` took until both ports accepted."""

    # ------------------------------------------------------------------ paths

    @property
    def log_dir(self) -> Path:
        """Directory holding the agent log (a temporary one is created on first use)."""
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="rotel-"))
        return self._log_dir

    @property
    def log_path(self) -> Path:
        """The agent's log file: stdout and stderr of every run, appended."""
        return self.log_dir / "rotel-agent.log"

    # ------------------------------------------------------------------ endpoints

    @property
    def grpc_port(self) -> int:
        """Port of the OTLP/gRPC receiver (0 before the first start)."""
        return self._grpc_port

    @property
    def http_port(self) -> int:
        """Port of the OTLP/HTTP receiver (0 before the first start)."""
        return self._http_port

    @property
    def grpc_endpoint(self) -> str:
        """OTLP/gRPC endpoint, e.g. ``http://127.0.0.1:40001`` (plaintext)."""
        return f"http://{_HOST}:{self._require_port(self._grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """OTLP/HTTP base endpoint; SDK HTTP exporters need ``/v1/<signal>`` appended."""
        return f"http://{_HOST}:{self._require_port(self._http_port)}"

    def http_url(self, signal: str) -> str:
        """Full OTLP/HTTP URL for ``"traces"``, ``"metrics"`` or ``"logs"``."""
        return f"{self.http_endpoint}/v1/{signal}"

    @staticmethod
    def _require_port(port: int) -> int:
        if not port:
            msg = "RotelCollector has not been started yet"
            raise RuntimeError(msg)
        return port

    @property
    def export_endpoint(self) -> str:
        """Base URL the agent exports to."""
        target = self._export_to
        return target if isinstance(target, str) else target.endpoint

    @property
    def running(self) -> bool:
        """Whether the agent process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the running agent, if any."""
        return self._process.pid if self._process is not None else None

    # ------------------------------------------------------------------ lifecycle

    def command(self) -> list[str]:
        """The full ``rotel-agent start`` command line for the current ports."""
        initial_backoff, max_backoff, max_elapsed = self._retry
        args = [
            str(agent_binary()),
            "start",
            # Foreground (no --daemon) so we own the process; the pid file is
            # written anyway, so keep it out of the shared /tmp default.
            "--pid-file",
            str(self.log_dir / "rotel-agent.pid"),
            # Only used by --daemon, but also defaults to a shared /tmp path.
            "--log-file",
            str(self.log_path),
            "--otlp-grpc-endpoint",
            f"{_HOST}:{self._grpc_port}",
            "--otlp-http-endpoint",
            f"{_HOST}:{self._http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            self.export_endpoint,
            "--otlp-exporter-protocol",
            "http",
            "--otlp-exporter-request-timeout",
            self._request_timeout,
            "--otlp-exporter-retry-initial-backoff",
            initial_backoff,
            "--otlp-exporter-retry-max-backoff",
            max_backoff,
            "--otlp-exporter-retry-max-elapsed-time",
            max_elapsed,
        ]
        if self._disable_batching:
            args.append("--disable-batching")
        else:
            args += ["--batch-timeout", self._batch_timeout]
        args += self._extra_args
        return args

    def start(self) -> RotelCollector:
        """Starts the agent (idempotent) and waits until both ports accept.

        The first start picks free ports, retrying with new ones if another
        process grabbed them first; later starts reuse the same ports.

        Returns:
            The collector itself, for chaining.

        Raises:
            RotelStartError: If the agent exits early or its ports do not
                open within ``startup_timeout`` (the message has its log).
        """
        if self.running:
            return self
        self._reap()
        first_start = not self._grpc_port
        attempts = 3 if first_start else 1
        for attempt in range(1, attempts + 1):
            if first_start:
                self._grpc_port = free_port()
                self._http_port = free_port()
                while self._http_port == self._grpc_port:
                    self._http_port = free_port()
            try:
                self._spawn_and_wait()
            except RotelStartError:
                # Only a lost race for a freshly picked port is worth retrying.
                last_run = self.log_text().rsplit(_RUN_HEADER, 1)[-1]
                if attempt == attempts or "address already in use" not in last_run.lower():
                    raise
            else:
                return self
        msg = "unreachable"  # pragma: no cover - the loop returns or raises
        raise AssertionError(msg)

    def _spawn_and_wait(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        log_file.write(f"{_RUN_HEADER}{' '.join(self.command())}\n".encode())
        log_file.flush()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(_SCRUBBED_ENV_PREFIXES)
        }
        env["NO_COLOR"] = "1"  # Plain log lines in the file.
        # The agent links against libpython3.X of the interpreter it was installed
        # for; a Python built outside the system paths (pyenv) keeps it in LIBDIR.
        libdir = sysconfig.get_config_var("LIBDIR")
        if libdir:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(
                part for part in (libdir, env.get("LD_LIBRARY_PATH", "")) if part
            )
        began = time.monotonic()
        self._log_file = log_file
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            # Own process group: a Ctrl-C aimed at pytest does not race our
            # orderly SIGTERM shutdown in the fixture teardown.
            start_new_session=True,
        )
        with _live_lock:
            _live.add(self)
        deadline = began + self._startup_timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._reap()
                msg = f"rotel-agent exited with status {code} during start-up\n{self.log_tail()}"
                raise RotelStartError(msg)
            if _port_open(self._grpc_port) and _port_open(self._http_port):
                self.startup_seconds = time.monotonic() - began
                return
            if time.monotonic() > deadline:
                self.kill()
                msg = (
                    f"rotel-agent did not open ports {self._grpc_port}/{self._http_port}"
                    f" within {self._startup_timeout}s\n{self.log_tail()}"
                )
                raise RotelStartError(msg)
            time.sleep(0.01)

    def stop(self) -> int | None:
        """Stops the agent gracefully (SIGTERM), escalating to SIGKILL.

        Idempotent. Ports are kept so that :meth:`start` can restart the
        collector on the same endpoints.

        Returns:
            The agent's exit status, or ``None`` if it was not running.
        """
        return self._terminate(signal.SIGTERM)

    def kill(self) -> int | None:
        """Kills the agent abruptly (SIGKILL), simulating a crash.

        Returns:
            The agent's exit status, or ``None`` if it was not running.
        """
        return self._terminate(signal.SIGKILL)

    def _terminate(self, sig: signal.Signals) -> int | None:
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        code = process.returncode
        self._reap()
        return code

    def _reap(self) -> None:
        """Releases the process handle and log file of an exited agent."""
        if self._process is not None:
            self._process.wait()  # Already exited; avoids a ResourceWarning.
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _live_lock:
            _live.discard(self)

    def restart(self) -> RotelCollector:
        """Stops and starts the agent on the same ports."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stops the agent and removes the log directory if this object created it."""
        self.stop()
        if self._owns_log_dir and self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> RotelCollector:
        """Starts the collector."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stops the collector; keeps its log directory if an exception is propagating."""
        if exc is None:
            self.close()
        else:
            self.stop()
            if sys.version_info >= (3, 11):  # add_note() is new in 3.11.
                exc.add_note(f"rotel-agent log: {self.log_path}\n{self.log_tail()}")

    # ------------------------------------------------------------------ diagnostics

    def log_text(self) -> str:
        """The agent's captured stdout/stderr so far (all restarts)."""
        if self._log_dir is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of :meth:`log_text`, for failure messages."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __repr__(self) -> str:
        """Shows endpoints and state, which pytest prints on fixture errors."""
        state = f"pid={self.pid}" if self.running else "stopped"
        return (
            f"RotelCollector(grpc={self._grpc_port}, http={self._http_port},"
            f" export_to={self._export_to!r}, {state}, log_dir={self._log_dir})"
        )
