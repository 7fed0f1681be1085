"""A hotel booking site's login endpoint, guarded across workers, and its daily active users.

Run it: ``python examples/login_demo.py`` (in-memory store) or, with a Redis
every worker and host shares, ``LOGIN_STORE=redis://localhost:6379/0 python
examples/login_demo.py``. It calls the WSGI app directly with a few requests
arriving through a proxy at 10.0.0.5 (trusted, so the client address comes
from ``X-Forwarded-For``): a guest who mistypes once, then an attacker trying
passwords until the endpoint answers 429. The console shows the audit records,
the ``security.brute_force_suspected`` alert, the ``security.unfamiliar_login``
records and, at exit, ``watchkit.users.active``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import watchkit
from watchkit.security import LoginMonitor

STORE = os.environ.get("LOGIN_STORE", "memory")
PASSWORDS = {"ana": "correct horse", "ben": "battery staple"}

watchkit.configure(service_name="seaview-bookings", trusted_proxies=["10.0.0.0/8"])
LOGINS = LoginMonitor(max_failures=5, window=600, store=STORE, hash_key="demo-secret")
USERS = watchkit.active_users("bookings", store=STORE, periods=("hour", "day"))


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    form = parse_qs(environ.get("QUERY_STRING", ""))
    user = form.get("user", [""])[0]
    password = form.get("password", [""])[0]
    if LOGINS.is_blocked(user=user, request=environ):
        start_response("429 Too Many Requests", [("Content-Type", "text/plain")])
        return [b"too many attempts, try again later\n"]
    ok = PASSWORDS.get(user) == password
    LOGINS.record(ok, user=user, request=environ)
    if ok:
        USERS.record(user)
    start_response("200 OK" if ok else "401 Unauthorized", [("Content-Type", "text/plain")])
    return [b"welcome\n" if ok else b"wrong user or password\n"]


def call(user: str, password: str, client: str, agent: str = "Mozilla/5.0 Firefox/133") -> str:
    environ = {
        "REQUEST_METHOD": "POST",
        "QUERY_STRING": f"user={user}&password={password.replace(' ', '+')}",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_X_FORWARDED_FOR": client,
        "HTTP_USER_AGENT": agent,
    }
    status: list[str] = []
    body = b"".join(app(environ, lambda s, headers: status.append(s)))
    return f"{status[0]}: {body.decode().strip()}"


if __name__ == "__main__":
    print(call("ana", "correct hrose", "203.0.113.7"))
    print(call("ana", "correct horse", "203.0.113.7"))
    print(call("ben", "battery staple", "198.51.100.20"))
    print(call("ana", "correct horse", "192.0.2.44", agent="curl/8.5"))  # new network and device
    for attempt in range(7):
        print(f"attack {attempt + 1}:", call("ben", f"guess{attempt}", "198.18.0.66"))
    print("active users today:", USERS.count("day"))
    watchkit.shutdown()
