"""A synthetic town for the end-to-end demo: meters on streets, their registry, and a van's drive past them
as radio bursts for the SDR synthesiser.

`collector.simdrive` models a drive at the frame level (for the collector's own tests); this module goes one
layer down, to IQ: every transmission becomes a `collector.radio.synth.Burst` with a signal level from the
distance to the van, a carrier offset and chip-rate error per meter, T1 or C1 (frame A or B) by family, and
collisions where transmissions overlap. It also writes what the back office knows before the drive
(meters.csv, service_points.csv, keys.csv in the formats `server.imports` reads) and the consumption model
that previous-period readings are seeded from, so billing has what it needs.

Time compression: a real drive past a few hundred meters takes minutes, which at 1.6 MS/s is gigabytes of
IQ. The capture is the drive played `compress` times faster: each burst keeps its own length (the PHY is
untouched) but bursts sit `compress` times closer together, so collisions are that much more frequent than
on a real street (a conservative demo). `sim_time(stream_t)` maps a capture time back to drive time.

The truth recorded here comes from the generated bursts, never from the pipeline that later counts them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from decoders.build import build_telegram

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus" / "wmbus_telegrams.jsonl"

# family: (manufacturer, version, device type, link mode, frame format, transmit interval s, encrypted)
# Real-world-like: Apator, Diehl, Sensus, Itron, Zenner, Kamstrup (C1), Bmeters water meters.
FAMILIES: dict[str, tuple[str, int, int, str, str, float, bool]] = {
    "ultrimis": ("APA", 0x01, 0x16, "T1", "A", 8.0, True),     # driver ultrimisv2: error flags -> alarms
    "hydrus": ("DME", 0x70, 0x07, "T1", "A", 16.0, True),
    "iperl": ("SEN", 0x68, 0x07, "T1", "A", 16.0, True),
    "itron": ("ITW", 0x33, 0x07, "T1", "A", 20.0, False),
    "zenner": ("ZRI", 0x30, 0x07, "T1", "A", 12.0, False),
    "kamstrup": ("KAM", 0x1B, 0x16, "C1", "B", 16.0, True),
    "bmeters": ("BMT", 0x10, 0x07, "C1", "A", 24.0, False),
}
GARDEN_FAMILY = "zenner"
FOREIGN_TYPES = ("HeatMeter", "HeatCostAllocationMeter", "SmokeDetector", "TempHygroMeter")
LEAK, BACKFLOW = 0x80, 0x40        # Ultrimis error-flag bits (decoders/drivers/apator.py)


@dataclass(slots=True)
class TownMeter:
    meter_id: str
    family: str                    # a FAMILIES key, or "foreign:<meter type>"
    mfct: str
    version: int
    device_type: int
    mode: str
    frame_format: str
    interval_s: float
    phase_s: float
    s_m: float                     # position along the driven path
    side_m: float                  # distance from the kerb line (house set back, basement)
    shadow_db: float               # extra loss: pit lids, basements
    freq_offset_hz: float
    rate_error: float
    role: str = "main"             # main | garden | foreign
    service_point: str | None = None
    account: str | None = None
    address: str = ""
    key: bytes | None = None
    key_in_registry: bool = True
    base_m3: float = 0.0           # register at TOWN_EPOCH
    daily_m3: float = 0.0
    alarm_bits: int = 0
    on_route: bool = True
    reachable: bool = True         # on a street the van actually drives
    fixed_telegram: bytes | None = None   # foreign devices: a real telegram from the corpus

    def volume_at(self, t: dt.datetime) -> float:
        days = (t - TOWN_EPOCH).total_seconds() / 86400.0
        return round(self.base_m3 + self.daily_m3 * days, 3)

    def telegram(self, n: int, at: dt.datetime) -> bytes:
        """The n-th transmission (access number n) at drive time `at`."""
        if self.fixed_telegram is not None:
            return self.fixed_telegram
        litres = int(round(self.volume_at(at) * 1000))
        records = bytes.fromhex("0413") + (litres & 0xFFFFFFFF).to_bytes(4, "little")
        if self.family == "ultrimis":
            records += bytes.fromhex("03FD17") + self.alarm_bits.to_bytes(3, "little")
        return build_telegram(mfct=self.mfct, meter_id=self.meter_id, version=self.version,
                              device_type=self.device_type, acc=n & 0xFF, records=records,
                              mode=5 if self.key else 0, key=self.key)


TOWN_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(slots=True)
class TownBurst:
    meter_id: str
    n: int                         # transmission number (access number)
    sim_s: float                   # drive time since the start
    start_s: float                 # capture time
    duration_s: float
    ecn0_db: float
    mode: str
    frame_format: str
    telegram: bytes
    collided_with: list[int] = field(default_factory=list)


@dataclass
class Town:
    """`Town(n_main=200, n_garden=30, n_foreign=30, seed=1)`; `.bursts()` plans the drive."""

    n_main: int = 200
    n_garden: int = 30
    n_foreign: int = 30
    n_off_route_street: int | None = None   # route meters on a street the van skips (default ~4 %)
    n_no_key: int = 2               # encrypted route meters whose key the utility does not have
    seed: int = 1
    spacing_m: float = 14.0         # along the path between neighbouring houses
    speed_kmh: float = 30.0
    compress: float = 8.0
    drive_start: dt.datetime = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    ref_ecn0_db: float = 36.0       # Ec/N0 at 20 m
    path_loss_exp: float = 3.3
    min_ecn0_db: float = 6.0        # weaker bursts are not worth synthesising (pure noise to the demod)
    origin: tuple[float, float] = (50.3490, 18.2260)   # Kędzierzyn-Koźle
    meters: list[TownMeter] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.n_off_route_street is None:
            self.n_off_route_street = max(1, self.n_main // 25)
        rnd = random.Random(self.seed)
        fams = list(FAMILIES)
        n_route = self.n_main + self.n_garden
        garden_of = set(rnd.sample(range(self.n_main), min(self.n_garden, self.n_main)))
        no_key = set(rnd.sample([i for i in range(self.n_main) if FAMILIES[fams[i % len(fams)]][6]],
                                self.n_no_key))
        s = 0.0
        streets = ["Piastowska", "Kozielska", "Słowackiego", "Grunwaldzka", "Damrota", "Chrobrego", "Mostowa"]
        for i in range(self.n_main):
            s += self.spacing_m * rnd.uniform(0.7, 1.3)
            fam = fams[i % len(fams)]
            mfct, ver, typ, mode, fmt, interval, enc = FAMILIES[fam]
            reachable = i < self.n_main - self.n_off_route_street
            sp = f"SP{i + 1:05d}"
            street = streets[(i // 30) % len(streets)] if reachable else "Zielona (not driven)"
            m = TownMeter(
                meter_id=f"{(30000000 + self.seed * 100000 + i) % 10**8:08d}", family=fam, mfct=mfct, version=ver,
                device_type=typ, mode=mode, frame_format=fmt, interval_s=interval * rnd.uniform(0.95, 1.05),
                phase_s=rnd.uniform(0, interval), s_m=s if reachable else 1e9, side_m=rnd.uniform(6, 25),
                shadow_db=rnd.choice([0, 0, 0, 3, 6, 10]), freq_offset_hz=rnd.uniform(-25e3, 25e3),
                rate_error=rnd.uniform(-0.004, 0.004), service_point=sp, account=f"K{i + 1:05d}",
                address=f"ul. {street} {i % 30 + 1}", key=rnd.randbytes(16) if enc else None,
                key_in_registry=i not in no_key, base_m3=round(rnd.uniform(20, 900), 3),
                daily_m3=round(rnd.uniform(0.08, 0.6), 4), reachable=reachable)
            if fam == "ultrimis" and i % 21 == 0:
                m.alarm_bits = LEAK if i % 42 == 0 else BACKFLOW
            self.meters.append(m)
        for j, i in enumerate(sorted(garden_of)):
            main = self.meters[i]
            mfct, ver, typ, mode, fmt, interval, enc = FAMILIES[GARDEN_FAMILY]
            self.meters.append(TownMeter(
                meter_id=f"{(38000000 + self.seed * 100000 + j) % 10**8:08d}", family=GARDEN_FAMILY, mfct=mfct,
                version=ver, device_type=typ, mode=mode, frame_format=fmt, interval_s=interval * rnd.uniform(0.95, 1.05),
                phase_s=rnd.uniform(0, interval), s_m=main.s_m + rnd.uniform(-5, 5), side_m=main.side_m + 10,
                shadow_db=rnd.choice([0, 3, 6]), freq_offset_hz=rnd.uniform(-25e3, 25e3),
                rate_error=rnd.uniform(-0.004, 0.004), role="garden", service_point=main.service_point,
                account=main.account, address=main.address + " (garden)", base_m3=round(rnd.uniform(2, 60), 3),
                daily_m3=round(main.daily_m3 * rnd.uniform(0.05, 0.3), 4), reachable=main.reachable))
        assert len(self.meters) == n_route
        length = max(m.s_m for m in self.meters if m.reachable) + self.spacing_m
        for tg, mtype in foreign_telegrams(self.n_foreign, rnd):
            mid = f"{tg[7]:02X}{tg[6]:02X}{tg[5]:02X}{tg[4]:02X}"
            interval = rnd.choice([30.0, 60.0, 120.0]) if mtype != "SmokeDetector" else 40.0
            self.meters.append(TownMeter(
                meter_id=mid, family=f"foreign:{mtype}", mfct="", version=tg[8], device_type=tg[9], mode="T1",
                frame_format="A", interval_s=interval, phase_s=rnd.uniform(0, interval),
                s_m=rnd.uniform(0, length), side_m=rnd.uniform(6, 30), shadow_db=rnd.choice([0, 3, 6]),
                freq_offset_hz=rnd.uniform(-25e3, 25e3), rate_error=rnd.uniform(-0.004, 0.004), role="foreign",
                on_route=False, fixed_telegram=tg))
        self._length = length

    # ------------------------------------------------------------------ geometry and time

    @property
    def range_m(self) -> float:
        """Distance at which a burst falls to min_ecn0_db."""
        return 20.0 * 10 ** ((self.ref_ecn0_db - self.min_ecn0_db) / (10 * self.path_loss_exp))

    @property
    def drive_s(self) -> float:
        return (self._length + 2 * self.range_m) / (self.speed_kmh / 3.6)

    @property
    def capture_s(self) -> float:
        return self.drive_s / self.compress + 0.2

    def van_s(self, sim_s: float) -> float:
        return -self.range_m + sim_s * self.speed_kmh / 3.6

    def sim_time(self, stream_t: float) -> dt.datetime:
        return self.drive_start + dt.timedelta(seconds=stream_t * self.compress)

    def position(self, sim_s: float) -> tuple[float, float]:
        """Lat/lon of the van: the path runs east along a row of streets (a real town is a polyline)."""
        s = self.van_s(sim_s)
        return (self.origin[0] + 0.0004 * math.sin(s / 400.0), self.origin[1] + s / 71_000.0)

    def meter_latlon(self, m: TownMeter) -> tuple[float | None, float | None]:
        if not m.reachable:
            return None, None
        return (round(self.origin[0] + 0.0004 * math.sin(m.s_m / 400.0) + m.side_m / 111_000.0, 6),
                round(self.origin[1] + m.s_m / 71_000.0, 6))

    # ------------------------------------------------------------------ the drive

    def bursts(self) -> list[TownBurst]:
        """Every transmission heard above min_ecn0_db, in capture order, with collisions marked."""
        from collector.radio.phy import MODES, telegram_chips

        rnd = random.Random(self.seed * 7919 + 17)
        v = self.speed_kmh / 3.6
        out: list[TownBurst] = []
        for m in self.meters:
            if not m.reachable:
                continue
            t_in, t_out = m.s_m / v, (m.s_m + 2 * self.range_m) / v   # |van - meter| < range along the path
            n = max(0, int((t_in - m.phase_s) // m.interval_s))
            while True:
                t = m.phase_s + n * m.interval_s + rnd.uniform(-0.02, 0.02) * m.interval_s
                if t > t_out:
                    break
                if t >= 0:
                    d = math.hypot(self.van_s(t) - m.s_m, m.side_m)
                    ecn0 = (self.ref_ecn0_db - 10 * self.path_loss_exp * math.log10(max(d, 5.0) / 20.0)
                            - m.shadow_db + rnd.gauss(0, 2.0))
                    if ecn0 >= self.min_ecn0_db:
                        at = self.drive_start + dt.timedelta(seconds=t)
                        tg = m.telegram(n, at)
                        chips = len(telegram_chips(tg, m.mode, m.frame_format))
                        dur = chips / (MODES[m.mode].chip_rate * (1 + m.rate_error))
                        out.append(TownBurst(m.meter_id, n, t, t / self.compress + 0.05, dur, round(ecn0, 2),
                                             m.mode, m.frame_format, tg))
                n += 1
        out.sort(key=lambda b: b.start_s)
        for i, b in enumerate(out):
            for j in range(i + 1, len(out)):
                if out[j].start_s >= b.start_s + b.duration_s:
                    break
                b.collided_with.append(j)
                out[j].collided_with.append(i)
        return out

    def scene(self, bursts: list[TownBurst]):
        from collector.radio.synth import Burst, Scene

        by_id = {m.meter_id: m for m in self.meters}
        return Scene(fs=1.6e6, centre_hz=868.95e6, duration_s=self.capture_s, seed=self.seed, dc_db=12.0,
                     bursts=[Burst(b.telegram, b.mode, b.frame_format, b.start_s, b.ecn0_db,
                                   by_id[b.meter_id].freq_offset_hz, by_id[b.meter_id].rate_error)
                             for b in bursts])

    # ------------------------------------------------------------------ what the back office knows

    def route_meters(self) -> list[TownMeter]:
        return [m for m in self.meters if m.on_route]

    def write_registry(self, directory: Path, *, route: str, van: str) -> dict[str, Path]:
        """meters.csv, service_points.csv and keys.csv in server.imports' formats."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"meters": directory / "meters.csv", "service_points": directory / "service_points.csv",
                 "keys": directory / "keys.csv"}
        with paths["meters"].open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["manufacturer", "id", "version", "device_type", "role", "model", "legalised_on",
                        "legalised_until", "register_digits", "transmit_interval_s", "plausible_min_m3",
                        "plausible_max_m3"])
            for m in self.route_meters():
                w.writerow([m.mfct, m.meter_id, f"0x{m.version:02X}", f"0x{m.device_type:02X}", m.role, m.family,
                            "2024-03-01", "2030-03-01", 8, round(m.interval_s), 0, 60 if m.role == "main" else 20])
        with paths["service_points"].open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["code", "account", "account_name", "address", "connection", "sewered", "lat", "lon",
                        "meter_id", "meter_manufacturer", "meter_version", "meter_device_type", "role",
                        "installed_at", "initial_reading", "route", "van"])
            mains = {m.service_point: m for m in self.route_meters() if m.role == "main"}
            for m in self.route_meters():
                lat, lon = self.meter_latlon(mains[m.service_point])   # the service point's place, not the pit's
                w.writerow([m.service_point, m.account, f"Odbiorca {m.account}", m.address.replace(" (garden)", ""),
                            "metered", "yes", lat if lat is not None else "", lon if lon is not None else "",
                            m.meter_id, m.mfct, f"0x{m.version:02X}", f"0x{m.device_type:02X}", m.role,
                            "2025-06-01", f"{m.volume_at(dt.datetime(2025, 6, 1, tzinfo=dt.UTC)):.3f}", route, van])
        with paths["keys"].open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "key", "manufacturer"])
            for m in self.route_meters():
                if m.key is not None and m.key_in_registry:
                    w.writerow([m.meter_id, m.key.hex().upper(), m.mfct])
        return paths

    def previous_readings(self) -> list[tuple[TownMeter, dt.datetime, Decimal]]:
        """Readings of the two previous monthly drives (what last months' vans brought home)."""
        out = []
        for m in self.route_meters():
            for when in (dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.UTC), dt.datetime(2026, 10, 1, 0, 0, tzinfo=dt.UTC)):
                out.append((m, when, Decimal(f"{m.volume_at(when):.3f}")))
        return out

    def truth_dict(self, bursts: list[TownBurst]) -> dict:
        route = {m.meter_id for m in self.route_meters()}
        heard = {b.meter_id for b in bursts}
        clean = {b.meter_id for b in bursts if not b.collided_with and b.ecn0_db >= 16.0}
        no_key = {m.meter_id for m in self.route_meters() if m.key is not None and not m.key_in_registry}
        return {
            "route_meters": len(route), "foreign_devices": sum(1 for m in self.meters if not m.on_route),
            "bursts": len(bursts), "collided_bursts": sum(1 for b in bursts if b.collided_with),
            "route_transmitted": sorted(heard & route),
            "route_clean": sorted(clean & route),           # at least one strong burst nobody stepped on
            "route_never_in_range": sorted(route - heard),
            "no_key": sorted(no_key),
            "alarmed": sorted(m.meter_id for m in self.meters if m.alarm_bits),
            "foreign_transmitted": sorted(heard - route),
            "drive_s": round(self.drive_s, 1), "capture_s": round(self.capture_s, 2), "compress": self.compress,
        }


def foreign_telegrams(n: int, rnd: random.Random) -> list[tuple[bytes, str]]:
    """Up to n distinct devices of other kinds (heat, HCA, smoke, climate) from the telegram corpus."""
    from decoders.crc import FrameError, normalise

    picks: dict[str, tuple[bytes, str]] = {}
    for line in CORPUS.read_text().splitlines():
        if not line.strip():
            continue
        case = json.loads(line)
        if case.get("meter_type") not in FOREIGN_TYPES or case.get("header", {}).get("frame") != "wmbus":
            continue
        try:
            tg, _ = normalise(bytes.fromhex(case["telegram"]))
        except (FrameError, ValueError):
            continue
        if len(tg) < 12 or len(tg) > 120:
            continue
        picks.setdefault(tg[2:10].hex(), (tg, case["meter_type"]))
    by_type: dict[str, list[tuple[bytes, str]]] = {t: [] for t in FOREIGN_TYPES}
    for item in sorted(picks.values()):
        by_type[item[1]].append(item)
    for items in by_type.values():
        rnd.shuffle(items)
    out: list[tuple[bytes, str]] = []
    while len(out) < n and any(by_type.values()):   # round robin: every kind of device shows up
        for items in by_type.values():
            if items and len(out) < n:
                out.append(items.pop())
    return out
