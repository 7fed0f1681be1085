"""An instrumented FastAPI app with health endpoints, served by uvicorn in its own process.

Configured from the environment (the test points it at a rotel collector).
The kubelet-like test probes it and measures this process's memory from the
outside, so the client's own allocations do not count.
"""

from __future__ import annotations

from fastapi import FastAPI

import watchkit
from watchkit.health import HealthRegistry
from watchkit.integrations import health as health_endpoints

watchkit.configure(service_name="probe-loop")

registry = HealthRegistry()
registry.add("loop", lambda: None, kind="liveness")
registry.add("db", lambda: None, component_type="datastore", ttl=1.0)
registry.add("cache", lambda: True, critical=False)

app = FastAPI()
app.include_router(health_endpoints.fastapi_router(registry=registry))


@app.get("/orders/{order_id}")
def order(order_id: int) -> dict[str, int]:
    return {"order_id": order_id}


watchkit.instrument_fastapi(app)
