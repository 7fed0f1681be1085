"""A process running the synthetic scheduler under a Redis lock (for test_scheduler_locks).

``python -m tests.synthetic.lock_worker REDIS_PORT BASE_URL TAKEOVER``: the
journey GETs ``/tick?pid=<its pid>`` every 0.1 s while this process holds the
lock, so the test server sees which process runs it.
"""

from __future__ import annotations

import os
import sys
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from watchkit import synthetic


def main() -> None:
    redis_port, base_url, takeover = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

    @synthetic.journey("locked-tick", interval=0.1)
    async def tick(j: synthetic.Journey) -> None:
        await j.get("tick", f"/tick?pid={os.getpid()}")

    client = redis.Redis(
        port=redis_port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )
    synthetic.start(base_url=base_url, lock=client, name="two-processes", takeover=takeover)
    print("ready", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
