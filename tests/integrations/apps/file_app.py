"""A WSGI app sending a file through ``wsgi.file_wrapper`` (run under gunicorn).

``/file`` sends this module's source; ``/reads`` says how often Python read the
file (0 when the server used ``sendfile()``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any

from tests.integrations.apps.common import configure_from_env
from watchkit.integrations.wsgi import WatchkitMiddleware

configure_from_env()
READS = [0]


class CountingFile(io.FileIO):
    """A file that counts read() calls; sendfile() never calls it."""

    def read(self, size: int = -1) -> bytes:
        READS[0] += 1
        return super().read(size)


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/file":
        size = os.path.getsize(__file__)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](CountingFile(__file__))  # type: ignore[no-any-return]
    body = str(READS[0]).encode() if path == "/reads" else b"ok"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


app = WatchkitMiddleware(_app)
