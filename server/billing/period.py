"""Billing periods: whole calendar months, half-open [start, end), boundaries at 00:00 UTC.

Half-open intervals are what makes consecutive periods tile: the end instant of one period is the start
instant of the next, and a boundary value is billed exactly once on each side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

MIN_YEAR, MAX_YEAR = 1900, 2999   # a year of history and lookahead around any period stays representable


class PeriodError(ValueError):
    """A period string that is not YYYY-MM or YYYY-MM..YYYY-MM."""


def add_months(d: date, n: int) -> date:
    """Shift by whole months, clamping the day (31 Mar - 1 month = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    day = min(d.day, days_in_month(year, month))
    return date(year, month, day)


def days_in_month(year: int, month: int) -> int:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return (nxt - date(year, month, 1)).days


def at_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    start: date   # first day, inclusive
    end: date     # first day after, exclusive

    def __post_init__(self) -> None:
        if self.start.day != 1 or self.end.day != 1 or self.end <= self.start:
            raise PeriodError(f"a period is whole months: {self.start}..{self.end}")

    @classmethod
    def month(cls, year: int, month: int, count: int = 1) -> Period:
        start = date(year, month, 1)
        return cls(start, add_months(start, count))

    @classmethod
    def parse(cls, text: str) -> Period:
        m = re.fullmatch(r"\s*(\d{4})-(\d{2})(?:\s*\.\.\s*(\d{4})-(\d{2}))?\s*", text)
        if not m:
            raise PeriodError(f"period must be YYYY-MM or YYYY-MM..YYYY-MM, got {text!r}")
        try:
            start = date(int(m[1]), int(m[2]), 1)
            last = date(int(m[3]), int(m[4]), 1) if m[3] else start
        except ValueError as e:
            raise PeriodError(f"bad period {text!r}: {e}") from None
        if not (start.year >= MIN_YEAR and last.year <= MAX_YEAR):
            raise PeriodError(f"period {text!r} outside {MIN_YEAR}..{MAX_YEAR}")
        if last < start:
            raise PeriodError(f"period ends before it starts: {text!r}")
        return cls(start, add_months(last, 1))

    @property
    def start_at(self) -> datetime:
        return at_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        return at_midnight(self.end)

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month

    @property
    def label(self) -> str:
        first = f"{self.start:%Y-%m}"
        last = add_months(self.end, -1)
        return first if self.months == 1 else f"{first}..{last:%Y-%m}"

    def next(self, months: int | None = None) -> Period:
        return Period(self.end, add_months(self.end, months or self.months))

    def split(self) -> list[Period]:
        """The calendar months inside this period, in order."""
        out, d = [], self.start
        while d < self.end:
            nxt = add_months(d, 1)
            out.append(Period(d, nxt))
            d = nxt
        return out

    def month_fraction(self, start: datetime, end: datetime) -> Decimal:
        """How many months [start, end) ∩ this period is worth, each calendar month by its own days.

        Norms and subscriptions are per month; a 10-day span in February is worth more than in March.
        """
        total = Decimal(0)
        for m in self.split():
            a, b = max(start, m.start_at), min(end, m.end_at)
            if b > a:
                secs = Decimal((b - a).total_seconds())
                total += secs / Decimal((m.end_at - m.start_at).total_seconds())
        return total

    def month_ratio(self, start: datetime, end: datetime) -> Fraction:
        """`month_fraction` exactly (a fraction of microseconds), so money pro rata is rounded once, from the
        exact amount, and an exact half grosz (10/30 of 4.35 zł = 1.45) cannot be tipped by a repeating decimal."""
        total = Fraction(0)
        for m in self.split():
            a, b = max(start, m.start_at), min(end, m.end_at)
            if b > a:
                total += Fraction((b - a) // MICROSECOND, (m.end_at - m.start_at) // MICROSECOND)
        return total


def days_between(a: datetime, b: datetime) -> Decimal:
    return Decimal((b - a).total_seconds()) / Decimal(86400)


ONE_DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
