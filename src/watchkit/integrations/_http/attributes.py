"""Attribute values of a request: normalised, and cached by their inputs.

Method, scheme, protocol version, route and status are metric attributes, so
only known values pass; the dicts and span names are cached (bounded, because
route and status come from the application) so a request does lookups, not
string formatting.
"""

from __future__ import annotations

from typing import Any, Final

from watchkit._internal import semconv

__all__ = [
    "active_attributes",
    "clear_caches",
    "metric_attributes",
    "normal_scheme",
    "normal_version",
    "span_name",
    "status_text",
]

_CACHE_LIMIT: Final = 4096
# network.protocol.version as clients may send it: werkzeug passes "HTTP/1.01",
# "HTTP/1.001"... through, so anything else is dropped (it is a metric attribute).
_PROTOCOL_VERSIONS: Final = {
    "1.0": "1.0",
    "1.1": "1.1",
    "2": "2",
    "2.0": "2",
    "3": "3",
    "3.0": "3",
}
# url.scheme is a metric attribute too, and behind a proxy fix-up (werkzeug's
# ProxyFix copies X-Forwarded-Proto) it can come from the client.
_SCHEMES: Final = {
    "http": "http", "https": "https", "ws": "ws", "wss": "wss",
    "HTTP": "http", "HTTPS": "https", "WS": "ws", "WSS": "wss",
}  # fmt: skip

_METRIC_ATTRS: dict[tuple[Any, ...], dict[str, Any]] = {}
_ACTIVE_ATTRS: dict[tuple[str, str], dict[str, Any]] = {}
_SPAN_NAMES: dict[tuple[str, str | None], str] = {}
_STATUS_TEXT: dict[int, str] = {}


def normal_scheme(scheme: str) -> str:
    """``url.scheme`` as a metric attribute: one of http/https/ws/wss, else ``_OTHER``."""
    return _SCHEMES.get(scheme) or _SCHEMES.get(scheme.lower(), semconv.HTTP_METHOD_OTHER)


def normal_version(version: str | None) -> str | None:
    """``network.protocol.version`` if it is a known one, else None."""
    return None if version is None else _PROTOCOL_VERSIONS.get(version)


def clear_caches() -> None:
    """Forget the cached metric attribute sets (a new pipeline starts afresh)."""
    _METRIC_ATTRS.clear()


def metric_attributes(
    method: str,
    route: str | None,
    status: int | None,
    scheme: str,
    version: str | None,
    error_type: str | None,
) -> dict[str, Any]:
    """The attributes of the duration and body-size points."""
    key = (method, route, status, scheme, version, error_type)
    found = _METRIC_ATTRS.get(key)
    if found is not None:
        return found
    attrs: dict[str, Any] = {semconv.HTTP_REQUEST_METHOD: method, semconv.URL_SCHEME: scheme}
    if route is not None:
        attrs[semconv.HTTP_ROUTE] = route
    if status is not None:
        attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = status
    if version is not None:
        attrs[semconv.NETWORK_PROTOCOL_VERSION] = version
    if error_type is not None:
        attrs[semconv.ERROR_TYPE] = error_type
    if len(_METRIC_ATTRS) < _CACHE_LIMIT:
        _METRIC_ATTRS[key] = attrs
    return attrs


def active_attributes(method: str, scheme: str) -> dict[str, Any]:
    """The attributes of ``http.server.active_requests``."""
    key = (method, scheme)
    found = _ACTIVE_ATTRS.get(key)
    if found is None:
        found = {semconv.HTTP_REQUEST_METHOD: method, semconv.URL_SCHEME: scheme}
        if len(_ACTIVE_ATTRS) < _CACHE_LIMIT:
            _ACTIVE_ATTRS[key] = found
    return found


def span_name(method: str, route: str | None) -> str:
    """``{method} {route}``, ``{method}`` without a route, ``HTTP`` for ``_OTHER``."""
    key = (method, route)
    found = _SPAN_NAMES.get(key)
    if found is None:
        verb = "HTTP" if method == semconv.HTTP_METHOD_OTHER else method
        found = verb if route is None else f"{verb} {route}"
        if len(_SPAN_NAMES) < _CACHE_LIMIT:
            _SPAN_NAMES[key] = found
    return found


def status_text(status: int) -> str:
    """``error.type`` of a 5xx response: the status code as text."""
    found = _STATUS_TEXT.get(status)
    if found is None:
        found = _STATUS_TEXT[status] = str(status) if 0 < status < 1000 else "_OTHER"
    return found
