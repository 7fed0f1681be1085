"""A stand-in payment provider for the reservations example (not instrumented: it is "theirs").

    python -m examples.reservations.payments --port 8001

``POST /v1/charges`` with a JSON body ``{"reference", "amount", "card"}`` answers by card:

- ``tok_declined``: 402, the card is declined;
- ``tok_provider_down``: 503, the provider fails;
- ``tok_slow``: approved after 350 ms (a slow dependency);
- anything else: 200 with a charge id.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from examples.reservations.serve import serve
from flask import Flask, jsonify, request

app = Flask("payments")
_ids = itertools.count(1)


@app.post("/v1/charges")
def charge() -> Any:
    body = request.get_json(force=True)
    card = body.get("card")
    if card == "tok_declined":
        return jsonify(status="declined"), 402
    if card == "tok_provider_down":
        return jsonify(status="error"), 503
    if card == "tok_slow":
        time.sleep(0.35)
    return jsonify(status="succeeded", id=f"ch_{next(_ids)}", amount=body.get("amount"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in payment provider.")
    parser.add_argument("--port", type=int, default=8001)
    serve(app, parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
