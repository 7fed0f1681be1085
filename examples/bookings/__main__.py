"""Run the bookings example: ``make example NAME=bookings`` or ``python -m examples.bookings``.

Starts, as real processes on free loopback ports: a private redis-server (the Celery
broker and the login monitor's store; or ``--redis-url`` to use yours), the stand-in
payment/SMS/e-mail providers, a Celery worker (prefork, 2 children) and the Django
application under gunicorn (2 workers). Then it drives ``traffic.py`` for ``--duration``
seconds, lets the worker drain the queues, prints where to look and stops everything
(also on Ctrl-C). Telemetry goes to the console unless ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import redis
from examples.bookings import traffic

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout:.0f} s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (graceful: gunicorn and Celery flush their telemetry), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop the children, last started first; a second Ctrl-C must not leave any behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in reversed(processes):
        stop(process)


def start_redis(directory: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log")],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=0.5)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until("redis-server", answers, process, 10)
    client.close()
    return url, process


def drain(redis_url: str, timeout: float) -> None:
    """Wait until the worker took every confirmation (retries included) off the queues."""
    client = redis.Redis.from_url(redis_url, socket_timeout=1)
    deadline = time.monotonic() + timeout
    quiet_since = None
    with suppress(redis.RedisError):
        while time.monotonic() < deadline:
            busy = sum(int(client.llen(q)) for q in ("notifications", "sms"))
            busy += int(client.hlen("unacked"))  # retries waiting for their countdown
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 1.0:
                break
            time.sleep(0.2)
    client.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start everything, drive the traffic, stop everything; 130 when interrupted."""
    # The children run in sessions of their own (Ctrl-C reaches this process only), so they
    # are stopped here, web first and Redis last, and flush their telemetry on the way out.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(argv)
    except KeyboardInterrupt:
        print("bookings: interrupted; everything is stopped", flush=True)
        return 130


def _run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description="Run the bookings example")
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of traffic")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--concurrency", type=int, default=4, help="learners at once")
    args = parser.parse_args(argv)

    run_dir = Path(tempfile.mkdtemp(prefix="bookings-example-"))
    ports = {name: free_port() for name in ("web", "payments", "sms", "email")}
    base_url = f"http://127.0.0.1:{ports['web']}"
    processes: list[subprocess.Popen[bytes]] = []
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, run_dir, True)
        cleanup.callback(stop_all, processes)
        if args.redis_url:
            redis_url = args.redis_url
        else:
            redis_url, server = start_redis(run_dir)
            processes.append(server)
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
            DJANGO_SETTINGS_MODULE="examples.bookings.settings",
            BOOKINGS_DATA=str(run_dir),
            BOOKINGS_REDIS_URL=redis_url,
            BOOKINGS_PAYMENTS_URL=f"http://127.0.0.1:{ports['payments']}",
            BOOKINGS_SMS_URL=f"http://127.0.0.1:{ports['sms']}",
            BOOKINGS_EMAIL_URL=f"http://127.0.0.1:{ports['email']}",
            BOOKINGS_WEBHOOK_SECRET=os.urandom(16).hex(),
            BOOKINGS_LOGIN_HASH_KEY=os.urandom(16).hex(),
            WATCHKIT_AUDIT_SPOOL_DIR=str(run_dir / "audit"),
        )
        env.setdefault("OTEL_METRIC_EXPORT_INTERVAL", "10000")
        python = sys.executable
        subprocess.run([python, "-m", "examples.bookings.seed"], env=env, cwd=ROOT, check=True)
        processes.append(subprocess.Popen(
            [python, "-m", "examples.bookings.providers",
             "--payments-port", str(ports["payments"]), "--sms-port", str(ports["sms"]),
             "--email-port", str(ports["email"]),
             "--webhook-url", f"{base_url}/webhooks/payments",
             "--webhook-secret", env["BOOKINGS_WEBHOOK_SECRET"]],
            env=env, cwd=ROOT, start_new_session=True,
        ))  # fmt: skip
        processes.append(subprocess.Popen(
            [python, "-m", "celery", "-A", "examples.bookings.tasks", "worker",
             "-Q", "notifications,sms", "--pool=prefork", "--concurrency=2",
             "--loglevel=WARNING", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"bookings-{os.getpid()}@localhost"],
            env=env, cwd=ROOT, start_new_session=True,
        ))  # fmt: skip
        web = subprocess.Popen(
            [python, "-m", "gunicorn", "examples.bookings.wsgi", "--workers", "2",
             "--worker-class", "gthread", "--threads", "4",
             "--bind", f"127.0.0.1:{ports['web']}", "--graceful-timeout", "10"],
            env=env, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        processes.append(web)

        def live() -> bool:
            try:
                return httpx.get(f"{base_url}/livez", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the Django app (gunicorn)", live, web, 60)
        print(f"bookings: serving on {base_url}; traffic for {args.duration:.0f} s", flush=True)
        statuses = traffic.run(base_url, args.duration, concurrency=args.concurrency)
        ready = httpx.get(f"{base_url}/healthz", timeout=5)
        drain(redis_url, timeout=20)
        total = statuses.total()
        errors = sum(n for status, n in statuses.items() if status >= 500)
        print(
            f"\nbookings: {total} requests, by status {dict(sorted(statuses.items()))}, "
            f"5xx {errors / max(total, 1):.1%}\n"
            f"/healthz: {ready.status_code} {ready.text}\n"
            "Look for: the spans 'POST /bookings/<int:booking_id>/payment' and\n"
            "'process bookings.send_sms'; the log records security.brute_force_suspected,\n"
            "payment.status_mismatch (and its audit.payment.status_mismatch record) and\n"
            "notification.bounced; the metrics bookings.auth.attempts, bookings.payment.*,\n"
            "bookings.notifications, watchkit.queue.*, watchkit.dependency.duration and\n"
            "system.filesystem.utilization. Alerts and runbooks: examples/bookings/ops/ and\n"
            "examples/bookings/runbooks/.",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
