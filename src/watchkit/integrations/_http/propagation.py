"""The header names the global propagator reads, so extraction is skipped cheaply."""

from __future__ import annotations

from opentelemetry import propagate

__all__ = ["Fields", "propagation_fields"]


class Fields:
    """Header names the global propagator reads, cached per propagator object."""

    __slots__ = ("as_bytes", "as_str", "propagator")

    def __init__(self) -> None:
        self.propagator: object = None
        self.as_str: tuple[str, ...] = ()
        self.as_bytes: tuple[bytes, ...] = ()

    def get(self) -> Fields:
        """Refresh from the global propagator if it changed; return self."""
        propagator = propagate.get_global_textmap()
        if propagator is not self.propagator:
            names = tuple(sorted(f.lower() for f in propagator.fields))
            self.as_str = names
            self.as_bytes = tuple(n.encode("latin-1") for n in names)
            self.propagator = propagator
        return self


_fields = Fields()


def propagation_fields() -> Fields:
    """The global propagator's header names (str and bytes), to skip extraction cheaply."""
    return _fields.get()
