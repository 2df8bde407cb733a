"""KeyStore: CSV/TOML loading, lookup precedence, secrecy."""

from __future__ import annotations

import pytest

from decoders.keys import KeyError_, KeyStore
from decoders.model import Identity

K1 = "000102030405060708090A0B0C0D0E0F"
K2 = "F0E0D0C0B0A090807060504030201000"


def test_csv_with_manufacturer_and_precedence(tmp_path):
    p = tmp_path / "k.csv"
    p.write_text(f"id,key,manufacturer\n12345678,{K1},\n12345678,{K2},KAM\n# comment\n00000001,,\n")
    ks = KeyStore.from_csv(p)
    assert ks.get(Identity("KAM", "12345678", 0x1B, 0x16)) == bytes.fromhex(K2)
    assert ks.get(Identity("APA", "12345678", 1, 7)) == bytes.fromhex(K1)
    assert ks.get(Identity("APA", "00000001", 1, 7)) is None
    assert len(ks) == 2


def test_toml_both_forms(tmp_path):
    p = tmp_path / "k.toml"
    p.write_text(f'[keys]\n"1234" = "{K1}"\n\n[[meter]]\nid = "99999999"\nkey = "{K2}"\nmanufacturer = "SEN"\n'
                 'version = "68"\ndevice_type = "07"\n')
    ks = KeyStore.load(p)
    assert ks.get(Identity("X", "00001234", 0, 0)) == bytes.fromhex(K1)
    assert ks.get(Identity("SEN", "99999999", 0x68, 0x07)) == bytes.fromhex(K2)
    assert ks.get(Identity("SEN", "99999999", 0x69, 0x07)) is None


@pytest.mark.parametrize("row", [f"1234567G,{K1}", "12345678,0102", "12345678,zz" * 1, f"123456789,{K1}"])
def test_bad_rows_are_typed_and_secret(tmp_path, row):
    p = tmp_path / "k.csv"
    p.write_text("id,key\n" + row + "\n")
    with pytest.raises(KeyError_) as e:
        KeyStore.from_csv(p)
    assert K1.lower() not in str(e.value).lower()


def test_repr_hides_keys():
    ks = KeyStore()
    ks.add("12345678", K1)
    assert K1.lower() not in repr(ks).lower() and "1 keys" in repr(ks)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(ks)


def test_ten_thousand_meters_lookup_is_by_dict():
    ks = KeyStore()
    for n in range(10_000):
        ks.add(f"{n:08d}", bytes(16))
    assert ks.get(Identity("ABC", "00009999", 1, 7)) == bytes(16)
    assert ks.get(Identity("ABC", "10009999", 1, 7)) is None


# --- the CSV fast path (plain id,key rows) against the checked path -------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _checked(path):
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    return KeyStore.from_rows(csv.DictReader(lines), str(path))


def _outcome(load, path):
    try:
        ks = load(path)
    except KeyError_ as e:
        return ("error", str(e))
    return ("ok", ks._full, ks._mid, ks._id)


_CELL = st.sampled_from(["12345678", "1234", "abcdef12", "ABCDEF12", "1234567G", "123456789", " 12345678", "",
                         K1, K2.lower(), K1[:16], K1 + " ", "0102", "zz", "KAM", "kam ", "07", "1B", "x"])


_ID_CELL = st.sampled_from(["12345678", "1234", "abcdef12", "ABCDEF12", "1234567G", "123456789", " 12345678", ""])
_KEY_CELL = st.sampled_from([K1, K2.lower(), K1[:16], K1 + " ", "0102", "zz", ""])


@st.composite
def _csv_file(draw):
    if draw(st.integers(0, 3)):  # mostly a header the fast path takes: id, key and known columns
        header = draw(st.permutations(["id", "key", *draw(st.sets(st.sampled_from(
            ["manufacturer", "version", "device_type"])))]))
    else:
        header = draw(st.lists(st.sampled_from(["id", "key", "manufacturer", "version", "device_type", " Key",
                                                "ID", "other"]), min_size=1, max_size=5, unique=True))
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 4)):  # mostly rows as wide as the header, ids and keys where they belong
            row = [draw(_ID_CELL if h == "id" else _KEY_CELL if h == "key" else
                        st.sampled_from(["", "", "KAM", "kam ", "07", "1B", "x"])) for h in header]
        else:
            row = draw(st.lists(_CELL, min_size=1, max_size=6))
        rows.append(",".join(row))
    if draw(st.booleans()):
        rows.insert(0, "# a comment")
    return "\n".join([",".join(header), *rows]) + "\n"


@settings(max_examples=400, deadline=None)
@given(text=_csv_file())
def test_csv_fast_path_agrees_with_checked_path(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("k") / "k.csv"
    p.write_text(text)
    assert _outcome(KeyStore.from_csv, p) == _outcome(_checked, p)


def test_csv_fast_path_keeps_quoted_and_crlf_files(tmp_path):
    p = tmp_path / "k.csv"
    p.write_bytes(f'id,key\r\n"12345678","{K1}"\r\n00000002,{K2}\r\n'.encode())
    ks = KeyStore.from_csv(p)
    assert ks.get(Identity("ABC", "12345678", 1, 7)) == bytes.fromhex(K1)
    assert ks.get(Identity("ABC", "00000002", 1, 7)) == bytes.fromhex(K2)
    p.write_bytes(f"id,key\r\n00000003,{K1}\r\n".encode())
    assert KeyStore.from_csv(p).get(Identity("ABC", "00000003", 1, 7)) == bytes.fromhex(K1)
