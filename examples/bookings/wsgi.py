"""The WSGI application, for gunicorn::

    DJANGO_SETTINGS_MODULE=examples.bookings.settings \\
        gunicorn examples.bookings.wsgi --workers 2 --threads 4 --bind 127.0.0.1:8000

Each worker imports this module, so each configures watchkit for itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.bookings.settings")

from django.core.wsgi import get_wsgi_application
from examples.bookings import checks, observability

observability.setup()
checks.register()
application = get_wsgi_application()
