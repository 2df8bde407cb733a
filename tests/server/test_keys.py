"""Meter keys are encrypted at rest and never appear in reprs, logs or error messages."""

from __future__ import annotations

import logging
import os

import pytest
from sqlalchemy import select, update

from server.imports import ImportFileError, import_keys
from server.keyvault import KeyVaultError, MasterKey
from server.models import MeterKey
from server.store import Store

KEY = bytes.fromhex("A004EB23329A477F1DD2D7820B56EB3D")


def test_ciphertext_at_rest_and_keystore(store: Store):
    store.set_key("61070071", KEY, "ATT")
    store.set_key("12345678", bytes(range(16)))
    with store.engine.connect() as c:
        rows = c.execute(select(MeterKey.address, MeterKey.manufacturer, MeterKey.ciphertext)).all()
    assert len(rows) == 2
    for _a, _m, ct in rows:
        assert KEY not in ct and KEY.hex() not in ct.hex().upper() and bytes(range(16)) not in ct
        assert len(ct) == 1 + 12 + 16 + 16
    from decoders.model import Identity

    ks = store.keystore()
    assert ks.get(Identity("ATT", "61070071", 0x25, 7)) == KEY
    assert ks.get(Identity("XYZ", "12345678", 1, 7)) == bytes(range(16))  # no manufacturer: any
    assert ks.get(Identity("ATT", "99999999", 1, 7)) is None
    for text in (repr(ks), str(ks), repr(store), repr(store.master_key)):
        assert KEY.hex().upper() not in text.upper()


def test_wrong_master_key_and_swapped_rows_fail_loudly(store: Store, db_url: str):
    store.set_key("00000001", KEY, "AAA")
    store.set_key("00000002", bytes(16), "AAA")
    other = Store(db_url, master_key=MasterKey(os.urandom(32)))
    with pytest.raises(KeyVaultError):
        other.keystore()
    other.close()
    # a ciphertext copied onto another meter's row does not open (the identity is authenticated)
    with store.engine.begin() as c:
        ct = c.execute(select(MeterKey.ciphertext).where(MeterKey.address == "00000001")).scalar_one()
        c.execute(update(MeterKey).where(MeterKey.address == "00000002").values(ciphertext=ct))
    store._keys = None
    with pytest.raises(KeyVaultError):
        store.keystore()


def test_import_keys_never_logs_or_echoes_keys(store: Store, tmp_path, caplog):
    p = tmp_path / "keys.csv"
    p.write_text("# site keys\nid,key,manufacturer\n61070071,A004EB23329A477F1DD2D7820B56EB3D,ATT\n"
                 "12345678,,\n")
    caplog.set_level(logging.DEBUG)
    r = import_keys(store, p)
    assert r.keys == 1
    assert store.key_count() == 1
    assert import_keys(store, p).keys == 1 and store.key_count() == 1  # re-import: same rows
    bad = tmp_path / "bad.csv"
    bad.write_text("id,key\n61070071,A004EB23329A477F1DD2D7820B56EB3DZZ\n1,00112233\n")
    with pytest.raises(ImportFileError) as ei:
        import_keys(store, bad)
    msg = str(ei.value)
    assert "line 2: key: not hex" in msg and "line 3: key: must be 16" in msg
    assert "A004EB23" not in msg and "00112233" not in msg
    assert "A004EB23" not in caplog.text.upper()


def test_master_key_file_is_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv("AMR_MASTER_KEY", raising=False)
    path = tmp_path / "var" / "master.key"
    monkeypatch.setenv("AMR_MASTER_KEY_FILE", str(path))
    mk = MasterKey.load()
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    sealed = mk.seal(KEY, "1", "")
    assert MasterKey.load().open(sealed, "1", "") == KEY
    assert str(path) in repr(mk) and KEY.hex() not in repr(mk)
    monkeypatch.setenv("AMR_MASTER_KEY", "nothex")
    with pytest.raises(KeyVaultError):
        MasterKey.load()


def test_ingest_keeps_raw_frames_when_the_master_key_is_wrong(store: Store, db_url: str, corpus, caplog):
    """A misconfigured master key must not lose data: frames are stored undecoded-with-reason and an error
    is logged; redecode with the right key recovers the readings."""
    import datetime as dt

    from decoders import KeyStore, decode
    from decoders.frame import Frame
    from server.redecode import redecode

    r = next(r for r in corpus if r.get("water") and r.get("key")
             and decode(bytes.fromhex(r["telegram"]), keys=KeyStore.single(r["key"])).ok
             and decode(bytes.fromhex(r["telegram"]), keys=KeyStore.single(r["key"])).readings
             and not decode(bytes.fromhex(r["telegram"])).ok)
    t = bytes.fromhex(r["telegram"])
    ident = decode(t, keys=KeyStore.single(r["key"])).meter
    store.set_key(ident.id, bytes.fromhex(r["key"]), ident.manufacturer)
    wrong = Store(db_url, master_key=MasterKey(os.urandom(32)))
    wrong.add_van("van-01")
    res = wrong.ingest_batch("van-01", "b", [(Frame(t, dt.datetime(2026, 10, 1, tzinfo=dt.UTC), "t"), None)])
    wrong.close()
    assert res.telegrams_new == 1 and res.readings_new == 0
    assert "meter keys unavailable" in caplog.text and r["key"] not in caplog.text.upper()
    assert redecode(store, only_failed=True, workers=1).readings_new > 0


def test_no_master_key_is_minted_over_existing_keys(store: Store, db_url: str, tmp_path, monkeypatch):
    store.set_key("00000001", KEY)
    monkeypatch.delenv("AMR_MASTER_KEY", raising=False)
    monkeypatch.setenv("AMR_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    fresh = Store(db_url)
    with pytest.raises(KeyVaultError):
        fresh.keystore()
    fresh.close()
    assert not (tmp_path / "absent.key").exists()
