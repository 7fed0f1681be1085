"""Serve the reservations app with werkzeug's threaded WSGI server.

    python -m examples.reservations.serve --port 8000

(In production use gunicorn: ``gunicorn -w 4 examples.reservations.app:app``; see the
how-to "run behind gunicorn".) SIGTERM and Ctrl-C stop the server through ``sys.exit``,
so the ``atexit`` hook of ``watchkit.configure()`` flushes the last requests' telemetry.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from werkzeug.serving import make_server


def serve(app: Any, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or Ctrl-C, then return normally."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the reservations app.")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    from examples.reservations.app import app

    # The request spans and metrics say more than werkzeug's access log, line for line.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(app, args.port)


if __name__ == "__main__":
    main()
