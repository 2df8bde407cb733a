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
