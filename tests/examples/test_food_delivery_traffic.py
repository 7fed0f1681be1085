"""The food-delivery traffic script's bounds: loopback only, and it stops once nothing answers."""

from __future__ import annotations

import asyncio
import time

import pytest
from examples.food_delivery import traffic

from tests.helpers import free_port


@pytest.mark.parametrize(
    "url", ["http://example.com", "https://10.0.0.8:8000", "http://192.168.1.2", "not a url"]
)
def test_refuses_anything_but_loopback(url: str) -> None:
    with pytest.raises(ValueError, match=r"base_url=.*only drives a service on this machine"):
        traffic.check_loopback(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://localhost:1", "http://[::1]:80"])
def test_accepts_loopback(url: str) -> None:
    assert traffic.check_loopback(url) == url.rstrip("/")


def test_the_command_line_names_the_bad_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        traffic.main(["--base-url", "http://203.0.113.9:8000", "--duration", "1"])
    assert exit_.value.code == 2
    assert "base_url='http://203.0.113.9:8000' is not accepted" in capsys.readouterr().err


def test_stops_soon_when_nothing_answers() -> None:
    """Ten connection failures in a row end the run: a dead service is not hammered."""
    started = time.monotonic()
    outcomes = asyncio.run(traffic.run(f"http://127.0.0.1:{free_port()}", 30.0, seed=1))
    assert time.monotonic() - started < 10
    assert sum(outcomes.values()) < 30
    assert all(label.endswith("ConnectError") for label in outcomes)
