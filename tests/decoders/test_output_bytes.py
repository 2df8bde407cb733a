"""`decoded_json` (the CLI's byte renderer) against the reference rendering: `to_json` dicts serialised by
orjson with the CLI's default. Byte for byte over the whole corpus (every telegram twice, the second time
from the caches), the extra reference cases, hand-made edge cases and generated record values."""

from __future__ import annotations

import datetime as dt
import enum
import glob
import json
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders import decode
from decoders.cli import _default
from decoders.model import Alarm, Decoded, Identity, Reading, Reject, Rejection
from decoders.output import decoded_json, to_json
from tests.drivers.golden import decode_frames

ROOT = Path(__file__).resolve().parents[2]


def dumps(v):
    return orjson.dumps(v, default=_default)


def reference(r) -> bytes:
    return orjson.dumps(to_json(r), default=_default)


def check(r) -> None:
    for _ in range(2):  # cold, then from the caches
        assert decoded_json(r, dumps) == reference(r)


def test_whole_corpus(corpus):
    n = 0
    for r in decode_frames(corpus):
        check(r)
        n += r.ok
    assert n > 280


def test_reference_cases_and_no_driver():
    n = 0
    for path in sorted(glob.glob(str(ROOT / "fixtures" / "wmbusmeters_tests" / "*.jsonl"))):
        for line in Path(path).read_text().splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            hexes = [v for k, v in case.items() if "telegram" in k and isinstance(v, str)]
            for t in hexes:
                try:
                    raw = bytes.fromhex(t)
                except ValueError:
                    continue
                for drv in (case.get("driver"), None):
                    check(decode(raw, driver=drv))
                    n += 1
    for t in ("", "00", "2F", "1144" + "00" * 16, "68050568080172FF16"):
        check(decode(bytes.fromhex(t)))


class Code(enum.IntEnum):
    A = 3


class Real(float):
    pass


IDENT = Identity("ABC", "12345678", 1, 7)
ODD = [0, -1, 2**63 - 1, 2**64 - 1, 1.5, 0.1 + 0.2, float("nan"), float("inf"), -0.0, 1e16, 1e-7, True, False,
       None, "", "a,b", 'q"uote', "back\\slash", "tab\there", "ünï€", "50 %", "%s%b", "\x00\x1f",
       dt.date(2024, 2, 29), dt.date(999, 1, 1), dt.datetime(2021, 10, 12, 8, 7, 6), dt.time(1, 2, 3),
       b"\x00\xff", [1, 2], [], {"k": 1, "l": [2, 3]}, Code.A, Real(2.5), Real("nan")]


def reading(v, i=0, unit="m3", quantity="volume", vifes=()):
    return Reading(quantity, v, unit, i % 3, i % 2, i % 2, "instantaneous", f"0C{i:02X}", 0x13, vifes, b"\x01")


def decoded(readings, **kw):
    base = dict(raw=bytes.fromhex("2E4401020304"), identity=IDENT, c_field=0x44, ci_chain=("ELL:8D", "TPL:7A"),
                security="mode5", access_number=7, status=0, readings=readings, driver="x", media="water")
    base.update(kw)
    return Decoded(**base)


def test_edge_cases():
    check(decoded([reading(v, i) for i, v in enumerate(ODD)]))
    for i, v in enumerate(ODD):
        check(decoded([reading(v, i), reading(1, i + 1)], fields={"f": v, "g": 1}))
    check(decoded([], fields={f"k{i}": v for i, v in enumerate(ODD)}))
    check(decoded([reading(1, unit="%", quantity="relative_humidity", vifes=("a,b", "%"))]))
    check(decoded([reading(1)], tpl_identity=Identity("XYZ", "87654321", 3, 4), message_counter=123456,
                  mac_verified=True, mfct_data=b"\x01\xab", notes=("n1", 'n"2', "ü"), status=0x85,
                  alarms=frozenset({Alarm.LEAK, Alarm.BURST, Alarm.TAMPER}), alarm_bits={"sts": 5, "x": 1},
                  decryption="decrypted", frame_format="B", driver=None, media="heat ©"))
    # the same middle part with values that compare equal but print differently
    check(decoded([reading(1)], status=1, mac_verified=True))
    check(decoded([reading(1)], status=True, mac_verified=1))
    check(decoded([reading(1)], c_field=68.0))
    check(decoded([reading(1)], identity=Identity("ABC", "12345678", 1, 7)))  # equal, another object
    check(decoded([reading(1)], identity=None))
    check(Rejection(Reject.LENGTH, 'bad "x"', b"\x01\x02", IDENT, ("TPL:7A",)))


values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1), st.floats(), st.text(max_size=8), st.none(),
    st.booleans(), st.dates(), st.datetimes(), st.binary(max_size=4), st.lists(st.integers(0, 9), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, st.integers(0, 5), st.sampled_from(["m3", "%", "kWh", ""])), max_size=12))
def test_generated_records(items):
    check(decoded([reading(v, i, unit=u) for v, i, u in items]))
