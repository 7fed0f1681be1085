"""The options every HTTP integration accepts, validated once per middleware."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypedDict

from opentelemetry.trace import Span

from watchkit._exceptions import ConfigError
from watchkit._internal import semconv

__all__ = ["HttpConfig", "HttpOptions", "RequestHook", "ResponseHook", "compile_patterns"]

RequestHook = Callable[[Span, Mapping[str, Any]], None]
"""``hook(span, request)``: ``request`` is the ASGI scope or the WSGI environ
(Django's ``request.META``)."""

ResponseHook = Callable[[Span, "int | None", Callable[[str], "list[str] | None"]], None]
"""``hook(span, status, header)``: ``header(name)`` gives the values of one
response header (lower-case name), or None."""


class HttpOptions(TypedDict, total=False):
    """Options every HTTP integration accepts (all optional).

    Attributes:
        excluded_urls: regexes searched in the request path; matching requests get
            no span and no metrics. Default: ``configure(excluded_urls=...)`` /
            ``WATCHKIT_EXCLUDED_URLS`` (the health endpoints).
        capture_request_headers: request header names recorded as
            ``http.request.header.<name>`` span attributes (case-insensitive).
        capture_response_headers: response header names recorded as
            ``http.response.header.<name>``.
        tracing: ``False`` records the metrics, request id and log context but no
            span (and does not read incoming trace context).
        request_hook: called as ``hook(span, request)`` when the server span has
            started (``request``: the ASGI scope or WSGI environ), to add attributes.
        response_hook: called as ``hook(span, status, header)`` when the response
            starts. Hooks run only for recording spans; one that raises is logged
            once (with its traceback) and never breaks the request.
    """

    excluded_urls: Sequence[str]
    capture_request_headers: Sequence[str]
    capture_response_headers: Sequence[str]
    tracing: bool
    request_hook: RequestHook
    response_hook: ResponseHook


_OPTION_NAMES: Final = tuple(sorted(HttpOptions.__annotations__))
# An HTTP header name (RFC 9110 token): anything else can never be captured.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _known_methods() -> frozenset[str]:
    override = os.environ.get("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "").strip()
    if not override:
        return semconv.HTTP_KNOWN_METHODS
    return frozenset(m.strip() for m in override.split(",") if m.strip())


def _strings(value: object, option: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigError(
            f"{where}: option {option}={value!r} is not accepted; use a list of strings"
        )
    items = tuple(value)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(
            f"{where}: option {option}={value!r} is not accepted; use a list of non-empty strings"
        )
    return tuple(item.strip() for item in items)


def _header_names(value: object, option: str, where: str) -> tuple[str, ...]:
    names = tuple(h.lower() for h in _strings(value, option, where))
    for name in names:
        if _HEADER_NAME.fullmatch(name) is None:
            raise ConfigError(
                f"{where}: option {option} has {name!r}, which is not an HTTP header name; "
                "use names of letters, digits and !#$%&'*+-.^_`|~"
            )
    return names


def _hook(options: Mapping[str, Any], option: str, where: str) -> Any:
    hook = options.get(option)
    if hook is not None and not callable(hook):
        raise ConfigError(
            f"{where}: option {option}={hook!r} is not accepted; use a function or None"
        )
    return hook


def compile_patterns(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regex searching for any of ``patterns`` (None for none)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class HttpConfig:
    """Validated options of one middleware instance.

    Raises:
        ConfigError: an unknown option or an invalid value; the message names it.
    """

    __slots__ = (
        "_excluded",
        "_excluded_option",
        "_header_owner",
        "_request_headers",
        "_response_headers",
        "capture_request_headers",
        "capture_response_headers",
        "known_methods",
        "request_hook",
        "response_hook",
        "tracing",
        "wants_response_headers",
        "where",
    )

    def __init__(self, options: Mapping[str, Any], where: str) -> None:
        self.where = where
        for name in options:
            if name not in _OPTION_NAMES:
                raise ConfigError(
                    f"{where}: unknown option {name!r}; accepted options: "
                    + ", ".join(_OPTION_NAMES)
                )
        tracing = options.get("tracing", True)
        if not isinstance(tracing, bool):
            raise ConfigError(
                f"{where}: option tracing={tracing!r} is not accepted; use True or False"
            )
        self.tracing = tracing
        self._excluded_option: re.Pattern[str] | None = None
        self._excluded: bool = "excluded_urls" in options
        if self._excluded:
            patterns = _strings(options["excluded_urls"], "excluded_urls", where)
            try:
                self._excluded_option = compile_patterns(patterns)
            except re.error as error:
                raise ConfigError(
                    f"{where}: option excluded_urls={list(patterns)!r} is not accepted; "
                    f"use valid regular expressions ({error})"
                ) from None
        self.capture_request_headers = _header_names(
            options.get("capture_request_headers", ()), "capture_request_headers", where
        )
        self.capture_response_headers = _header_names(
            options.get("capture_response_headers", ()), "capture_response_headers", where
        )
        self.request_hook: RequestHook | None = _hook(options, "request_hook", where)
        self.response_hook: ResponseHook | None = _hook(options, "response_hook", where)
        self.wants_response_headers = bool(self.capture_response_headers) or (
            self.response_hook is not None
        )
        self.known_methods = _known_methods()
        # The header plans depend on the redaction settings: rebuilt when the
        # per-pipeline instruments object (which carries them) is a new one.
        self._header_owner: object = None
        self._request_headers: tuple[tuple[str, str, bool], ...] = ()
        self._response_headers: tuple[tuple[str, str, bool], ...] = ()

    def excluded_pattern(self, settings_pattern: re.Pattern[str] | None) -> re.Pattern[str] | None:
        """The excluded-URL regex in force (the option's, else the settings')."""
        return self._excluded_option if self._excluded else settings_pattern

    def _plan(self, owner: object) -> None:
        from watchkit.integrations._http.headers import header_plan

        self._request_headers = header_plan(
            self.capture_request_headers, semconv.HTTP_REQUEST_HEADER_PREFIX
        )
        self._response_headers = header_plan(
            self.capture_response_headers, semconv.HTTP_RESPONSE_HEADER_PREFIX
        )
        self._header_owner = owner

    def request_header_plan(self, owner: object) -> tuple[tuple[str, str, bool], ...]:
        """``(header, attribute key, redacted)`` per captured request header."""
        if self._header_owner is not owner:
            self._plan(owner)
        return self._request_headers

    def response_header_plan(self, owner: object) -> tuple[tuple[str, str, bool], ...]:
        """``(header, attribute key, redacted)`` per captured response header."""
        if self._header_owner is not owner:
            self._plan(owner)
        return self._response_headers
