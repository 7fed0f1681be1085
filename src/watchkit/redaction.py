"""Scrub secrets from log events, span attributes and audit details.

Two rules, applied everywhere watchkit writes data out:

* **by key**: the value of a sensitive key becomes ``"[REDACTED]"``, whatever it
  is (a string, a number, a nested dict). Keys are compared case-insensitively
  by *words*: ``"X-Api-Key"``, ``"user_password"``, ``"accessToken"`` and
  ``"csrftoken"`` are sensitive; ``"auth_types"``, ``"tokens_used"`` and
  ``"sessions_count"`` are not (see :func:`is_sensitive_key` for the rule).
* **by value**: inside any string, bearer tokens, JWTs, card numbers that pass
  the Luhn check and the configured patterns are replaced by ``"[REDACTED]"``;
  the rest of the string stays readable.

The configured extras (``configure(redact_keys=..., redact_patterns=...)``) are
picked up automatically; matchers are compiled once per configuration, and key
decisions are cached, so the hot path is a dict lookup per key plus one regex
scan per string value. Redaction never raises: an object it cannot inspect is
returned unchanged if it is a plain scalar and replaced by the marker otherwise.

Example:
    >>> from watchkit.redaction import redact
    >>> redact({"user": "ana", "password": "hunter2", "headers": {"X-Api-Key": "k1"}})
    {'user': 'ana', 'password': '[REDACTED]', 'headers': {'X-Api-Key': '[REDACTED]'}}
    >>> redact("Authorization: Bearer abc.def")
    'Authorization: [REDACTED]'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

from watchkit._internal.state import STATE, current_settings

__all__ = [
    "BUILTIN_KEYS",
    "REDACTED",
    "Redactor",
    "is_sensitive_key",
    "redact",
    "redact_attributes",
]

REDACTED: Final = "[REDACTED]"
"""What a redacted value (or part of a string) is replaced with."""

BUILTIN_KEYS: Final[tuple[str, ...]] = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "cookies",
    "session",
    "sessionid",
    "card_number",
    "cvv",
    "ssn",
    "private_key",
)
"""Key names redacted without configuration (compared by words, case-insensitively)."""

# Nested structures deeper than this are not walked; what lies below is replaced
# by the marker (it could hold anything, and recursion must stay bounded).
_MAX_DEPTH: Final = 16
# A glued word ending in one of these names ("csrftoken", "userpassword") is
# sensitive too. Names shorter than this are only matched as whole words, so
# "ssn" does not match "lessn".
_MIN_SUFFIX = 5
_KEY_CACHE_SIZE = 4096
_STRING_CACHE_SIZE = 4096
_MAX_CACHED_STRING = 64
# Container visits one redact() call makes at most (shared or huge structures stay bounded).
_MAX_CONTAINERS = 20_000
# Reprs longer than this are cut before scanning (and shown cut).
_MAX_REPR = 65_536

# Words: camelCase and ALLCaps boundaries, letters and digits split apart.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")

# Value patterns. Card candidates: 13-19 digits not starting with 0 (no payment
# card does; zero-padded ids do), written as cards are: contiguous, or grouped
# 4-4-4-4(-3) / 4-6-5 / 4-6-4 with one kind of separator (space or dash). The
# number must be a token of its own: not glued to a letter, digit or
# underscore, nor to a dash or dot that joins it to another word (UUIDs, hex
# ids, decimals: a uuid4 has a Luhn-valid 13+ digit run across its dashes
# about once in 500). Only Luhn-valid candidates are replaced.
_BEARER = r"\b(?:[Bb]earer|BEARER)\s+[A-Za-z0-9\-._~+/]+=*"
_JWT = r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
_CARD = (
    r"(?<!\w)(?<!\w[-.])"
    r"[1-9][0-9]{3}(?P<sep>[ -]?)"
    r"(?:[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}(?:(?P=sep)[0-9]{1,3})?"
    r"|[0-9]{6}(?P=sep)[0-9]{4,5})"
    r"(?!\w|[-.]\w)"
)
_BUILTIN_VALUES = re.compile(f"(?P<bearer>{_BEARER})|(?P<jwt>{_JWT})|(?P<card>{_CARD})")
# The shortest string any built-in pattern can match ("Bearer x" is 8).
_MIN_BUILTIN_LEN = 8
# Cheap pre-checks: the combined pattern costs ~0.4-2 us on an ordinary short
# string, these ~0.1 us; only strings that pass one are scanned for real.
_CARD_HINT = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
# name=value and 'name': value pairs inside an object's repr (dataclasses, models,
# dicts inside custom reprs); the value is replaced when the name is sensitive.
_ASSIGNMENT = re.compile(
    r"""(?P<key>['"]?[A-Za-z_][A-Za-z0-9_.\-]*['"]?)(?P<sep>\s*[=:]\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s,;(){}\[\]<>&'"]+)"""
)

# name=value pairs in any string: query strings ("?token=abc&q=1") and logfmt
# ("api_key=... retry=3") in messages and attribute values. Only "=" separates
# here: in free text "name: value" is too often ordinary prose or a URL scheme.
_PAIR = re.compile(
    r"""(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<sep>=)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"()<>\[\]{}]+)"""
)


def _words(key: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(key))


def _luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (card numbers do)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _replace_builtin(match: re.Match[str]) -> str:
    if match.lastgroup == "card":
        digits = match.group().replace(" ", "").replace("-", "")
        return REDACTED if _luhn_valid(digits) else match.group()
    return REDACTED


class Redactor:
    """Key and value-pattern scrubbing with a fixed set of extra keys and patterns.

    Most code uses the module functions, which follow the current
    configuration; build a :class:`Redactor` to scrub with explicit extras.

    Args:
        keys: extra sensitive key names, matched like the built-in ones.
        patterns: extra regular expressions; every match inside a string value
            is replaced.

    Raises:
        ValueError: a pattern is not a valid regular expression.

    Example:
        >>> r = Redactor(keys=["guest_email"], patterns=[r"ROOM-\\d{4}"])
        >>> r.redact({"guest_email": "a@b.c", "note": "moved to ROOM-1234"})
        {'guest_email': '[REDACTED]', 'note': 'moved to [REDACTED]'}
    """

    def __init__(self, keys: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        names = (*BUILTIN_KEYS, *keys)
        word_sets = {_words(name) for name in names}
        word_sets.discard(())
        self._sequences: tuple[tuple[str, ...], ...] = tuple(
            sorted(seq for seq in word_sets if len(seq) > 1)
        )
        self._single: frozenset[str] = frozenset(seq[0] for seq in word_sets if len(seq) == 1)
        # "api_key" also matches the glued word "apikey" and "X-APIKEY".
        self._compact: frozenset[str] = frozenset("".join(seq) for seq in word_sets)
        self._suffixes: tuple[str, ...] = tuple(
            sorted(name for name in self._compact if len(name) >= _MIN_SUFFIX)
        )
        try:
            self._patterns: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in patterns)
        except re.error as error:
            raise ValueError(f"redact pattern is not a valid regular expression: {error}") from None
        self._cache: dict[str, bool] = {}
        # Event names and enum-like values repeat on every line: remember results.
        self._strings: dict[str, str] = {}

    # Keys ------------------------------------------------------------------
    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are redacted.

        The key is split into lower-case words at separators, camelCase
        humps and digit runs. It is sensitive when any configured name (split
        the same way) occurs as a run of whole words in it, when the key's
        words glued together equal a name (``"API-KEY"`` vs ``apikey``), or
        when one of its words ends in a name of five letters or more
        (``"csrftoken"``). Whole words avoid the usual false positives:
        ``"auth_types"``, ``"tokens_used"`` and ``"secretary"`` stay visible.
        """
        try:
            cached = self._cache.get(key)
        except TypeError:  # unhashable: not a key we can judge
            return False
        if cached is not None:
            return cached
        result = self._judge(key) if isinstance(key, str) else False
        if len(self._cache) >= _KEY_CACHE_SIZE:
            self._cache.clear()  # bounded: a flood of distinct keys cannot grow memory
        self._cache[key] = result
        return result

    def _judge(self, key: str) -> bool:
        words = _words(key)
        if not words:
            return False
        if "".join(words) in self._compact:
            return True
        for word in words:
            if word in self._single:
                return True
            for suffix in self._suffixes:
                if word.endswith(suffix):
                    return True
        count = len(words)
        for seq in self._sequences:
            size = len(seq)
            for start in range(count - size + 1):
                if words[start : start + size] == seq:
                    return True
        return False

    # Values ----------------------------------------------------------------
    def redact_string(self, text: str) -> str:
        """``text`` with every value-pattern match replaced by the marker."""
        cached = self._strings.get(text)
        if cached is not None:
            return cached
        result = self._scan(text)
        if len(text) <= _MAX_CACHED_STRING:
            if len(self._strings) >= _STRING_CACHE_SIZE:
                self._strings.clear()
            self._strings[text] = result
        return result

    def _scan(self, text: str) -> str:
        if "=" in text:
            # Query strings and logfmt in messages: "?token=abc&q=1", "api_key=...".
            text = _PAIR.sub(self._replace_assignment, text)
        if len(text) >= _MIN_BUILTIN_LEN and (
            "eyJ" in text
            or "earer" in text
            or "EARER" in text
            or _CARD_HINT.search(text) is not None
        ):
            text = _BUILTIN_VALUES.sub(_replace_builtin, text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def redact(self, value: Any) -> Any:
        """A copy of ``value`` with sensitive keys and patterns redacted, at any depth.

        Dicts (any mapping), lists, tuples and sets are walked; strings and bytes
        are scanned; other objects are judged by their ``repr()`` (which is how
        the log renderers show them): if it holds a sensitive ``name=value`` /
        ``'name': value`` pair or a value pattern, the scrubbed repr is returned.
        A container met again inside itself, what lies deeper than 16 levels
        and everything past 20,000 containers become the marker. Containers in
        which nothing changed are returned unchanged (no copy). Never raises.
        """
        try:
            return _Walk(self).walk(value, 0)
        except Exception:
            return REDACTED

    def redact_repr(self, text: str) -> str:
        """``text`` (an object's repr) with sensitive ``name=value`` pairs and patterns scrubbed."""
        if "=" in text or ":" in text:
            text = _ASSIGNMENT.sub(self._replace_assignment, text)
        return self.redact_string(text)

    def _replace_assignment(self, match: re.Match[str]) -> str:
        if self.is_sensitive_key(match.group("key").strip("'\"")):
            return f"{match.group('key')}{match.group('sep')}{REDACTED}"
        return match.group()

    def _walk_sequence(self, value: Any, depth: int) -> Any:
        return _Walk(self).sequence(value, depth)

    def redact_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Redact a flat attribute mapping (span or log attributes).

        Values are OpenTelemetry attribute values (scalars and homogeneous
        sequences). Returns the same dict object when nothing needed
        redaction and a new dict otherwise. Never raises.
        """
        try:
            out: dict[str, Any] | None = None
            for key, value in attributes.items():
                if self.is_sensitive_key(key):
                    new: Any = REDACTED
                elif isinstance(value, str):
                    new = self.redact_string(value)
                elif isinstance(value, (list, tuple)):
                    new = self._walk_sequence(value, _MAX_DEPTH - 1)
                else:
                    continue
                if new is not value and new != value:
                    if out is None:
                        out = dict(attributes)
                    out[key] = new
            if out is not None:
                return out
            return attributes if isinstance(attributes, dict) else dict(attributes)
        except Exception:
            return dict.fromkeys(_safe_keys(attributes), REDACTED)


class _Walk:
    """One :meth:`Redactor.redact` traversal: cycle detection and a size budget.

    The budget counts container *visits* (a container shared by many parents
    counts each time), so the result, which renderers walk again, is bounded too.
    """

    __slots__ = ("active", "budget", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.active: set[int] = set()  # containers on the current path (cycles)
        self.budget = _MAX_CONTAINERS

    def walk(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.redactor.redact_string(value)
        if value is None or isinstance(value, (int, float)):
            return value
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "backslashreplace")
            scrubbed = self.redactor.redact_string(text)
            return value if scrubbed == text else scrubbed
        if depth >= _MAX_DEPTH:
            return REDACTED
        is_mapping = isinstance(value, Mapping)
        fields = getattr(type(value), "_fields", None)  # a namedtuple: judge its field names
        if not (is_mapping or fields or isinstance(value, (list, tuple, set, frozenset))):
            return self.other(value)
        key = id(value)
        if key in self.active or self.budget <= 0:
            return REDACTED  # a cycle, or far too much to walk
        self.budget -= 1
        self.active.add(key)
        try:
            if is_mapping:
                result = self.mapping(value, depth)
            elif fields and isinstance(value, tuple) and len(fields) == len(value):
                named = dict(zip(fields, value, strict=True))
                walked = self.mapping(named, depth)
                result = value if walked is named else walked
            else:
                result = self.sequence(value, depth)
        finally:
            self.active.discard(key)
        return result

    def mapping(self, value: Mapping[Any, Any], depth: int) -> Any:
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and self.redactor.is_sensitive_key(key):
                new: Any = REDACTED
            else:
                try:
                    new = self.walk(item, depth + 1)
                except Exception:
                    new = REDACTED
            if new is not item:
                changed = True
            out[key] = new
        return out if changed else value

    def sequence(self, value: Any, depth: int) -> Any:
        changed = False
        items = []
        for item in value:
            try:
                new = self.walk(item, depth + 1)
            except Exception:
                new = REDACTED
            if new is not item:
                changed = True
            items.append(new)
        if not changed:
            return value
        if isinstance(value, list):
            return items
        if isinstance(value, tuple):
            return tuple(items)
        return items  # sets: the marker may collide, keep every entry

    def other(self, value: Any) -> Any:
        try:
            text = repr(value)
        except Exception:
            return value  # the renderers show a placeholder: nothing to leak
        if len(text) > _MAX_REPR:
            text = text[:_MAX_REPR]
        scrubbed = self.redactor.redact_repr(text)
        return value if scrubbed == text else scrubbed


def _safe_keys(attributes: Any) -> list[str]:
    try:
        return [key for key in attributes if isinstance(key, str)]
    except Exception:
        return []


class _Current:
    __slots__ = ("generation", "redactor", "source")

    def __init__(self) -> None:
        self.generation = -1
        self.source: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self.redactor = Redactor()


_current = _Current()
_lock = threading.Lock()


def _configured_extras() -> tuple[tuple[str, ...], tuple[str, ...]]:
    settings = current_settings()
    return settings.redact_keys, settings.redact_patterns


def current_redactor() -> Redactor:
    """The :class:`Redactor` for the current configuration (rebuilt when it changes)."""
    current = _current
    if current.generation == STATE.generation:
        return current.redactor
    with _lock:
        generation = STATE.generation
        if _current.generation != generation:
            extras = _configured_extras()
            if extras != _current.source:
                try:
                    _current.redactor = Redactor(*extras)
                except ValueError:  # already validated by configure(); be safe anyway
                    _current.redactor = Redactor(extras[0])
                _current.source = extras
            _current.generation = generation
        return _current.redactor


def is_sensitive_key(key: str) -> bool:
    """Whether values under ``key`` are redacted (built-in and configured names).

    Example:
        >>> is_sensitive_key("X-Api-Key"), is_sensitive_key("auth_types")
        (True, False)
    """
    return current_redactor().is_sensitive_key(key)


def redact(value: Any) -> Any:
    """``value`` with sensitive keys and value patterns redacted at any depth; never raises.

    Example:
        >>> redact({"booking": {"guest": "Ana", "card_number": "4111 1111 1111 1111"}})
        {'booking': {'guest': 'Ana', 'card_number': '[REDACTED]'}}
    """
    return current_redactor().redact(value)


def redact_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Redact a flat attribute mapping (fast path for span and log attributes).

    Returns the same dict when nothing is sensitive, a new dict otherwise; never raises.

    Example:
        >>> redact_attributes({"http.request.header.authorization": "Basic YWxhZGRpbg=="})
        {'http.request.header.authorization': '[REDACTED]'}
    """
    return current_redactor().redact_attributes(attributes)
