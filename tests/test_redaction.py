"""Redaction by key and by value pattern: what is scrubbed, what is left alone, never raising."""

from __future__ import annotations

import pytest

import watchkit
from watchkit.redaction import (
    BUILTIN_KEYS,
    REDACTED,
    Redactor,
    is_sensitive_key,
    redact,
    redact_attributes,
)

VALID_CARD = "4111 1111 1111 1111"
INVALID_CARD = "4111 1111 1111 1112"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize("key", BUILTIN_KEYS)
def test_every_builtin_key_is_redacted_nested_in_dicts_and_lists(key: str) -> None:
    """Each listed key is redacted at any depth, inside lists too, whatever the value type."""
    data = {"booking": {"items": [{key: "s3cret", "room": 12}]}, key.upper(): 1234}
    out = redact(data)
    assert out["booking"]["items"][0][key] == REDACTED
    assert out["booking"]["items"][0]["room"] == 12
    assert out[key.upper()] == REDACTED
    assert data["booking"]["items"][0][key] == "s3cret"  # the input is not mutated


@pytest.mark.parametrize(
    "key",
    ["X-Api-Key", "user_password", "accessToken", "csrftoken", "Set-Cookie", "APIKey",
     "proxy-authorization", "cvv2", "creditCardNumber", "session_id", "X_API_KEY"],
)  # fmt: skip
def test_key_variants_are_sensitive(key: str) -> None:
    """Case, separators, camelCase and glued words are normalised."""
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    ["auth_types", "tokens_used", "sessions_count", "secretary", "order_id", "lessn", "event"],
)
def test_lookalike_keys_are_not_redacted(key: str) -> None:
    """Whole-word matching avoids the usual false positives (REFERENCE P16)."""
    assert not is_sensitive_key(key)
    assert redact({key: "visible"}) == {key: "visible"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123_x", "Authorization: [REDACTED]"),
        ("token=" + JWT + " end", "token=[REDACTED] end"),
        ("card " + VALID_CARD + " ok", "card [REDACTED] ok"),
        ("card 4111-1111-1111-1111", "card [REDACTED]"),
        ("card 4111111111111111", "card [REDACTED]"),
        ("not a card " + INVALID_CARD, "not a card " + INVALID_CARD),
        ("order 12345", "order 12345"),
    ],
)
def test_value_patterns(text: str, expected: str) -> None:
    """Bearer tokens, JWTs and Luhn-valid card numbers are replaced inside strings."""
    assert redact(text) == expected
    assert redact({"note": [text]}) == {"note": [expected]}


def test_configured_keys_and_patterns_apply_and_follow_reconfiguration() -> None:
    """configure(redact_keys, redact_patterns) extends the built-ins until shutdown."""
    assert redact({"guest_email": "a@b.c", "note": "ROOM-1234"}) == {
        "guest_email": "a@b.c",
        "note": "ROOM-1234",
    }
    watchkit.configure(
        exporter="none", redact_keys=["guest_email"], redact_patterns=[r"ROOM-\d{4}"]
    )
    assert redact({"Guest-Email": "a@b.c", "note": "moved to ROOM-1234"}) == {
        "Guest-Email": REDACTED,
        "note": "moved to [REDACTED]",
    }
    watchkit.shutdown()
    assert redact({"guest_email": "a@b.c"}) == {"guest_email": "a@b.c"}


def test_redact_attributes_returns_the_same_dict_when_clean_and_a_copy_otherwise() -> None:
    """The span/log attribute fast path copies only when something is sensitive."""
    clean = {"http.route": "/rooms/{id}", "rooms": 2, "tags": ["a", "b"]}
    assert redact_attributes(clean) is clean
    dirty = {"http.request.header.authorization": "Basic x", "q": "Bearer abcdef", "n": 1}
    out = redact_attributes(dirty)
    assert out == {"http.request.header.authorization": REDACTED, "q": REDACTED, "n": 1}
    assert dirty["q"] == "Bearer abcdef"


def test_span_attributes_redacted_before_they_reach_a_span(telemetry) -> None:
    """Span attributes passed through redact_attributes arrive scrubbed."""
    from watchkit._internal.state import get_tracer

    with get_tracer().start_as_current_span("reserve") as span:
        span.set_attributes(redact_attributes({"api_key": "k-1", "guest": "Ana"}))
    assert dict(telemetry.span("reserve").attributes) == {"api_key": REDACTED, "guest": "Ana"}


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__


class _BadMapping(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[override]
        raise RuntimeError("no items")


def test_redaction_never_raises_on_odd_objects() -> None:
    """Odd objects pass through, unreadable containers become the marker, depth is bounded."""
    hostile = _Hostile()
    assert redact(hostile) is hostile
    assert redact({"x": hostile})["x"] is hostile
    assert redact({"m": _BadMapping(a=1)}) == {"m": REDACTED}
    cyclic: list = []
    cyclic.append(cyclic)
    assert redact(cyclic) is not None  # bounded recursion, no RecursionError
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["k"] = {}
        node = node["k"]
    node["password"] = "x"
    out = redact(deep)
    assert "x" not in repr(out)
    assert redact_attributes(_BadMapping(a=1)) == {"a": REDACTED}
    assert redact({1: "Bearer abcdefgh", (1, 2): "v"}) == {1: REDACTED, (1, 2): "v"}


def test_invalid_explicit_pattern_is_a_value_error() -> None:
    """A Redactor built with a broken regex fails at definition time."""
    with pytest.raises(ValueError, match="regular expression"):
        Redactor(patterns=["(unclosed"])


def _run_bounded(fn, seconds: float = 5.0):
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it takes too long."""
    import threading

    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not finish within {seconds} s"
    return result[0]


def test_self_referencing_containers_with_fan_out_do_not_hang() -> None:
    """A dict/list referring to itself many times is cut at the cycle, in bounded time."""
    cyclic: dict = {"password": "x", "name": "ana"}
    for i in range(10):
        cyclic[f"k{i}"] = cyclic
    out = _run_bounded(lambda: redact(cyclic))
    assert out["password"] == REDACTED
    assert out["name"] == "ana"
    assert out["k0"] == REDACTED  # the cycle is cut by the marker
    looping: list = ["Bearer abcdefgh"]
    looping.extend([looping] * 10)
    out = _run_bounded(lambda: redact(looping))
    assert out[0] == REDACTED
    shared: list = [{"password": "x"}]
    for _ in range(30):  # a DAG of 10**30 paths: each container is walked once
        shared = [shared] * 10
    out = _run_bounded(lambda: redact({"data": shared}))["data"]
    while isinstance(out, list):  # follow one path down: it ends in the marker
        out = out[0]
    assert out == REDACTED
    huge = [{"password": "x", "n": i} for i in range(50_000)]  # past the walk budget
    out = _run_bounded(lambda: redact(huge))
    assert "'x'" not in repr(out)


def test_bytes_are_scanned_like_strings() -> None:
    """A secret inside bytes is redacted (bytes are rendered as text by the log renderer)."""
    assert redact(b"Authorization: Bearer abcdefghijk") == "Authorization: [REDACTED]"
    assert redact({"raw": bytearray(b"card 4111111111111111")}) == {"raw": "card [REDACTED]"}
    clean = b"nothing secret"
    assert redact(clean) is clean


def test_secrets_inside_object_reprs_are_redacted() -> None:
    """Objects are rendered by their repr; sensitive fields and patterns in it are scrubbed."""
    import dataclasses
    from collections import namedtuple

    @dataclasses.dataclass
    class Login:
        user: str
        password: str

    out = redact({"login": Login("ana", "hunter2")})
    assert "hunter2" not in repr(out)
    assert "ana" in repr(out)
    Creds = namedtuple("Creds", "user api_key")
    assert "k-123" not in repr(redact(Creds("ana", "k-123")))

    class Client:
        def __repr__(self) -> str:
            return "Client(headers={'Authorization': 'Basic YWxh', 'Accept': 'json'})"

    text = repr(redact([Client()]))
    assert "YWxh" not in text
    assert "Accept" in text
    plain = object()
    assert redact(plain) is plain  # nothing sensitive: the object itself, unchanged


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("GET /orders/7?token=abc123&password=hunter2&q=pizza", "q=pizza", ("abc123", "hunter2")),
        ("https://x/cb?access_token=zzz999&state=ok", "state=ok", ("zzz999",)),
        ("retrying with api_key=sk_live_42 after 3 attempts", "after 3 attempts", ("sk_live_42",)),
        ("level=info msg=done user=ana", "user=ana", ()),
    ],
)
def test_sensitive_name_value_pairs_in_free_text_are_redacted(
    text: str, kept: str, gone: tuple[str, ...]
) -> None:
    """URLs and logfmt-style text in messages lose the values of sensitive names."""
    from watchkit.redaction import redact

    out = redact(text)
    assert kept in out
    for secret in gone:
        assert secret not in out
    if gone:
        assert "[REDACTED]" in out


def test_server_access_log_line_is_redacted(clean_env) -> None:
    """uvicorn's access line, now routed through watchkit, carries no query secret."""
    import io
    import json
    import logging

    from watchkit._internal.settings import resolve
    from watchkit.logs._setup import install

    stream = io.StringIO()
    undo = install(resolve(log_format="json", exporter="none"), stream=stream)
    try:
        logging.getLogger("uvicorn.access").warning(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/cb?token=abc123&q=1", "1.1", 200
        )
    finally:
        undo()
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "abc123" not in line["event"]
    assert "q=1" in line["event"]


def _luhn_complete(prefix: str) -> str:
    """``prefix`` plus the check digit that makes it pass the Luhn check."""
    for check in "0123456789":
        total = 0
        for index, char in enumerate(reversed(prefix + check)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return prefix + check
    raise AssertionError("unreachable")


def test_random_uuids_are_never_taken_for_card_numbers() -> None:
    """Digit runs inside UUIDs (Celery task ids in log lines) are not card numbers.

    Before the fix, about 1 in 500 random uuid4 strings had a Luhn-valid run of
    13+ digits across its dashes masked (``b2e5edac-c[REDACTED]b758db1``).
    """
    import uuid

    redactor = Redactor()
    for _ in range(10_000):
        task_id = str(uuid.uuid4())
        line = f"Task mail.send[{task_id}] succeeded in 0.01s: None"
        assert redactor.redact(line) == line, line
        assert redactor.redact(task_id) == task_id


def test_digit_runs_glued_to_other_tokens_are_not_card_numbers() -> None:
    """A run of digits inside a longer token (hex ids, decimals, dashed ids) is left alone."""
    digits = _luhn_complete("411111111111111")
    for text in (
        f"c{digits}",
        f"{digits}b758db1",
        f"ab12-{digits}",
        f"{digits}-ab12",
        f"3.{digits}",
        f"id_{digits}",
        "b2e5edac-c1234-5678-9012-3452b758db1",
        "4111 1111-1111 1111",  # mixed separators: not how a card is written
    ):
        assert redact(text) == text, text


@pytest.mark.parametrize(
    "card",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # American Express, 4-6-5
        "378282246310005",
        "3056 930902 5904",  # Diners Club, 4-6-4
        "4222222222222",  # 13-digit Visa
        "6011 0009 9013 9424",
        "6250 9410 0652 8599 990",  # 19 digits, 4-4-4-4-3
    ],
)
def test_card_numbers_in_common_formats_are_redacted(card: str) -> None:
    """Real card numbers, written as cards are written, are still replaced."""
    digits = card.replace(" ", "").replace("-", "")
    assert _luhn_complete(digits[:-1]) == digits  # the examples are Luhn-valid
    for text, expected in (
        (card, REDACTED),
        (f"paid with {card}.", f"paid with {REDACTED}."),
        (f"card={card}&x=1", f"card={REDACTED}&x=1"),
        (f"({card})", f"({REDACTED})"),
        (f'"number": "{card}"', f'"number": "{REDACTED}"'),
        (f"card:{card}, ok", f"card:{REDACTED}, ok"),
    ):
        assert redact(text) == expected, text
