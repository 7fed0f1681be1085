"""A WSGI app configured at import: under ``gunicorn --preload`` workers fork after configure()."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import watchkit

watchkit.configure()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers with the worker's pid."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
