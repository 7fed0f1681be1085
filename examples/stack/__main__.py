"""``python -m examples.stack --rules RULES --alertmanager ROUTING [--target HOST:PORT]``.

Prometheus 2.42 (Debian) has no OTLP receiver, and the rotel collector used in
the tests exports OTLP, Datadog, ClickHouse, X-Ray and Kafka but neither
Prometheus remote-write nor a scrape endpoint; so Prometheus scrapes the
application's own pull endpoint. Both servers listen on loopback only and keep
their data in a temporary directory removed on exit (unless ``--data``).
Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import yaml

_INSTALL = "install the Debian packages prometheus and prometheus-alertmanager (make services)"


class StackError(Exception):
    """A file, a binary or a server is not what the stack needs; the message says which."""


def _binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    raise StackError(f"{' or '.join(names)} is not installed: {_INSTALL}")


def _check(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise StackError(f"{what} is refused by {Path(command[0]).name}:\n"
                         f"{done.stdout}{done.stderr}".rstrip())  # fmt: skip


def _target(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.stack",
        description="Run Prometheus (with generated rules) and Alertmanager (with generated "
        "routing) on loopback, scraping a watchkit /metrics endpoint. Ctrl-C stops both.",
    )
    parser.add_argument(
        "--rules",
        action="append",
        required=True,
        type=Path,
        metavar="FILE",
        help="a generated rule file (python -m watchkit rules); repeatable",
    )
    parser.add_argument(
        "--alertmanager",
        required=True,
        type=Path,
        metavar="FILE",
        help="a generated Alertmanager configuration (python -m watchkit alertmanager)",
    )
    parser.add_argument(
        "--target",
        action="append",
        type=_target,
        metavar="HOST:PORT",
        help="a watchkit Prometheus endpoint to scrape (configure(prometheus_"
        "port=...)); repeatable; default 127.0.0.1:9464",
    )
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--alertmanager-port", type=int, default=9093)
    parser.add_argument(
        "--scrape-interval", default="5s", help="scrape and rule evaluation interval (default 5s)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="keep Prometheus' and Alertmanager's data here (default: a "
        "temporary directory, removed on exit)",
    )
    return parser  # fmt: skip


def _port_free(port: int, option: str) -> None:
    # Another server on the port would answer the readiness probe for ours.
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} is in use; choose another with {option}") from None


def _wait_ready(
    name: str, url: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise StackError(f"{name} exited with status {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise StackError(f"{url} did not answer within {timeout:g} s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Stack:
    """Prometheus and Alertmanager as child processes; :meth:`stop` ends both."""

    def __init__(self, options: argparse.Namespace, directory: Path) -> None:
        self.options = options
        self.directory = directory
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        host = "127.0.0.1"
        self.prometheus_url = f"http://{host}:{options.prometheus_port}"
        self.alertmanager_url = f"http://{host}:{options.alertmanager_port}"

    def start(self) -> None:
        """Check the files with promtool and amtool, start both servers, wait until ready."""
        options, directory = self.options, self.directory
        rules = [path.resolve() for path in options.rules]
        for path in [*rules, options.alertmanager]:
            if not path.is_file():
                raise StackError(f"{path} is not a file")
        _check([_binary("promtool"), "check", "rules", *map(str, rules)], "a rule file")
        _check([_binary("amtool"), "check-config", str(options.alertmanager)],
               "the Alertmanager configuration")  # fmt: skip
        _port_free(options.prometheus_port, "--prometheus-port")
        _port_free(options.alertmanager_port, "--alertmanager-port")
        config = directory / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": options.scrape_interval,
                       "evaluation_interval": options.scrape_interval},
            "rule_files": [str(path) for path in rules],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{options.alertmanager_port}"]}]}]},
            "scrape_configs": [{"job_name": "watchkit", "static_configs": [
                {"targets": options.target or ["127.0.0.1:9464"]}]}],
        }, sort_keys=False))  # fmt: skip
        self._spawn(
            [_binary("prometheus-alertmanager", "alertmanager"),
             f"--config.file={options.alertmanager.resolve()}",
             f"--storage.path={directory / 'alertmanager'}",
             f"--web.listen-address=127.0.0.1:{options.alertmanager_port}",
             "--cluster.listen-address="],
            directory / "alertmanager.log", f"{self.alertmanager_url}/-/ready",
        )  # fmt: skip
        self._spawn(
            [_binary("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={directory / 'prometheus'}",
             f"--web.listen-address=127.0.0.1:{options.prometheus_port}"],
            directory / "prometheus.log", f"{self.prometheus_url}/-/ready",
        )  # fmt: skip

    def _spawn(self, command: list[str], log: Path, ready: str) -> None:
        with log.open("wb") as stream:  # the child keeps its own descriptor
            process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT)
        name = Path(command[0]).name
        self.processes.append((name, process))
        _wait_ready(name, ready, process, log, timeout=60)

    def exited(self) -> str | None:
        """A server that stopped on its own, if any: its name and status."""
        for name, process in self.processes:
            if process.poll() is not None:
                return f"{name} exited with status {process.returncode}"
        return None

    def stop(self) -> None:
        """Terminate both servers (Prometheus first, so it sends nothing to a dead Alertmanager)."""
        for _, process in reversed(self.processes):
            _stop(process)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM.

    Returns:
        0 after a clean stop, 1 if a server failed, 2 for a bad file or a missing binary.
    """
    options = _parser().parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    temporary = options.data is None
    directory = Path(tempfile.mkdtemp(prefix="watchkit-stack-")) if temporary else options.data
    directory.mkdir(parents=True, exist_ok=True)
    stack = Stack(options, directory)
    try:
        stack.start()
        print(
            f"Prometheus:   {stack.prometheus_url}  (alerts: {stack.prometheus_url}/alerts, "
            f"rules: {stack.prometheus_url}/rules, targets: {stack.prometheus_url}/targets)"
        )
        print(f"Alertmanager: {stack.alertmanager_url}")
        print(f"Scraping:     {', '.join(options.target or ['127.0.0.1:9464'])}")
        print("Ctrl-C stops both.", flush=True)
        while not stopping.wait(0.5):
            failed = stack.exited()
            if failed is not None:
                # Keep the logs: they say why.
                temporary = False
                print(f"examples.stack: {failed}; logs kept in {directory}", file=sys.stderr)
                return 1
        return 0
    except StackError as error:
        print(f"examples.stack: {error}", file=sys.stderr)
        return 2 if not stack.processes else 1
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
