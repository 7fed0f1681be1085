"""A stand-in payment provider for the food-delivery example (not instrumented: it is "theirs").

    uvicorn examples.food_delivery.payments:app --port 8001

``POST /v1/charges`` answers 402 for the card token ``tok_declined``, 503 for
``tok_unavailable`` (the provider having a bad minute) and 200 otherwise;
``POST /v1/refunds`` refunds a charge. ``RECEIVED`` keeps the headers of every charge
request, so a test can check that the example sent no trace context to this external
dependency.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI(title="Payments (stand-in)")
RECEIVED: list[dict[str, str]] = []


@app.post("/v1/charges")
async def charge(request: Request) -> Any:
    body = await request.json()
    RECEIVED.append(dict(request.headers))
    if body.get("card_token") == "tok_declined":
        return JSONResponse({"status": "declined"}, status_code=402)
    if body.get("card_token") == "tok_unavailable":
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "succeeded", "id": f"ch_{len(RECEIVED)}", "amount": body.get("amount")}


@app.post("/v1/refunds")
async def refund(request: Request) -> Any:
    body = await request.json()
    if not body.get("charge_id"):
        return JSONResponse({"status": "no such charge"}, status_code=404)
    return {"status": "refunded", "charge_id": body["charge_id"], "amount": body.get("amount")}
