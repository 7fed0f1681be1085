"""FastAPI test app: ``uvicorn tests.integrations.apps.fastapi_app:app``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import FastAPI, Response, WebSocket
from fastapi.responses import StreamingResponse

import watchkit
from tests.integrations.apps.common import OPTIONS, configure_from_env, probe

configure_from_env()
app = FastAPI()


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict[str, int]:
    probe()
    return {"order_id": order_id}


@app.get("/boom")
async def boom() -> None:
    probe()
    raise ValueError("kitchen on fire")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/login")
async def login(response: Response) -> dict[str, str]:
    response.set_cookie("session", "sekret-cookie")
    return {"ok": "yes"}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(3):
            await asyncio.sleep(0.1)
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/endless")
async def endless() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 1024
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(f"{room}: {text}")
    await websocket.close()


watchkit.instrument_fastapi(app, **OPTIONS)
watchkit.instrument_fastapi(app, **OPTIONS)  # twice on purpose: must not double anything
