"""The CLI's byte path (orjson straight to the binary buffer, cached per-record-kind JSON text) prints
exactly what the text path (`to_json` dicts through `_encoder()`) prints."""

from __future__ import annotations

import io
import json

import orjson

from decoders.cli import _default, run
from decoders.output import _record, records_json
from tests.drivers.golden import decode_frames


def test_records_json_equals_dicts_on_corpus(corpus):
    n = 0
    for r in decode_frames(corpus):
        if not r.ok:
            continue
        for _ in range(2):  # second time from the cached text
            got = records_json(r.readings, lambda v: orjson.dumps(v, default=_default))
            assert got == orjson.dumps([_record(x) for x in r.readings], default=_default)
        n += len(r.readings)
    assert n > 1000


def _lines(corpus) -> str:
    rows = []
    for case in corpus:
        for t in [*case.get("prior_telegrams", []), case["telegram"]]:
            rows.append(json.dumps({"telegram": t, "key": case.get("key"), "driver": case.get("driver")}))
    rows += ["zz", "0102", '{"telegram": "00", "key": "12"}']
    return "\n".join(rows * 2) + "\n"


def test_byte_path_prints_what_text_path_prints(corpus, tmp_path, monkeypatch):
    f = tmp_path / "lines.txt"
    f.write_text(_lines(corpus))
    text = io.StringIO()  # no .buffer: the text path
    raw = io.BytesIO()
    wrapped = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    run((str(f),), "json", None, None, text)
    run((str(f),), "json", None, None, wrapped)
    wrapped.flush()
    got = raw.getvalue().decode()
    assert got.count("\n") == text.getvalue().count("\n") > 600
    # timestamps are not in the json format, so the outputs are identical
    assert got == text.getvalue()
