"""SQL text analysis: sanitised query text, ``db.query.summary``, operation and collection.

The sanitiser is a single-pass tokenizer, not a parser: it must be safe on any
text a driver accepts, including dialects it has never seen. Rules:

- string literals (``'...'`` with ``''`` escapes, ``E'...'`` with backslash
  escapes, ``X'..'``/``B'..'``/``N'..'`` prefixes, PostgreSQL dollar quotes
  ``$tag$...$tag$``) and numeric literals (``42``, ``-1.5e3`` keeps its sign,
  ``0x1F``) become ``?``; numbers inside identifiers (``table1``, ``t2.col3``)
  are part of the identifier and stay;
- comments (``-- ...`` and ``/* ... */``, which is where SQLCommenter puts
  trace ids and where people paste data) are dropped;
- quoted identifiers (``"Order"``, backticks, ``[brackets]``) and placeholders
  (``?``, ``%s``, ``%(name)s``, ``:name``, ``$1``) stay as written;
- ``IN (?, ?, ?)`` collapses to ``IN (?)`` and repeated ``VALUES`` rows of
  placeholders to one row, so one query shape is one string whatever the list
  length (that is what N+1 detection and the span name group on);
- whitespace collapses to single spaces; the result is cut at
  :data:`MAX_QUERY_TEXT` characters.

The summary follows the semantic conventions' ``db.query.summary``: the
operations and the collections they touch, in the order they appear
(``SELECT orders``, ``SELECT orders customers``, ``INSERT audit SELECT
orders``), at most 255 characters. ``db.collection.name`` is set only when the
query names exactly one collection.

Analyses are cached by raw text (bounded), so a parameterised query is
analysed once per process; queries with inline literals fill the cache and
evict it wholesale, which keeps memory bounded without per-hit bookkeeping.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["MAX_QUERY_TEXT", "MAX_SUMMARY", "QueryInfo", "analyse", "sanitise"]

MAX_QUERY_TEXT: Final = 2048
MAX_SUMMARY: Final = 255
_CACHE_SIZE: Final = 1024

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*.*?(?:\*/|\Z))
    | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<pstring>[xXbBnN]'(?:[^']|'')*(?:'|\Z))
    | (?P<string>'(?:[^']|'')*(?:'|\Z))
    | (?P<dollar>\$\$.*?(?:\$\$|\Z)|\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<positional>\$\d+)
    | (?P<pyformat>%\([^)]*\)s|%s)
    | (?P<qident>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
    | (?P<hex>0[xX][0-9A-Fa-f]+)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
    | (?P<named>:[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>::|<>|<=|>=|!=|\|\||.)
    """,
    re.VERBOSE | re.DOTALL,
)
_LITERAL_KINDS: Final = frozenset({"estring", "pstring", "string", "dollar", "hex", "number"})
_IN_LIST = re.compile(r"\bIN \((?:\?|\$\d+|%s|:\w+)(?:, (?:\?|\$\d+|%s|:\w+))*\)", re.IGNORECASE)
_ROW = r"\((?:\?|\$\d+|%s|%\([^)]*\)s|:\w+|NULL|DEFAULT)(?:, (?:\?|\$\d+|%s|%\([^)]*\)s|:\w+|NULL|DEFAULT))*\)"  # noqa: E501
_VALUES_ROWS = re.compile(rf"\bVALUES ({_ROW})(?:, {_ROW})+", re.IGNORECASE)

# Statements whose first word names the operation.
_OPERATIONS: Final = frozenset(
    {
        "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP",
        "ALTER", "TRUNCATE", "CALL", "EXEC", "EXECUTE", "BEGIN", "START", "COMMIT", "ROLLBACK",
        "SAVEPOINT", "RELEASE", "SET", "SHOW", "EXPLAIN", "VACUUM", "ANALYZE", "COPY", "PRAGMA",
        "GRANT", "REVOKE", "LOCK", "DECLARE", "FETCH", "CLOSE", "LISTEN", "NOTIFY", "REFRESH",
        "REINDEX", "DISCARD", "RESET", "PREPARE", "DEALLOCATE", "COMMENT", "ATTACH", "DETACH",
    }
)  # fmt: skip
# Words after which the next name is a collection.
_TARGET_BEFORE: Final = frozenset({"FROM", "JOIN", "INTO", "UPDATE", "TABLE"})
# DDL keeps its object kind in the operation name: ``CREATE TABLE``.
_DDL: Final = frozenset({"CREATE", "DROP", "ALTER", "TRUNCATE"})
_DDL_OBJECTS: Final = frozenset(
    {"TABLE", "INDEX", "VIEW", "SCHEMA", "SEQUENCE", "DATABASE", "TRIGGER", "FUNCTION", "TYPE"}
)
# Words that may sit between a DDL verb or target keyword and the name.
_NOISE: Final = frozenset(
    {
        "IF", "NOT", "EXISTS", "ONLY", "TEMP", "TEMPORARY", "UNIQUE", "OR", "REPLACE",
        "CONCURRENTLY", "UNLOGGED", "LATERAL", "MATERIALIZED", "OUTER", "IGNORE",
    }
)  # fmt: skip
# After these, a following SELECT starts a new operation of the summary.
_SET_OPERATORS: Final = frozenset({"UNION", "INTERSECT", "EXCEPT"})


class QueryInfo(NamedTuple):
    """What one query text tells: all of it derived from the sanitised text."""

    text: str
    """Sanitised query text (``db.query.text``), at most :data:`MAX_QUERY_TEXT` characters."""
    summary: str
    """``db.query.summary``, e.g. ``SELECT orders``; empty when nothing was recognised."""
    operation: str
    """``db.operation.name`` of the first statement, e.g. ``SELECT``; may be empty."""
    collection: str
    """``db.collection.name`` when the query names exactly one collection, else empty."""


def _tokens(sql: str) -> tuple[list[str], list[str]]:
    """Sanitised tokens and the kinds they came from (comments and whitespace dropped)."""
    out: list[str] = []
    kinds: list[str] = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind in ("ws", "line_comment", "block_comment"):
            continue
        if kind == "tag":  # pragma: no cover - a named group inside "dollar"
            kind = "dollar"
        assert kind is not None
        if kind in _LITERAL_KINDS:
            out.append("?")
            kinds.append("literal")
        else:
            out.append(match.group())
            kinds.append(kind)
    return out, kinds


# Words a "(" follows with a space (``IN (?)``); after any other word it is a call.
_SPACED_BEFORE_PAREN: Final = frozenset(
    {"IN", "VALUES", "AS", "ON", "AND", "OR", "NOT", "EXISTS", "FROM", "JOIN", "WHERE", "SELECT",
     "INTO", "ALL", "ANY", "SOME", "USING", "OVER", "THEN", "ELSE", "WHEN", "RETURNING", "TABLE"}
)  # fmt: skip
_NO_SPACE_BEFORE: Final = frozenset({",", ")", ";", ".", "::"})
_NO_SPACE_AFTER: Final = frozenset({"(", ".", "::"})


def _join(tokens: list[str], kinds: list[str]) -> str:
    parts: list[str] = []
    previous, previous_kind = "", ""
    for token, kind in zip(tokens, kinds, strict=True):
        call = (
            token == "("
            and previous_kind in ("ident", "qident")
            and previous.upper() not in _SPACED_BEFORE_PAREN
        )
        if parts and not (token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER or call):
            parts.append(" ")
        parts.append(token)
        previous, previous_kind = token, kind
    return "".join(parts)


def _collapse(text: str) -> str:
    text = _IN_LIST.sub(lambda m: m.group()[:2] + " (?)", text)
    return _VALUES_ROWS.sub(lambda m: m.group()[:6] + " " + m.group(1), text)


def _summarise(tokens: list[str], kinds: list[str]) -> tuple[str, str, str]:
    parts: list[str] = []
    collections: list[str] = []
    first_operation = ""
    at_statement_start = True
    expect_target = False
    in_from_list = False
    depth = 0
    from_depth = -1
    count = len(tokens)
    i = 0
    while i < count:
        token, kind = tokens[i], kinds[i]
        upper = token.upper() if kind == "ident" else token
        if token == ";":
            at_statement_start, expect_target, in_from_list = True, False, False
            i += 1
            continue
        if token == "(":
            depth += 1
            at_statement_start = True
            expect_target = False
            i += 1
            continue
        if token == ")":
            depth -= 1
            if depth < from_depth:
                in_from_list = False
            at_statement_start = False
            i += 1
            continue
        if (
            kind == "ident"
            and upper in _OPERATIONS
            and (at_statement_start or (upper == "SELECT" and parts))
        ):
            operation = upper
            if upper in _DDL:
                j = i + 1
                while j < count and kinds[j] == "ident" and tokens[j].upper() in _NOISE:
                    j += 1
                if j < count and kinds[j] == "ident" and tokens[j].upper() in _DDL_OBJECTS:
                    operation = f"{upper} {tokens[j].upper()}"
                    expect_target = True
                    i = j
            if not first_operation:
                first_operation = operation
            parts.append(operation)
            at_statement_start = False
            if upper in ("UPDATE", "TRUNCATE"):
                expect_target = True
            i += 1
            continue
        at_statement_start = kind == "ident" and upper in _SET_OPERATORS
        if kind == "ident" and upper in _TARGET_BEFORE:
            expect_target = True
            if upper in ("FROM", "JOIN"):
                in_from_list, from_depth = upper == "FROM", depth
            i += 1
            continue
        if expect_target and kind == "ident" and upper in _NOISE:
            i += 1
            continue
        if expect_target and kind in ("ident", "qident"):
            name = token
            # schema.table
            while i + 2 < count and tokens[i + 1] == "." and kinds[i + 2] in ("ident", "qident"):
                name = f"{name}.{tokens[i + 2]}"
                i += 2
            parts.append(name)
            if name not in collections:
                collections.append(name)
            expect_target = False
            i += 1
            continue
        if token == "," and in_from_list and depth == from_depth:
            expect_target = True
            i += 1
            continue
        if kind == "ident" and upper in ("WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "SET"):
            in_from_list = False
        expect_target = False
        i += 1
    statements = sum(1 for n, token in enumerate(tokens) if token == ";" and n + 1 < count) + 1
    summary = " ".join(parts)
    if len(summary) > MAX_SUMMARY:
        summary = summary[:MAX_SUMMARY].rsplit(" ", 1)[0]
    single = len(collections) == 1 and statements == 1
    return summary, first_operation, collections[0] if single else ""


def _analyse(sql: str) -> QueryInfo:
    tokens, kinds = _tokens(sql)
    text = _collapse(_join(tokens, kinds))
    if len(text) > MAX_QUERY_TEXT:
        text = text[:MAX_QUERY_TEXT]
    summary, operation, collection = _summarise(tokens, kinds)
    return QueryInfo(text, summary, operation, collection)


_cache: dict[str, QueryInfo] = {}


def analyse(sql: str) -> QueryInfo:
    """The :class:`QueryInfo` of ``sql`` (cached).

    Example:
        >>> info = analyse("SELECT * FROM orders WHERE id = 42 AND city = 'Zürich'")
        >>> info.text
        'SELECT * FROM orders WHERE id = ? AND city = ?'
        >>> info.summary, info.operation, info.collection
        ('SELECT orders', 'SELECT', 'orders')
    """
    info = _cache.get(sql)
    if info is None:
        info = _analyse(sql)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[sql] = info
    return info


def sanitise(sql: str) -> str:
    """``sql`` with literals replaced by ``?``, comments dropped, ``IN`` lists collapsed.

    Example:
        >>> sanitise("select * from t where id in (1, 2, 3) -- by id")
        'select * from t where id in (?)'
    """
    return analyse(sql).text
