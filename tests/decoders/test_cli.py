"""`amr decode` end to end through click: inputs, formats, keys, errors, state across lines."""

from __future__ import annotations

import json

from click.testing import CliRunner

from amr.cli import main
from decoders.build import build_telegram

KEY = bytes.fromhex("0102030405060708090A0B0C0D0E0F11")
PLAIN = "2E44333003020100071B7A634820252F2F0265840842658308820165950802FB1AAE0142FB1AAE018201FB1AA9012F"
RECORDS = bytes.fromhex("0C1378563412426C9F2C")


def run(args, input=None):
    res = CliRunner().invoke(main, ["decode", *args], input=input, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in res.output.splitlines()]


def test_hex_args_one_line_each():
    out = run([PLAIN, "zz", "0102"])
    assert len(out) == 3
    assert out[0]["_"] == "decoded" and out[0]["identity"]["id"] == "00010203"
    assert out[0]["records"][0] == {"quantity": "external_temperature", "value": 21.8, "unit": "C", "storage": 0,
                                    "tariff": 0, "subunit": 0, "function": "instantaneous", "dif_vif": "0265"}
    assert out[1]["_"] == "error" and out[1]["reason"] == "MALFORMED"
    assert out[2] == {"_": "error", "reason": "LENGTH", "detail": out[2]["detail"], "telegram": "0102"}


def test_stdin_json_requests_and_wmbusmeters_format():
    enc = build_telegram(mode=5, key=KEY, records=RECORDS).hex()
    lines = "\n".join([
        PLAIN,
        json.dumps({"telegram": enc, "key": KEY.hex(), "driver": None}),
        json.dumps({"telegram": enc, "key": None}),
        json.dumps({"telegram": enc, "key": "00" * 16}),
        "",
        "{not json",
    ]) + "\n"
    out = run(["--format", "wmbusmeters", "-"], input=lines)
    assert len(out) == 5
    assert out[0]["_"] == "telegram" and out[0]["id"] == "00010203" and "timestamp" in out[0]
    assert out[1]["total_m3"] == 12345.678 and out[1]["target_date"] == "2020-12-31"
    assert out[1]["meter"] == "unknown" and out[1]["id"] == "12345678"
    assert out[2]["reason"] == "NO_KEY" and out[3]["reason"] == "WRONG_KEY"
    assert out[4]["_"] == "error"
    text = json.dumps(out).lower()
    assert KEY.hex() not in text


def test_file_input_and_key_file(tmp_path):
    t1 = build_telegram(mode=5, key=KEY, records=RECORDS, meter_id="11112222")
    t2 = build_telegram(mode=7, key=KEY, records=RECORDS, meter_id="33334444", counter=9)
    f = tmp_path / "t.txt"
    f.write_text(f"{t1.hex()}\n# comment\n{t2.hex().upper()}\n")
    keys = tmp_path / "keys.csv"
    keys.write_text(f"id,key,manufacturer\n11112222,{KEY.hex()},\n33334444,{KEY.hex()},ABC\n")
    out = run(["--keys", str(keys), str(f)])
    assert [o["security"]["outcome"] for o in out] == ["decrypted", "decrypted"]
    assert out[1]["security"]["mac_verified"] is True and out[1]["security"]["message_counter"] == 9
    toml = tmp_path / "keys.toml"
    toml.write_text(f'[keys]\n"11112222" = "{KEY.hex()}"\n')
    out = run(["--keys", str(toml), str(f)])
    assert out[0]["security"]["outcome"] == "decrypted" and out[1]["reason"] == "NO_KEY"


def test_bad_key_file_is_a_clean_error(tmp_path):
    keys = tmp_path / "k.csv"
    keys.write_text("id,key\n12345678,nothex\n")
    res = CliRunner().invoke(main, ["decode", "--keys", str(keys), PLAIN])
    assert res.exit_code != 0 and "not hex" in res.output and "Traceback" not in res.output


def test_state_carries_across_lines():
    """A compact frame after the full frame that teaches its format decodes in the same run."""
    full = build_telegram(ci=0x7A, records=RECORDS, meter_id="55556666")
    from decoders.crc import crc16_en13757
    from decoders.records import format_signature

    sig = format_signature(bytes.fromhex("0C13426C"))
    values = bytes.fromhex("785634129F2C")
    compact = bytearray(build_telegram(ci=0x7B, records=b"", meter_id="55556666"))
    compact += sig.to_bytes(2, "little") + crc16_en13757(values).to_bytes(2, "little") + values
    compact[0] = len(compact) - 1
    out = run([bytes(compact).hex()])
    assert out[0]["reason"] == "COMPACT_FORMAT_UNKNOWN"
    out = run([full.hex(), bytes(compact).hex()])
    assert out[1]["_"] == "decoded" and out[1]["fields"]["total_m3"] == 12345.678


def test_unknown_driver_falls_back_to_detection():
    out = run(["--driver", "no-such-driver", PLAIN])
    assert out[0]["_"] == "decoded" and any("unknown" in n for n in out[0]["notes"])


# Found by a mutation campaign: a long binary record read as a number gives an integer beyond 64 bits
# (qsmoke's transmission counter, c5isf's status word), which orjson refuses; the CLI died on the line.
BIG_INT_LINES = [
    {"telegram": "3e449344867f7945211a780dfd08f081027c034955230082026cffff818d7c034c41230082036cffff03fd17000000326c"
                 "ffff046d0f0abc2b02fdac7e1100", "driver": "qsmoke"},
    {"telegram": "e544496a55554455880d7a320200002f2f0406000000000413000000000dfd172400848001060000000082800"
                 "16c2124c480010600000080c280016cffff84810106000000808281016cffffc481010600000080c281016cffff8482"
                 "0106000000808282016cffffc482010600000080c282016cffff848301060000008d8283016cffffc4830106000000"
                 "80c283016cffff84840106000000808284016cffffc484010600000080c284016cffff848501060000008082850"
                 "16cffffc485010600000080c285016cffff84860106000000808286016cffffc486010600000080c286016cffff",
     "driver": "c5isf"},
]


def test_integers_beyond_64_bits_are_printed_not_fatal():
    lines = "\n".join(json.dumps(x) for x in BIG_INT_LINES) + "\n" + PLAIN + "\n"
    for fmt in ("json", "wmbusmeters"):
        out = run(["--format", fmt, "-"], input=lines)
        assert len(out) == 3 and out[2]["_"] in ("decoded", "telegram")
        fields = [o["fields"] if fmt == "json" else o for o in out]
        assert fields[0]["transmission_counter"] > 2 ** 64
        if fmt == "json":
            assert out[1]["alarm_bits"]["status"] > 2 ** 64


def test_the_fallback_text_is_the_same_document():
    """`_json_bytes(to_json(r))` (the path for what orjson refuses) reads back as the same JSON as the fast
    path, over the corpus."""
    import orjson

    from decoders import DecoderState, decode
    from decoders.cli import _default, _json_bytes
    from decoders.output import decoded_json, to_json
    from tests.decoders.test_fuzz import TELEGRAMS

    state = DecoderState()
    for t in TELEGRAMS:
        r = decode(t, state=state)
        fast = decoded_json(r, lambda v: orjson.dumps(v, default=_default))
        assert json.loads(_json_bytes(to_json(r))) == json.loads(fast), t.hex()
