"""Flask test app: ``gunicorn tests.integrations.apps.flask_app:app``."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify

import watchkit
from tests.integrations.apps.common import OPTIONS, configure_from_env, probe

configure_from_env()
app = Flask("food")


@app.get("/orders/<int:order_id>")
def get_order(order_id: int) -> Response:
    probe()
    return jsonify(order_id=order_id)


@app.get("/boom")
def boom() -> Response:
    probe()
    raise ValueError("kitchen on fire")


@app.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@app.get("/login")
def login() -> Response:
    response = jsonify(ok="yes")
    response.set_cookie("session", "sekret-cookie")
    return response


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:
        for index in range(3):
            time.sleep(0.1)
            yield f"chunk {index}\n".encode()

    return Response(chunks(), mimetype="text/plain")


watchkit.instrument_flask(app, **OPTIONS)
watchkit.instrument_flask(app, **OPTIONS)  # twice on purpose: must not double anything
