"""examples/login_demo.py runs against the real redis-server: the 7th attempt gets a 429."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import clean_environ

ROOT = Path(__file__).resolve().parents[2]


def test_login_demo_blocks_the_attacker_through_redis(redis_server) -> None:
    """The demo's endpoint answers 429 to the attacker's 7th try and counts 2 active users."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "login_demo.py")],
        env=clean_environ({"LOGIN_STORE": redis_server.url, "WATCHKIT_EXPORTER": "none"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert "attack 6: 401 Unauthorized: wrong user or password" in lines
    assert "attack 7: 429 Too Many Requests: too many attempts, try again later" in lines
    assert lines[-1] == "active users today: 2"
    assert "Traceback" not in result.stderr
