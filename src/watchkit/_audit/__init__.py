"""The audit trail: tamper-evident, durable records of security-relevant actions.

``watchkit.audit("reservation.cancel", actor="user:42", outcome="success",
target="reservation:R-1042", reason="guest request")`` emits one record on the
dedicated ``watchkit.audit`` stream with:

* ``event.name`` = ``audit.<action>``, ``audit.action``, ``audit.actor``,
  ``audit.outcome``, ``audit.target`` and the details (redacted like logs);
* ``client.address`` and ``request.id`` when called inside a request (read from
  the structlog context the HTTP integrations bind), the trace context of the
  current span, ``audit.time`` (ISO-8601 UTC);
* ``audit.stream`` (this process's chain), ``audit.seq`` (1, 2, 3 ... per
  process), ``audit.prev_hash`` and ``audit.hash`` = SHA-256 over the previous
  hash and the record's canonical JSON, so a deleted, inserted or edited
  record breaks the chain (``python -m watchkit audit verify FILE``).

Durability (OTLP exporter on): every record is first appended to a spool file
(JSON lines, one file per process, fsync'd at least every second) and then
shipped, in order, by a background thread through a dedicated OTLP log
exporter. Only when that exporter reports success is the position
acknowledged (an ``.ack`` file next to the spool). If the collector is down,
records wait on disk and are re-sent when it answers again; files of a process
that died are picked up by the next process using the same directory. Each
record is delivered once unless the process dies between the collector's
answer and the acknowledgement; receivers can drop such repeats by
``(audit.stream, audit.seq)``.

The package, one module per part:

* :mod:`~watchkit._audit.chain`: numbering, hashing and the lock that orders records;
* :mod:`~watchkit._audit.record`: :func:`audit` itself (validation, redaction, context);
* :mod:`~watchkit._audit.spool`: the files on disk (spool lines, acknowledgements);
* :mod:`~watchkit._audit.shipper`: the threads that fsync and export them;
* :mod:`~watchkit._audit.verify`: checking a chain.

Audit records are never sampled and never filtered by log level. Without the
OTLP exporter (console, tests) they go to the pipeline's logger provider like
any event, still numbered and chained.
"""

from __future__ import annotations

from watchkit._audit.record import audit

__all__ = ["audit"]
