"""Consumption norms for connections without a main meter (art. 27 ust. 1 and 3).

A configurable table, not constants: the regulation's tables differ by category and unit (per resident,
per unit of construction work ...), utilities pick the sewered/cesspool variant, and table 7 ("Roboty
budowlane", construction works) has to be copied from the official text by whoever configures a temporary
connection. It has no defaults here because its figures could not be retrieved (searched 2026-11-25: the
reproductions of the regulation found, e.g. https://www.ppr.pl/ekonomia/prawo-i-finanse/rozporzadzenie-2582
and http://docplayer.pl/255772-Rozporzadzenie-ministra-infrastruktury-z-dnia-14-stycznia-2002-r-w-sprawie-okreslenia-przecietnych-norm-zuzycia-wody.html,
list table 7 by name, but the parts of them that could be read show only the list and table 1); a value
taken from anywhere but Dz.U. 2002 nr 8 poz. 70 would bill customers by a guess.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

from server.billing.model import NormEntry


class NormError(ValueError):
    """A norm table file that cannot be used."""


# Rozporządzenie MI z 14 stycznia 2002 r., table 1 (households, per resident), the higher value of each
# range (buildings connected to the sewer), m3 per person per month = L/day x 30 / 1000. Rows 1-4 agree with
# the reproductions above; row 5 (central hot water) is printed as 140-160 L/day beside 4,2-5,4 m3/month in
# another one (https://doczz.pl/doc/2366598, a utility's extract of Dz.U. 2002 nr 8 poz. 70), so the
# disagreement (160 L/day x 30 = 4.8) is in the published text, not a copying slip of ours. 4.8 is used until
# the Dz.U. scan says which column is right: 5.4 would bill more than the per-day norm the row states.
DEFAULT_NORMS: tuple[NormEntry, ...] = (
    NormEntry("household_outside_tap", "person", Decimal("0.9"), "tap outside, no WC or bath"),
    NormEntry("household_wc", "person", Decimal("1.8"), "water and WC, no bathroom"),
    NormEntry("household_wc_sink", "person", Decimal("2.7"), "water, sink, WC, no bathroom, no hot water"),
    NormEntry("household_bath_local_hw", "person", Decimal("3.0"), "bathroom, local hot water"),
    NormEntry("household_bath_central_hw", "person", Decimal("4.8"), "bathroom, central hot water"),
)


class NormTable:
    def __init__(self, entries: Iterable[NormEntry] = DEFAULT_NORMS) -> None:
        self._by_category: dict[str, NormEntry] = {}
        for e in entries:
            if e.value < 0:
                raise NormError(f"norm {e.category!r} is negative")
            self._by_category[e.category] = e

    def get(self, category: str | None) -> NormEntry | None:
        return self._by_category.get(category) if category else None

    def __iter__(self) -> Iterator[NormEntry]:
        return iter(self._by_category.values())

    def __len__(self) -> int:
        return len(self._by_category)

    @classmethod
    def from_csv(cls, path: str | Path) -> NormTable:
        """CSV header `category,unit,value[,description]`, value in m3 per unit per month."""
        entries = []
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"category", "unit", "value"} - set(reader.fieldnames or ())
            if missing:
                raise NormError(f"{path}: missing columns {sorted(missing)}")
            for n, row in enumerate(reader, start=2):
                try:
                    value = Decimal(row["value"].strip())
                except (InvalidOperation, AttributeError):
                    raise NormError(f"{path}:{n}: value {row['value']!r} is not a number") from None
                entries.append(NormEntry(row["category"].strip(), row["unit"].strip(), value,
                                         (row.get("description") or "").strip()))
        return cls(entries)
