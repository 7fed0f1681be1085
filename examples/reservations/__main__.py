"""Run the reservations example: ``make example NAME=reservations``.

The same as ``python -m examples.reservations`` from the repository root.

Starts, each as its own process on a free loopback port:

1. a private ``redis-server`` (Debian's package) with a small ``maxmemory`` and the
   ``volatile-lru`` policy, so the availability cache really evicts under the traffic while
   the job queue (a list without expiry) is never evicted;
2. the stand-in payment provider (``payments.py``);
3. the Flask app under werkzeug's threaded server (``serve.py``, which imports ``app.py``);
4. the background worker (``worker.py``);

then drives ``traffic.py`` for ``--duration`` seconds, stops everything (also on Ctrl-C)
and says where to look. Telemetry goes to the console, or to the OTLP collector at
``OTEL_EXPORTER_OTLP_ENDPOINT`` when it is set.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from examples.reservations.traffic import Traffic

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(what: str, ready: object, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # each process flushes its telemetry on the way out
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within 20 s: killed", file=sys.stderr)
            process.kill()
            process.wait(5)


# What the example is about, among the many series the console exporter cuts short.
KEY_METRICS = (
    "reservations_", "watchkit_flow_duration_seconds_count", "watchkit_cache_operations_total",
    "watchkit_cache_redis_", "watchkit_queue_jobs_total", "watchkit_queue_depth",
    "watchkit_security_alerts_total",
)  # fmt: skip


def key_metrics(ports: tuple[int, int]) -> str:
    """The example's own series from the app's and the worker's ``/metrics``, condensed."""
    lines = ["key metrics (from the /metrics of the app and the worker):"]
    for port in ports:
        try:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.RequestException as error:
            lines.append(f"  port {port}: {type(error).__name__}")
            continue
        for line in text.splitlines():
            if line.startswith(KEY_METRICS):
                name, _, value = line.rpartition(" ")
                labels = ",".join(
                    pair for pair in name[name.find("{") + 1 : -1].split(",")
                    if not pair.startswith(("otel_scope", "service_name", "deployment_"))
                )  # fmt: skip
                lines.append(f"  {name.split('{')[0]}{{{labels}}} {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the reservations example with traffic.")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of traffic")
    parser.add_argument("--maxmemory", default="2mb", help="redis-server maxmemory (2mb)")
    parser.add_argument("--concurrency", type=int, default=4, help="traffic threads")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics for Prometheus: the app on this port, the worker on the next "
        "(default: free ports, if watchkit[prometheus] is installed; 0: none)",
    )
    args = parser.parse_args(argv)
    if args.metrics_port is None:  # free ports, to print the key metrics at the end
        exporter = importlib.util.find_spec("opentelemetry.exporter.prometheus")
        metrics_ports = (free_port(), free_port()) if exporter is not None else (0, 0)
    elif args.metrics_port:
        metrics_ports = (args.metrics_port, args.metrics_port + 1)
    else:
        metrics_ports = (0, 0)
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print("redis-server is not installed: apt-get install redis-server (or make services)",
              file=sys.stderr)  # fmt: skip
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="watchkit-reservations-"))
    redis_port, payments_port, app_port = free_port(), free_port(), free_port()
    base_url = f"http://127.0.0.1:{app_port}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(
        RESERVATIONS_DATABASE_URL=f"sqlite:///{workdir / 'reservations.sqlite3'}",
        RESERVATIONS_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        RESERVATIONS_PAYMENTS_URL=f"http://127.0.0.1:{payments_port}",
    )
    env.setdefault("WATCHKIT_AUDIT_SPOOL_DIR", str(workdir / "audit"))
    # The environment ops/ops.yaml declares, so the generated rules select these series.
    env.setdefault("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=production")
    env.setdefault("OTEL_METRIC_EXPORT_INTERVAL", "10000")  # ms: a few exports in one run

    def start(*command: str, metrics_port: int = 0) -> subprocess.Popen[bytes]:
        child = dict(env)
        if metrics_port:
            child["WATCHKIT_PROMETHEUS_PORT"] = str(metrics_port)
        return subprocess.Popen(command, cwd=ROOT, env=child, stdin=subprocess.DEVNULL)

    python = sys.executable
    with ExitStack() as running:
        running.callback(shutil.rmtree, workdir, ignore_errors=True)
        redis = start(
            redis_server, "--port", str(redis_port), "--bind", "127.0.0.1",
            "--dir", str(workdir), "--save", "", "--appendonly", "no",
            "--logfile", str(workdir / "redis.log"),
            # Small on purpose: the availability cache fills it within seconds. Only keys
            # with a TTL (cache entries) are evicted; the job queue has none.
            "--maxmemory", args.maxmemory, "--maxmemory-policy", "volatile-lru",
        )  # fmt: skip
        running.callback(_stop, redis, "redis-server")
        _wait("redis-server", lambda: _redis_answers(redis_port), redis)
        payments = start(python, "-m", "examples.reservations.payments",
                         "--port", str(payments_port))  # fmt: skip
        running.callback(_stop, payments, "payment provider")
        app = start(
            python, "-m", "examples.reservations.serve", "--port", str(app_port),
            metrics_port=metrics_ports[0],
        )  # fmt: skip
        running.callback(_stop, app, "app")
        worker = start(
            python, "-m", "examples.reservations.worker",
            metrics_port=metrics_ports[1],
        )  # fmt: skip
        running.callback(_stop, worker, "worker")
        _wait("payment provider",
              lambda: _answers(f"http://127.0.0.1:{payments_port}/"), payments)  # fmt: skip
        _wait("app", lambda: _answers(f"{base_url}/livez"), app)

        print(f"reservations app on {base_url}; traffic for {args.duration:.0f} s", flush=True)
        traffic = Traffic(base_url)
        try:
            traffic.run(args.duration, concurrency=args.concurrency)
        except KeyboardInterrupt:
            print("interrupted: stopping", file=sys.stderr)
        print(f"traffic: {traffic.summary()}", flush=True)
        if metrics_ports[0]:
            time.sleep(1.5)  # the worker finishes the last jobs
            print(key_metrics(metrics_ports), flush=True)
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    where = f"the collector at {endpoint}" if endpoint else "the console output above"
    print(
        f"Telemetry went to {where}. Look for: spans 'POST /reservations' with the child flow "
        "'reservation.create', its SQL and payment calls and the 'send "
        "confirmations' producer span; the worker's 'process confirmations' spans in the same "
        "trace; metrics reservations.created/.cancelled/.payments, watchkit.cache.operations, "
        "watchkit.cache.redis.evicted_keys, watchkit.queue.jobs/.depth, "
        "db.client.operation.duration; log lines watchkit.db.slow_query and "
        "security.brute_force_suspected. Alerts and dashboard: examples/reservations/ops/.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # during start-up: everything started is stopped already
        sys.exit(130)
