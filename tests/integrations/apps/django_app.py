"""Django test app (settings, urls and views in one module): ``application`` is the WSGI app."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import django
from django.conf import settings

from tests.integrations.apps.common import OPTIONS, configure_from_env, probe

configure_from_env()

# A file, not ":memory:": requests served on other threads must see the same tables.
_DB_DIR = tempfile.mkdtemp(prefix="watchkit-django-")
atexit.register(shutil.rmtree, _DB_DIR, True)

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="not-a-secret-test-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[
            "watchkit.integrations.django.WatchkitMiddleware",
            # Listed twice on purpose: the inner one must record nothing.
            "watchkit.integrations.django.WatchkitMiddleware",
        ],
        WATCHKIT=OPTIONS,
        INSTALLED_APPS=["django.contrib.contenttypes"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(_DB_DIR) / "orders.sqlite3"),
            }
        },
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.exceptions import PermissionDenied  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import (  # noqa: E402
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import path  # noqa: E402


def get_order(request: HttpRequest, order_id: int) -> HttpResponse:
    probe()
    return JsonResponse({"order_id": order_id})


def boom(request: HttpRequest) -> HttpResponse:
    probe()
    raise ValueError("kitchen on fire")


def missing_order(request: HttpRequest, order_id: int) -> HttpResponse:
    raise Http404("no such order")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("kitchen staff only")


def kinds(request: HttpRequest) -> HttpResponse:
    """An N+1 on purpose: one query for the list, then one per row."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import cache

    names = cache.get("kinds")
    if names is None:
        names = []
        for kind in ContentType.objects.order_by("id"):
            names.append(ContentType.objects.get(pk=kind.pk).model)
        cache.set("kinds", names)
    return JsonResponse({"kinds": names})


def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def login(request: HttpRequest) -> HttpResponse:
    response = JsonResponse({"ok": "yes"})
    response.set_cookie("session", "sekret-cookie")
    return response


def stream(request: HttpRequest) -> HttpResponse:
    def chunks() -> Iterator[bytes]:
        for index in range(3):
            time.sleep(0.1)
            yield f"chunk {index}\n".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


urlpatterns = [
    path("orders/<int:order_id>", get_order),
    path("boom", boom),
    path("missing/<int:order_id>", missing_order),
    path("forbidden", forbidden),
    path("health", health),
    path("kinds", kinds),
    path("login", login),
    path("stream", stream),
]

application = get_wsgi_application()
