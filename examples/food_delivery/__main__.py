"""Run the food-delivery example: ``make example NAME=food_delivery``.

``python -m examples.food_delivery [--duration 25]`` does the same. It starts the
stand-in payment provider and the app under uvicorn on free loopback ports, drives
``traffic.py`` for ``--duration`` seconds, prints what happened and where to look, and
stops both servers (also on Ctrl-C). Telemetry goes to the console (stderr) unless
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
from examples.food_delivery import traffic

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(module: str, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``module:app`` under uvicorn on 127.0.0.1:``port``; SIGTERM and wait on the way out."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            f"{module}:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the lifespan shutdown flushes telemetry
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise SystemExit(f"{url} did not start (exit code {process.returncode})") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout:g} s") from None
            time.sleep(0.1)


def environment(
    workdir: Path, app_url: str, payments_url: str, abandon_after: float
) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(
        FOOD_DELIVERY_DB=str(workdir / "orders.sqlite3"),
        FOOD_DELIVERY_PAYMENTS_URL=payments_url,
        FOOD_DELIVERY_SYNTHETIC_BASE_URL=app_url,
        FOOD_DELIVERY_SYNTHETIC_LOCK=str(workdir / "synthetic.lock"),
        FOOD_DELIVERY_ABANDON_AFTER=str(abandon_after),
    )
    # Yours win: set them to see the example behave like a deployment.
    env.setdefault("OTEL_SERVICE_NAME", "food-delivery")
    # ops.yaml's rules select this environment: the generated alerts match the example.
    env.setdefault("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=production")
    env.setdefault("WATCHKIT_TRUSTED_PROXIES", "127.0.0.1")  # traffic.py plays the balancer
    env.setdefault("WATCHKIT_AUDIT_SPOOL_DIR", str(workdir / "audit"))
    env.setdefault("OTEL_METRIC_EXPORT_INTERVAL", "10000")  # a metrics summary every 10 s
    return env


# What the example is about, as Prometheus names (the console summary shows 25 series).
HIGHLIGHTS = (
    "orders_placed",
    "payments_failed",
    "orders_basket_value",
    "checkout_abandoned",
    "watchkit_users_active",
    "watchkit_security_alerts",
    "watchkit_synthetic_runs",
)
# Labels every series carries: left out of the printout.
_COMMON_LABEL = re.compile(r'(otel_scope_\w+|service_name)="[^"]*",?')


def business_metrics(url: str) -> str:
    """The highlighted series from the app's Prometheus endpoint, one per line."""
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.HTTPError as error:
        return f"(no metrics from {url}: {type(error).__name__})"
    lines = [
        _COMMON_LABEL.sub("", line).replace(",}", "}").replace("{}", "")
        for line in text.splitlines()
        if line.startswith(HIGHLIGHTS) and "_bucket{" not in line
    ]
    return f"Business and security metrics ({url}):\n  " + "\n  ".join(lines)


LOOK = """
Where to look
  stdout above   log lines (JSON): order.placed, payment.declined, checkout.abandoned ...
  stderr above   spans per request (POST /orders/{{order_id}}/payment ...), log lines, audit
                 records (audit.order.refund, audit.tracking_map.open), the
                 security.brute_force_suspected warning, and the metrics summaries: orders.placed,
                 payments.failed, orders.basket.value, checkout.abandoned, watchkit.users.active,
                 http.server.request.duration by route, db.client.operation.duration,
                 http.client.request.duration{{service.peer.name=payments}},
                 watchkit.synthetic.runs{{journey=place-order-track-delivery}}
  alerts         examples/food_delivery/ops/ops.yaml -> ops/generated/ (rules, routing, dashboard)
  send elsewhere OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 {command}
"""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.food_delivery",
        description="Run the food-delivery example with traffic.",
    )
    parser.add_argument("--duration", type=float, default=25.0, help="seconds of traffic")
    parser.add_argument(
        "--abandon-after",
        type=float,
        default=5.0,
        help="seconds before an unpaid basket counts as abandoned (app: 900)",
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.abandon_after <= 0:
        parser.error("--duration and --abandon-after must be > 0 seconds")
    # SIGTERM stops the example like Ctrl-C: servers stopped, temporary files removed.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="food-delivery-") as tmp:
        app_port, payments_port = free_port(), free_port()
        # The provider by name, the app by address: watchkit tells dependencies apart by
        # host only, and the in-process journey's calls to the app must not count as payments.
        app_url, payments_url = f"http://127.0.0.1:{app_port}", f"http://localhost:{payments_port}"
        env = environment(Path(tmp), app_url, payments_url, args.abandon_after)
        metrics_url = None
        if importlib.util.find_spec("opentelemetry.exporter.prometheus") is not None:
            metrics_port = free_port()
            env.setdefault("WATCHKIT_PROMETHEUS_PORT", str(metrics_port))
            metrics_url = f"http://127.0.0.1:{env['WATCHKIT_PROMETHEUS_PORT']}/metrics"
        print(f"food delivery: app {app_url}, payment provider {payments_url}", flush=True)
        try:
            with (
                server("examples.food_delivery.payments", payments_port, env) as payments,
                server("examples.food_delivery.app", app_port, env) as app,
            ):
                wait_until_up(f"{payments_url}/docs", payments)
                wait_until_up(f"{app_url}/livez", app)
                print(f"traffic for {args.duration:g} s ...", flush=True)
                outcomes = asyncio.run(traffic.run(app_url, args.duration, seed=args.seed))
                # Let the sweeper count the last baskets as abandoned before stopping.
                time.sleep(min(args.abandon_after, 5.0) + 1)
                print(traffic.report(outcomes), flush=True)
                if metrics_url is not None:
                    print(business_metrics(metrics_url), flush=True)
        except KeyboardInterrupt:
            print("interrupted: servers stopped", file=sys.stderr)
            return 130
    print(LOOK.format(command="python -m examples.food_delivery"))
    return 0


if __name__ == "__main__":
    with suppress(BrokenPipeError):
        sys.exit(main())
