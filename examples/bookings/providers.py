"""Stand-ins for the payment, SMS and e-mail providers: three small HTTP servers on loopback.

    python -m examples.bookings.providers --payments-port 8101 --sms-port 8102 \\
        --email-port 8103 --webhook-url http://127.0.0.1:8000/webhooks/payments

They behave like the real ones often enough to be worth watching:

- payments ``POST /charges``: card token ``tok_declined`` is declined (402), ``tok_error``
  is a 503, ``tok_slow`` answers after the client gave up; otherwise approved. About
  1.2 s later the provider posts a signed webhook with the charge's final status; one
  approved charge in eight later fails at settlement, and a charge the client timed out
  on succeeded: both disagree with the shop's record;
- SMS ``POST /sms``: a number starting ``+999`` is refused (400); one message in six
  meets a busy gateway (503);
- e-mail ``POST /messages``: addresses at ``bounce.example`` bounce; one call in ten is a
  503.

Each server answers ``GET /health``. This module uses the standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import random
import signal
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: Provider
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "pass"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._reply(400, {"error": "invalid JSON"})
            return
        status, answer = self.server.handle(self.path, body)
        self._reply(status, answer)


class Provider(ThreadingHTTPServer):
    """One provider on ``127.0.0.1:port``; ``handle`` is its API."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.random = random.Random()

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (the shop's payment timeout) is no error of the provider."""


class Payments(Provider):
    def __init__(self, port: int, webhook_url: str, secret: str) -> None:
        super().__init__(port)
        self.webhook_url, self.secret = webhook_url, secret.encode()

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/charges":
            return 404, {"error": "not found"}
        charge_id, token = str(body.get("reference", "")), body.get("card_token")
        if token == "tok_error":
            return 503, {"error": "try again later"}
        if token == "tok_declined":
            self._webhook_later(charge_id, "failed")
            return 402, {"charge_id": charge_id, "status": "failed"}
        if token == "tok_slow":
            time.sleep(1.5)  # longer than the shop waits; the charge still goes through
            self._webhook_later(charge_id, "succeeded")
            return 200, {"charge_id": charge_id, "status": "succeeded"}
        settles = self.random.random() >= 1 / 8
        self._webhook_later(charge_id, "succeeded" if settles else "failed")
        return 200, {"charge_id": charge_id, "status": "succeeded"}

    def _webhook_later(self, charge_id: str, status: str) -> None:
        # Sent after the shop's 1 s payment timeout: by then it has recorded the answer.
        timer = threading.Timer(1.2, self._send_webhook, (charge_id, status))
        timer.daemon = True
        timer.start()

    def _send_webhook(self, charge_id: str, status: str) -> None:
        data = json.dumps({"charge_id": charge_id, "status": status}).encode()
        signature = hmac.new(self.secret, data, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.webhook_url,
            data,
            {"Content-Type": "application/json", "X-Payments-Signature": signature},
        )
        # A real provider retries for days; this one does not.
        with contextlib.suppress(OSError):
            urllib.request.urlopen(request, timeout=5).close()


class Sms(Provider):
    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/sms":
            return 404, {"error": "not found"}
        if str(body.get("to", "")).startswith("+999"):
            return 400, {"error": "not a mobile number"}
        if self.random.random() < 1 / 6:
            return 503, {"error": "gateway busy"}
        time.sleep(self.random.uniform(0.01, 0.05))
        return 200, {"status": "queued"}


class Email(Provider):
    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/messages":
            return 404, {"error": "not found"}
        if self.random.random() < 1 / 10:
            return 503, {"error": "rate limited"}
        time.sleep(self.random.uniform(0.01, 0.04))
        if str(body.get("to", "")).endswith("@bounce.example"):
            return 200, {"status": "bounced"}
        return 200, {"status": "delivered"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--payments-port", type=int, default=8101)
    parser.add_argument("--sms-port", type=int, default=8102)
    parser.add_argument("--email-port", type=int, default=8103)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/webhooks/payments")
    parser.add_argument("--webhook-secret", default="change-me")
    args = parser.parse_args(argv)
    servers: list[Provider] = [
        Payments(args.payments_port, args.webhook_url, args.webhook_secret),
        Sms(args.sms_port),
        Email(args.email_port),
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    for server in servers:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
