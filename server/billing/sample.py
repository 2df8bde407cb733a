"""A small sample town in the store (tests, API demo) and a generated large one (the billing benchmark).

`seed_sample` writes, through the store's API, one service point per billing rule of domain notes §3 with
the figures of the worked example. `seed_town` generates N service points with a year of monthly radio
readings, a garden sub-meter at every tenth, two unread months at every twentieth, a meter replacement
in the last month at every fiftieth and a register rollover at every hundredth, so a benchmark run
exercises those paths.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from server.billing.period import add_months, at_midnight
from server.store import NewReading, Store

MODULUS = Decimal(100_000)   # five whole-m3 digits


def t(y: int, m: int, d: int = 1, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sample:
    accounts: dict[str, int]          # number -> id
    service_points: dict[str, int]    # code -> id
    meters: dict[str, int]            # name -> id


def seed_sample(store: Store) -> Sample:
    """Service points for October 2026:
    SP-001 worked example: 10 m3 main, 2 m3 legalised garden -> 108.70 zł gross (account A-001, login jan)
    SP-002 unmetered, 2 persons, central hot water norm 4.8 -> 9.6 m3 (account A-002, login ewa)
    SP-003 main meter unread since Sep 20 -> estimate (account A-002)
    SP-004 main meter replaced on Oct 15 (account A-003, no login)
    """
    acc = {
        "A-001": store.upsert_account("A-001", "Jan Kowalski", login="jan"),
        "A-002": store.upsert_account("A-002", "Ewa Nowak", login="ewa"),
        "A-003": store.upsert_account("A-003", "Zakład Usługowy"),
    }
    sp = {
        "SP-001": store.upsert_service_point("SP-001", account_id=acc["A-001"], address="ul. Długa 1"),
        "SP-002": store.upsert_service_point("SP-002", account_id=acc["A-002"], address="ul. Polna 2",
                                             connection="unmetered", norm_category="household_bath_central_hw",
                                             norm_units=Decimal(2)),
        "SP-003": store.upsert_service_point("SP-003", account_id=acc["A-002"], address="ul. Polna 4"),
        "SP-004": store.upsert_service_point("SP-004", account_id=acc["A-003"], address="ul. Fabryczna 9"),
    }
    m = {
        "main1": store.upsert_meter("APA", "10000001", 1, 0x07, role="main", register_digits=5),
        "garden1": store.upsert_meter("APA", "10000002", 1, 0x07, role="garden",
                                      legalised_until=date(2030, 12, 31)),
        "main3": store.upsert_meter("KAM", "30000003", 0x1B, 0x16, role="main", register_digits=5),
        "old4": store.upsert_meter("DME", "40000004", 0x66, 0x16, role="main", register_digits=5),
        "new4": store.upsert_meter("DME", "40000005", 0x66, 0x16, role="main", register_digits=5),
    }
    store.install_meter(m["main1"], sp["SP-001"], "main", t(2025, 1, 1), 0)
    store.install_meter(m["garden1"], sp["SP-001"], "garden", t(2025, 4, 1), 0)
    store.install_meter(m["main3"], sp["SP-003"], "main", t(2025, 1, 1), 0)
    store.install_meter(m["old4"], sp["SP-004"], "main", t(2024, 1, 1), 0)
    store.replace_meter(m["old4"], m["new4"], t(2026, 10, 15), final_reading="1234.5", initial_reading="0.2")
    store.add_readings([
        NewReading(m["main1"], Decimal(90), t(2026, 9, 1), "radio"),
        NewReading(m["main1"], Decimal(100), t(2026, 10, 1), "radio"),
        NewReading(m["main1"], Decimal(110), t(2026, 11, 1), "radio"),
        NewReading(m["garden1"], Decimal(5), t(2026, 10, 1), "self_reading"),
        NewReading(m["garden1"], Decimal(7), t(2026, 11, 1), "self_reading"),
        NewReading(m["main3"], Decimal(50), t(2026, 3, 1), "radio"),
        NewReading(m["main3"], Decimal(80), t(2026, 9, 20), "manual"),
        NewReading(m["old4"], Decimal(1230), t(2026, 10, 1), "radio"),
        NewReading(m["new4"], Decimal("3.2"), t(2026, 11, 1), "radio"),
    ])
    return Sample(acc, sp, m)


def seed_town(store: Store, n: int, *, months: int = 12, end: date = date(2026, 11, 1), seed: int = 1,
              chunk: int = 2000) -> dict[str, int]:
    """N service points with `months` of monthly readings up to `end` (plus a few spot readings)."""
    rng = random.Random(seed)
    first = add_months(end, -months)
    counts = {"service_points": 0, "meters": 0, "readings": 0}
    pending: list[NewReading] = []

    def flush() -> None:
        if pending:
            counts["readings"] += store.add_readings(pending)
            pending.clear()

    for k in range(n):
        code = f"SP-{k:06d}"
        acc = store.upsert_account(f"A-{k:06d}", f"Customer {k}")
        sp_id = store.upsert_service_point(code, account_id=acc, address=f"ul. Testowa {k}")
        main = store.upsert_meter("APA", f"{k:08d}", 1, 0x07, role="main", register_digits=5)
        installed = at_midnight(first) - timedelta(days=30)
        daily = Decimal(rng.randint(50, 600)) / 1000        # 50..600 L a day
        start_value = Decimal(99_990) if k % 100 == 5 else Decimal(rng.randint(0, 5000))  # some roll over

        def register(at: datetime, start_value: Decimal = start_value, daily: Decimal = daily,
                     installed: datetime = installed) -> Decimal:
            secs = Decimal((at - installed).total_seconds())
            return (start_value + daily * secs / 86400).quantize(Decimal("0.001"))

        store.install_meter(main, sp_id, "main", installed, start_value)
        counts["service_points"] += 1
        counts["meters"] += 1
        new = None
        replace_at = at_midnight(add_months(end, -1)) + timedelta(days=14, hours=12)
        if k % 50 == 11:                                    # replaced mid-month before `end`
            new = store.upsert_meter("APA", f"8{k:07d}", 1, 0x07, role="main", register_digits=5)
            store.replace_meter(main, new, replace_at, final_reading=register(replace_at) % MODULUS,
                                initial_reading=0)
            counts["meters"] += 1
        d = first
        for _ in range(months + 1):
            if k % 20 == 7 and d.month in (3, 4):            # unread for two months
                d = add_months(d, 1)
                continue
            at = at_midnight(d) + timedelta(hours=rng.randint(0, 72))
            if new is not None and at >= replace_at:
                pending.append(NewReading(new, register(at) - register(replace_at), at, "radio"))
            else:
                pending.append(NewReading(main, register(at) % MODULUS, at, "radio"))
            d = add_months(d, 1)
        if k % 10 == 3:
            g = store.upsert_meter("APA", f"9{k:07d}", 1, 0x07, role="garden",
                                   legalised_until=date(2029, 12, 31))
            store.install_meter(g, sp_id, "garden", at_midnight(first), 0)
            counts["meters"] += 1
            for i in range(0, months + 1, 2):
                at = at_midnight(add_months(first, i))
                pending.append(NewReading(g, Decimal(i) * Decimal("0.8"), at, "self_reading"))
        if len(pending) >= chunk:
            flush()
    flush()
    return counts
