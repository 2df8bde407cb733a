"""One installation's register over time: rollover unwrapping, boundary values, estimates.

A meter register is a counter with a fixed number of digits: 99999.999 is followed by 00000.000. Values are
unwrapped once, in time order, so everything downstream works on a monotone-ish cumulative series; a drop
that is not a rollover is reverse consumption and is reported, never billed negative.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from server.billing.model import Boundary, Installation, Source, weakest
from server.billing.period import days_between

LITRE = Decimal("0.001")


def _between(before: Point, after: Point, t: datetime) -> Decimal:
    """The register at `t` by linear interpolation between two points around it (unrounded)."""
    frac = days_between(before.at, t) / days_between(before.at, after.at)
    return before.value + (after.value - before.value) * frac


def q3(x: Decimal) -> Decimal:
    """Boundary values are rounded to the litre; quantities are differences of rounded boundaries, so
    consecutive periods add up exactly (no rounding drift between a period and its parts)."""
    return x.quantize(LITRE, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: Decimal        # unwrapped
    raw: Decimal
    source: Source
    method: str           # reading | due_date | installed | removed


@dataclass(frozen=True, slots=True)
class Reverse:
    at: datetime
    previous: Decimal
    value: Decimal


class Register:
    """`since`: the start of the customer's contract (None: no contract dates). An estimate of an instant after
    it averages only the consumption since then (see `value_at`)."""

    def __init__(self, inst: Installation, *, history_days: int = 365, since: datetime | None = None) -> None:
        self.inst = inst
        self.history = timedelta(days=history_days)
        self.since = since
        self.reverses: list[Reverse] = []
        self.rollovers: list[datetime] = []
        self.points = self._build(inst)
        self._times = [p.at for p in self.points]

    # -- construction -------------------------------------------------------------------------------
    @staticmethod
    def _in_fault(inst: Installation, at: datetime) -> bool:
        return any(f.start < at and (f.end is None or at < f.end) for f in inst.faults)

    def _build(self, inst: Installation) -> list[Point]:
        end = inst.removed_at
        raw: list[tuple[datetime, int, Decimal, Source, str]] = [
            (inst.installed_at, 0, inst.initial_value, Source.MANUAL, "installed")
        ]
        for r in inst.readings:
            if r.at < inst.installed_at or (end is not None and r.at > end):
                continue
            if self._in_fault(inst, r.at):   # a faulty meter's readings are not evidence
                continue
            # at equal instants prefer the due-date register, then the most trusted source
            rank = 1 if r.due_date else 2
            raw.append((r.at, rank, r.value, r.source, "due_date" if r.due_date else "reading"))
        if end is not None and inst.final_value is not None:
            raw.append((end, 0, inst.final_value, Source.MANUAL, "removed"))
        raw.sort(key=lambda t: (t[0], t[1]))

        points: list[Point] = []
        offset = Decimal(0)
        prev_raw: Decimal | None = None
        modulus = inst.register_modulus
        for at, _rank, value, source, method in raw:
            if points and points[-1].at == at:
                continue  # duplicate instant: the preferred one came first
            if prev_raw is not None and value < prev_raw:
                if modulus is not None and prev_raw - value > modulus / 2:
                    offset += modulus
                    self.rollovers.append(at)
                else:
                    self.reverses.append(Reverse(at, prev_raw, value))
            points.append(Point(at, value + offset, value, source, method))
            prev_raw = value
        return points

    # -- queries ------------------------------------------------------------------------------------
    def real_points(self, start: datetime, end: datetime) -> list[Point]:
        """Points inside [start, end] (installation and removal readings included)."""
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_right(self._times, end)
        return self.points[lo:hi]

    def daily_average(self, before: datetime, since: datetime | None = None) -> Decimal | None:
        """Average daily consumption over the history window ending at the last point before `before`; with
        `since`, over the part of it from `since` on (the register valued there exactly or by interpolation)."""
        hi = bisect.bisect_right(self._times, before)
        if hi == 0:
            return None
        last = self.points[hi - 1]
        start = last.at - self.history
        if since is not None and since > start:
            if since >= last.at:
                return None
            i = bisect.bisect_left(self._times, since)
            if i == 0:   # the meter was fitted after `since`: all its history is the customer's
                first_at, first_value = self.points[0].at, self.points[0].value
            elif self.points[i].at == since:
                first_at, first_value = since, self.points[i].value
            else:
                first_at, first_value = since, _between(self.points[i - 1], self.points[i], since)
        else:
            first = self.points[bisect.bisect_left(self._times, start)]
            first_at, first_value = first.at, first.value
        days = days_between(first_at, last.at)
        if days < 1:
            return None
        return max(Decimal(0), (last.value - first_value) / days)

    def value_at(self, t: datetime, *, allow_estimate: bool = True) -> tuple[Boundary, bool]:
        """The register at `t` and whether an estimate had no history to stand on.

        Due-date register or reading exactly at t; else linear interpolation between the nearest points
        around t; else (nothing after t) an estimate from the average daily consumption — or, where
        estimates are not allowed (the garden sub-meter only deducts measured water), the last reading.

        Whose consumption an estimate averages: with `since` (the contract's start), an instant after it is
        this customer's, so only the consumption since `since` counts (the previous customer's use of the
        connection is no evidence of this one's, as for the faulty-meter rule). An instant at or before `since`
        (the contract's opening position) is the previous customer's and keeps the whole window, so the position
        the previous contract was estimated to end at and the one this contract starts from agree. A
        customer with no reading of their own yet (the last one is before `since`) has no history: the register
        stays at its estimated position at `since` (0 m3/day) and the estimate is reported as without a
        history, settled by the first reading like any estimate; so is one with less than a day between
        `since` and their last reading.
        """
        i = bisect.bisect_left(self._times, t)
        if i < len(self.points) and self.points[i].at == t:
            p = self.points[i]
            return Boundary(t, p.value, p.source, p.method), False
        if i == 0:
            raise ValueError(f"{self.inst.meter_id}: {t} is before the installation at {self.inst.installed_at}")
        before = self.points[i - 1]
        if i < len(self.points):
            after = self.points[i]
            value = q3(_between(before, after, t))
            return Boundary(t, value, weakest(before.source, after.source), "interpolated"), False
        if not allow_estimate:
            return Boundary(t, before.value, before.source, "last_reading"), False
        own = self.since is not None and t > self.since
        if own and before.at < self.since:   # no reading inside the contract yet
            opening, _ = self.value_at(self.since)
            return Boundary(t, opening.value, Source.ESTIMATE, "estimate"), True
        daily = self.daily_average(t, self.since if own else None)
        if daily is None:
            return Boundary(t, before.value, Source.ESTIMATE, "estimate"), True
        value = q3(before.value + daily * days_between(before.at, t))
        return Boundary(t, value, Source.ESTIMATE, "estimate"), False
