"""Receivers and telegram logs behind one interface: see `collector.sources.base`."""

from collector.sources.base import (
    SOURCES,
    Rejected,
    Source,
    SourceCounters,
    SourceError,
    SourceExhausted,
    SourceSpec,
    SourceUnavailable,
    SpecError,
    open_source,
    registered_sources,
    source_class,
)

__all__ = [
    "SOURCES", "Rejected", "Source", "SourceCounters", "SourceError", "SourceExhausted", "SourceSpec",
    "SourceUnavailable", "SpecError", "open_source", "registered_sources", "source_class",
]
