"""Django settings of the bookings service: one module, SQLite, watchkit's middleware first.

Everything that differs between a laptop and production comes from the environment
(``python -m examples.bookings`` sets it for the processes it starts):

- ``BOOKINGS_DB``: the SQLite file;
- ``BOOKINGS_REDIS_URL``: Redis, the Celery broker and the login monitor's shared store;
- ``BOOKINGS_PAYMENTS_URL``, ``BOOKINGS_SMS_URL``, ``BOOKINGS_EMAIL_URL``: the providers;
- ``BOOKINGS_WEBHOOK_SECRET``: the key the payment provider signs its webhooks with;
- ``BOOKINGS_LOGIN_HASH_KEY``: keys the hashes of IPs and user names kept in Redis;
- ``BOOKINGS_LOG_DIR``, ``BOOKINGS_BACKUP_DIR``: the paths whose free space is watched.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(os.environ.get("BOOKINGS_DATA", Path.cwd() / ".bookings"))

DB_PATH = os.environ.get("BOOKINGS_DB", str(DATA / "bookings.sqlite3"))
REDIS_URL = os.environ.get("BOOKINGS_REDIS_URL", "redis://127.0.0.1:6379/0")
PAYMENTS_URL = os.environ.get("BOOKINGS_PAYMENTS_URL", "http://127.0.0.1:8101")
SMS_URL = os.environ.get("BOOKINGS_SMS_URL", "http://127.0.0.1:8102")
EMAIL_URL = os.environ.get("BOOKINGS_EMAIL_URL", "http://127.0.0.1:8103")
WEBHOOK_SECRET = os.environ.get("BOOKINGS_WEBHOOK_SECRET", "change-me")
LOGIN_HASH_KEY = os.environ.get("BOOKINGS_LOGIN_HASH_KEY", "change-me-too")
LOG_DIR = os.environ.get("BOOKINGS_LOG_DIR", str(DATA / "log"))
BACKUP_DIR = os.environ.get("BOOKINGS_BACKUP_DIR", str(DATA / "backups"))

SECRET_KEY = os.environ.get("BOOKINGS_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "examples.bookings.urls"
WSGI_APPLICATION = "examples.bookings.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "examples.bookings",
]
# No CSRF middleware: this is a JSON API for the school's apps, authenticated by session cookie
# from first-party clients only. A site serving HTML forms keeps CsrfViewMiddleware.
MIDDLEWARE = [
    "watchkit.integrations.django.WatchkitMiddleware",  # first, so it times everything below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
WATCHKIT = {
    # ORM queries: spans, db.client.operation.duration, slow-query lines and the N+1 event.
    "databases": {"slow_query_threshold": 0.1, "n_plus_one_count": 5},
}
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
# A fast hasher keeps the demo's logins cheap; keep Django's default (PBKDF2) in production.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DB_PATH,
        # Two gunicorn workers and their threads write to one file: wait for the lock.
        "OPTIONS": {"timeout": 10},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
# watchkit writes the log lines (JSON on stdout, and OTLP when an endpoint is set).
LOGGING_CONFIG = None
