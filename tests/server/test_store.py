"""Repository and Store API suite: the same tests on SQLite and PostgreSQL (see conftest.db_url)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from decoders import Decoded, KeyStore, decode
from decoders.frame import Frame, Position
from decoders.model import Alarm, Identity, Reading, Reject, Rejection
from server import repository
from server import store as store_mod
from server.models import RawTelegram
from server.store import IngestItem, InvalidInput, NewReading, NotFound, Store, UnknownVan

T0 = dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)


def _plain_water(corpus) -> list[bytes]:
    out = []
    for r in corpus:
        if not r.get("water") or r.get("key"):
            continue
        try:
            t = bytes.fromhex(r["telegram"])
        except ValueError:
            continue
        res = decode(t)
        if isinstance(res, Decoded) and any(x.quantity == "volume" and x.value is not None for x in res.readings):
            out.append(t)
    return out


def _encrypted(corpus) -> list[tuple[bytes, str, Identity]]:
    out = []
    for r in corpus:
        if not (r.get("water") and r.get("key")):
            continue
        t = bytes.fromhex(r["telegram"])
        bare, keyed = decode(t), decode(t, keys=KeyStore.single(r["key"]))
        if isinstance(bare, Rejection) and bare.reason == Reject.NO_KEY and isinstance(keyed, Decoded):
            out.append((t, r["key"], keyed.meter))
    return out


@pytest.fixture(scope="module")
def plain(corpus) -> list[bytes]:
    t = _plain_water(corpus)
    assert len(t) >= 10
    return t


@pytest.fixture(scope="module")
def encrypted(corpus) -> list[tuple[bytes, str, Identity]]:
    e = _encrypted(corpus)
    assert e
    return e


def frame(t: bytes, at: dt.datetime = T0, **kw) -> Frame:
    return Frame(telegram=t, received_at=at, source="virtual:test", link_mode="T1", rssi_dbm=-71.5,
                 position=Position(50.35, 18.2), **kw)


def snapshot(store: Store) -> dict[str, int]:
    return store.counts()


# ------------------------------------------------------------------------------------ ingest


def test_batch_replay_changes_nothing(store: Store, plain):
    store.add_van("van-01")
    items = [(frame(t, T0 + dt.timedelta(seconds=i)), None) for i, t in enumerate(plain)]
    first = store.ingest_batch("van-01", "batch-1", items)
    assert not first.replayed
    assert first.telegrams_new == len(set(plain))
    assert first.readings_new > 0
    assert first.decoded == len(plain)
    before = snapshot(store)
    assert store.batch_seen("van-01", "batch-1")

    again = store.ingest_batch("van-01", "batch-1", items)
    assert again.replayed and again.telegrams_new == 0 and again.readings_new == 0
    assert snapshot(store) == before

    # the same frames re-sent under a new batch id (van crashed before the ack): only the batch row is new
    resent = store.ingest_batch("van-01", "batch-2", items)
    assert not resent.replayed and resent.telegrams_new == 0 and resent.readings_new == 0
    after = snapshot(store)
    assert after.pop("ingest_batches") == before.pop("ingest_batches") + 1
    assert after == before


def test_duplicates_within_a_batch_are_absorbed(store: Store, plain):
    store.add_van("van-01")
    t = plain[0]
    r = store.ingest_batch("van-01", "b", [(frame(t), None), (frame(t, T0 + dt.timedelta(seconds=3)), None)])
    assert r.telegrams_new == 1
    assert store.counts()["raw_telegrams"] == 1


def test_readings_carry_source_version_and_telegram(store: Store, plain):
    store.add_van("van-01")
    store.ingest_batch("van-01", "b", [(frame(plain[0]), None)])
    res = decode(plain[0])
    meter = store.meter(identity=res.meter)
    assert meter is not None and meter.role is None  # heard, not in the registry
    rows = store.readings(meter_id=meter.id)
    assert rows
    assert {r.source for r in rows} == {"radio"}
    assert all(r.decoder_version == store.decoder_version for r in rows)
    tel = store.telegrams(meter_id=meter.id)
    assert len(tel) == 1 and tel[0].decode_ok and tel[0].telegram == plain[0]
    assert all(r.telegram_sha256 == tel[0].sha256 for r in rows)
    assert tel[0].rssi_dbm == -71.5 and tel[0].lat == 50.35
    assert tel[0].received_at == T0 and tel[0].received_at.tzinfo is not None
    vol = [r for r in rows if r.quantity == "volume" and r.storage == 0 and r.value is not None]
    expected = [x for x in res.readings if x.quantity == "volume" and x.storage == 0 and x.value is not None][0]
    assert vol and vol[0].value == Decimal(repr(expected.value)).quantize(Decimal("0.000001")).normalize()


def test_rejections_are_stored_raw_with_reason(store: Store, encrypted):
    store.add_van("van-01")
    t, _key, ident = encrypted[0]
    r = store.ingest_batch("van-01", "b", [(frame(t), None)])
    assert r.telegrams_new == 1 and r.readings_new == 0
    tel = store.telegrams(reject_reason="NO_KEY")
    assert len(tel) == 1 and tel[0].telegram == t and not tel[0].decode_ok
    assert tel[0].meter_id is not None


def test_van_results_are_used_when_given(store: Store):
    store.add_van("van-01")
    tel = bytes([11, 0x44, 0x01, 0x06, 0x78, 0x56, 0x34, 0x12, 0x03, 0x07, 0x7A, 0x05])
    ident = Identity("APA", "12345678", 3, 7)
    dec = Decoded(raw=tel, identity=ident, c_field=0x44, access_number=5, alarms=frozenset({Alarm.LEAK}),
                  readings=[Reading("volume", 12.345, "m3"), Reading("volume", 10, "m3", storage=1),
                            Reading("date", dt.date(2026, 9, 30), "", storage=1)])
    r = store.ingest_batch("van-01", "b", [IngestItem(frame(tel), dec)])
    assert r.readings_new == 3 and r.alarms_new == 1 and r.decoded == 0
    m = store.meter(identity=ident)
    rows = {(x.quantity, x.storage): x for x in store.readings(meter_id=m.id)}
    # the due-date register is stamped with the meter's own date; the current value with the bucketed reception
    due = rows[("volume", 1)]
    assert due.value_at == dt.datetime(2026, 9, 30, tzinfo=dt.UTC) and due.due_date and due.value == 10
    cur = rows[("volume", 0)]
    assert cur.value_at == T0 and not cur.due_date and cur.value == Decimal("12.345")
    assert rows[("date", 1)].value_text == "2026-09-30"
    al = store.alarms(since=T0 - dt.timedelta(days=1))
    assert [(a.alarm, a.meter_id) for a in al] == [("leak", m.id)]


def test_unknown_van_is_refused_and_writes_nothing(store: Store, plain):
    before = snapshot(store)
    with pytest.raises(UnknownVan):
        store.ingest_batch("ghost", "b", [(frame(plain[0]), None)])
    assert snapshot(store) == before


def test_naive_datetimes_are_refused(store: Store, plain):
    store.add_van("van-01")
    with pytest.raises(InvalidInput):
        store.ingest_batch("van-01", "b", [(frame(plain[0], dt.datetime(2026, 1, 1)), None)])
    with pytest.raises(InvalidInput):
        store.readings(since=dt.datetime(2026, 1, 1))


def test_a_failing_batch_leaves_no_trace(store: Store, plain, monkeypatch):
    store.add_van("van-01")
    before = snapshot(store)
    real = repository.insert_ignore

    def fail_on_readings(conn, table, rows, key, **kw):
        if table.name == "readings":
            raise RuntimeError("disk full")
        return real(conn, table, rows, key, **kw)

    monkeypatch.setattr(repository, "insert_ignore", fail_on_readings)
    with pytest.raises(RuntimeError):
        store.ingest_batch("van-01", "b", [(frame(t), None) for t in plain[:5]])
    monkeypatch.setattr(repository, "insert_ignore", real)
    assert snapshot(store) == before
    assert not store.batch_seen("van-01", "b")
    # the meter cache must not remember meters whose rows were rolled back
    r = store.ingest_batch("van-01", "b", [(frame(t), None) for t in plain[:5]])
    assert r.telegrams_new == 5


def test_bulk_path_is_idempotent(store: Store, plain, monkeypatch):
    """Above COPY_THRESHOLD PostgreSQL takes COPY -> staging -> INSERT … SELECT … ON CONFLICT; SQLite the
    executemany path. Replaying the bulk set, and a half-overlapping one, inserts exactly the new rows."""
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 50)
    store.add_van("van-01")
    items = [(frame(plain[i % len(plain)], T0 + dt.timedelta(hours=i)), None) for i in range(300)]
    first = store.ingest(items[:200], van="van-01")
    before = snapshot(store)
    assert first.readings_new > 200
    assert store.ingest(items[:200], van="van-01").readings_new == 0
    assert snapshot(store) == before
    second = store.ingest(items[100:], van="van-01")
    assert second.readings_new == store.counts()["readings"] - before["readings"] > 0


def test_copy_merge_converts_typed_columns(store: Store, monkeypatch):
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 2)
    m = store.upsert_meter("APA", "00000001", 1, 7, role="main")
    n = store.add_readings([NewReading(m, Decimal("1.25") + i, T0 + dt.timedelta(days=i), "manual") for i in range(5)])
    assert n == 5
    assert store.add_readings([NewReading(m, Decimal("1.25"), T0, "manual")] * 3) == 0
    vals = [(r.value_at, r.value) for r in store.readings(meter_id=m)]
    assert vals[0] == (T0, Decimal("1.25")) and vals[-1] == (T0 + dt.timedelta(days=4), Decimal("5.25"))


def test_copy_row_writer_keeps_the_column_types_rules(store: Store, monkeypatch):
    """The COPY path's shortcuts (an aware UTC datetime as is, Micro by to_micro) change no outcome: another
    zone is stored as the same instant, None stays NULL, a naive datetime is refused."""
    if store.dialect != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    monkeypatch.setattr(repository, "COPY_THRESHOLD", 2)
    m = store.upsert_meter("APA", "00000002", 1, 7, role="main")
    cest = dt.timezone(dt.timedelta(hours=2))

    def row(i: int, at: dt.datetime, value: Decimal | None) -> dict:
        return {"meter_id": m, "quantity": "volume", "function": "instantaneous", "storage": i, "tariff": 0,
                "subunit": 0, "value_at": at, "meter_clock": False, "value": value,
                "value_text": None if value is not None else "n/a", "unit": "m3", "source": "manual"}

    rows = [row(0, T0, Decimal("1.0000005")), row(1, T0.astimezone(cest), None), row(2, T0, Decimal("-2.5"))]
    with store.engine.begin() as conn:
        assert repository.insert_ignore(conn, store_mod.T_READINGS, rows, store_mod.READING_KEY) == 3
    got = {r.storage: r for r in store.readings(meter_id=m)}
    assert got[0].value == Decimal("1") and got[1].value is None and got[2].value == Decimal("-2.5")
    assert {r.value_at for r in got.values()} == {T0}
    with pytest.raises(ValueError, match="naive"), store.engine.begin() as conn:
        repository.insert_ignore(conn, store_mod.T_READINGS, [row(5 + i, T0.replace(tzinfo=None), None)
                                                              for i in range(3)], store_mod.READING_KEY)


def test_dead_letters_are_kept_once(store: Store):
    assert store.add_dead_letter(b"\x00garbage", "bad_json", "line 1", van="van-01", topic="amr/v1/van-01/batches")
    assert not store.add_dead_letter(b"\x00garbage", "bad_json", "line 1")
    (dl,) = store.dead_letters()
    assert dl.payload == b"\x00garbage" and dl.reason == "bad_json" and dl.van_code == "van-01"


# ------------------------------------------------------------------------------------ registry and readings


def _registry(store: Store) -> dict[str, int]:
    acc = store.upsert_account("A-1", "Jan Kowalski", login="jan", email="jan@example.org")
    sp = store.upsert_service_point("SP-1", account_id=acc, address="ul. Długa 1", lat=50.3, lon=18.2)
    old = store.upsert_meter("APA", "11111111", 1, 7, role="main", model="AT-WMBUS-16", register_digits=5,
                             transmit_interval_s=16, transmit_window="Mon-Fri 08:00-18:00",
                             plausible_min_m3=Decimal(0), plausible_max_m3=Decimal(40))
    new = store.upsert_meter("APA", "22222222", 1, 7, role="main")
    garden = store.upsert_meter("APA", "33333333", 1, 7, role="garden", legalised_until=dt.date(2030, 1, 1))
    store.install_meter(old, sp, "main", T0 - dt.timedelta(days=365), Decimal("10.5"))
    store.install_meter(garden, sp, "garden", T0 - dt.timedelta(days=365))
    return {"acc": acc, "sp": sp, "old": old, "new": new, "garden": garden}


def test_registry_round_trip(store: Store):
    ids = _registry(store)
    m = store.meter(ids["old"])
    assert (m.identity.key, m.role, m.register_modulus, m.plausible_max_m3) == (
        ("APA", "11111111", 1, 7), "main", Decimal(100000), Decimal(40))
    assert store.meter(identity=("apa", "11111111", 1, 7)).id == ids["old"]
    assert [x.id for x in store.meters(role="garden")] == [ids["garden"]]
    assert store.account(login="jan").number == "A-1"
    assert "password" not in repr(store.account(login="jan"))
    store.set_account_password_hash("jan", "scrypt$abc")
    assert store.account_password_hash("jan") == "scrypt$abc"
    assert [s.code for s in store.service_points(account_id=ids["acc"])] == ["SP-1"]
    with pytest.raises(InvalidInput):
        store.upsert_meter("APA", "1", 1, 7, role="kitchen")


def test_replacement_and_service_point_readings(store: Store):
    ids = _registry(store)
    at = T0 + dt.timedelta(days=10)
    store.add_reading(ids["old"], "20.0", T0, "manual")
    store.add_reading(ids["old"], "25.0", at + dt.timedelta(days=1), "manual")  # after removal: not the SP's
    store.replace_meter(ids["old"], ids["new"], at, final_reading="23.5", initial_reading="0.0")
    store.add_reading(ids["new"], "3.0", at + dt.timedelta(days=5), "self_reading", entered_by="portal")
    inst = store.installations(service_point_id=ids["sp"])
    old = next(i for i in inst if i.meter_id == ids["old"])
    new = next(i for i in inst if i.meter_id == ids["new"])
    assert (old.removed_at, old.final_reading, new.installed_at, new.role) == (at, Decimal("23.5"), at, "main")
    sp_rows = store.readings(service_point_id=ids["sp"], quantity="volume")
    assert [(r.meter_id, r.value, r.source) for r in sp_rows] == [
        (ids["old"], Decimal(20), "manual"), (ids["new"], Decimal(3), "self_reading")]
    # installations overlapping a window
    assert {i.meter_id for i in store.installations(since=at + dt.timedelta(days=1))} == {ids["new"], ids["garden"]}
    latest = store.latest_reading(ids["new"])
    assert latest.value == 3 and latest.entered_by == "portal"
    # refitted at the same point: readings at the seam instant are not doubled
    store.remove_meter(ids["new"], at + dt.timedelta(days=6), "3.5")
    store.install_meter(ids["new"], ids["sp"], "main", at + dt.timedelta(days=6), "3.5")
    store.add_reading(ids["new"], "3.5", at + dt.timedelta(days=6), "manual")
    seam = store.readings(service_point_id=ids["sp"], since=at + dt.timedelta(days=6))
    assert [(r.value, r.source) for r in seam] == [(Decimal("3.5"), "manual")]


def test_estimate_and_real_reading_at_the_same_instant_coexist(store: Store):
    ids = _registry(store)
    assert store.add_reading(ids["old"], "30", T0, "estimate")
    assert store.add_reading(ids["old"], "31", T0, "manual")
    assert not store.add_reading(ids["old"], "30", T0, "estimate")
    assert sorted(r.source for r in store.readings(meter_id=ids["old"])) == ["estimate", "manual"]
    with pytest.raises(InvalidInput):
        store.add_reading(ids["old"], "1", T0, "guess")
    with pytest.raises(InvalidInput):
        store.add_reading(ids["old"], "NaN", T0, "manual")
    with pytest.raises(NotFound):
        store.add_reading(987654, "1", T0, "manual")


def test_iter_readings_pages_in_meter_time_order(store: Store):
    ids = _registry(store)
    rows = [NewReading(m, Decimal(d), T0 + dt.timedelta(days=d), "manual")
            for m in (ids["old"], ids["new"], ids["garden"]) for d in range(30)]
    assert store.add_readings(rows) == 90
    got = list(store.iter_readings(T0, T0 + dt.timedelta(days=20), batch=7))
    assert len(got) == 60
    assert [(r.meter_id, r.value_at) for r in got] == sorted((r.meter_id, r.value_at) for r in got)
    store.add_reading(ids["old"], "99", T0, "estimate")  # not a real source: left out
    vals = sorted(store.register_values(T0, T0 + dt.timedelta(days=2)))
    assert vals == sorted((m, T0 + dt.timedelta(days=d), Decimal(d), "manual", False)
                          for m in (ids["old"], ids["new"], ids["garden"]) for d in range(3))


def test_faults(store: Store):
    ids = _registry(store)
    store.add_fault(ids["old"], T0, note="stuck")
    store.add_fault(ids["old"], T0, T0 + dt.timedelta(days=3), note="stuck")  # upsert closes it
    (f,) = store.faults(meter_ids=[ids["old"]])
    assert f.end == T0 + dt.timedelta(days=3)


def test_route_sheet_export_loads_in_the_collector(store: Store, tmp_path):
    from server.imports import export_routes
    from sync.routesheet import RouteSheet

    ids = _registry(store)
    store.add_van("van-01")
    store.add_reading(ids["old"], "42.125", T0, "manual")
    store.create_route("north", van="van-01", meter_ids=[ids["old"], ids["garden"]])
    (p,) = export_routes(store, tmp_path, van="van-01", fmt="json", at=T0 + dt.timedelta(days=1))
    sheet = RouteSheet.load(p)
    assert [m.meter_id for m in sheet] == ["11111111", "33333333"]
    first = sheet.meters[0]
    assert (first.manufacturer, first.version, first.device_type, first.service_point, first.account) == (
        "APA", 1, 7, "SP-1", "A-1")
    assert first.previous_reading_m3 == 42.125 and first.previous_reading_date == T0.date()
    assert first.transmit_window == "Mon-Fri 08:00-18:00" and first.max_consumption_m3 == 40
    (csv_path,) = export_routes(store, tmp_path, route="north", fmt="csv")
    assert len(RouteSheet.load(csv_path)) == 2
    prog = store.route_progress(T0 - dt.timedelta(days=1))
    assert [(p.route, p.van, p.total, p.heard) for p in prog] == [("north", "van-01", 2, 0)]


def test_utc_round_trip_and_ordering(store: Store):
    ids = _registry(store)
    warsaw = dt.timezone(dt.timedelta(hours=2))
    store.add_reading(ids["old"], "1", dt.datetime(2026, 10, 1, 1, 0, tzinfo=warsaw), "manual")  # 23:00Z 30 Sep
    store.add_reading(ids["old"], "2", dt.datetime(2026, 9, 30, 23, 30, tzinfo=dt.UTC), "manual")
    rows = store.readings(meter_id=ids["old"])
    assert [r.value for r in rows] == [1, 2]
    assert rows[0].value_at == dt.datetime(2026, 9, 30, 23, 0, tzinfo=dt.UTC)
    assert rows[0].value_at.utcoffset() == dt.timedelta(0)
    assert len(store.readings(meter_id=ids["old"], until=dt.datetime(2026, 9, 30, 23, 15, tzinfo=dt.UTC))) == 1


def test_telegram_rows_are_immutable_truth(store: Store, plain):
    """A later delivery with a different decode outcome does not rewrite the stored telegram."""
    store.add_van("van-01")
    t = plain[0]
    store.ingest_batch("van-01", "a", [(frame(t), None)])
    store.ingest_batch("van-01", "b", [(frame(t), Rejection(Reject.MALFORMED, "van bug", t))])
    with store.engine.connect() as c:
        rows = c.execute(select(RawTelegram.decode_ok, RawTelegram.reject_reason)).all()
    assert rows == [(True, None)]


def test_concurrent_importers_with_overlapping_batches(store: Store, plain, master_key):
    """Two importers (two Stores, two connections) ingest the same frames in opposite orders at once: both
    commit (no deadlock, the waiting one skips what the other inserted) and the result is one copy."""
    import threading

    store.add_van("van-01")
    frames = [(frame(t, T0 + dt.timedelta(minutes=20 * i)), None) for i, t in enumerate(plain)]
    frames = frames * 3  # 3 passes of the same telegrams: duplicates inside each batch too
    others = [Store(store.url, master_key=master_key) for _ in range(2)]
    results, errors = [], []
    gate = threading.Barrier(2)

    def run(s: Store, name: str, items) -> None:
        try:
            gate.wait()
            for k in range(0, len(items), 40):
                results.append(s.ingest_batch("van-01", f"{name}-{k}", items[k:k + 40]))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(others[0], "a", frames)),
               threading.Thread(target=run, args=(others[1], "b", frames[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in others:
        s.close()
    assert not errors, errors
    counts = store.counts()
    assert counts["raw_telegrams"] == len(set(plain))
    assert counts["readings"] == sum(r.readings_new for r in results)
    assert counts["raw_telegrams"] == sum(r.telegrams_new for r in results)


def test_preload_meters_fills_the_cache(store: Store, db_url: str, master_key):
    store.upsert_meter("APA", "00000001", 1, 7, role="main")
    store.upsert_meter("APA", "00000002", 1, 7)
    other = Store(db_url, master_key=master_key)
    assert other.preload_meters() == 2
    assert other.resolve_meters([("APA", "00000001", 1, 7)])[("APA", "00000001", 1, 7)] == \
        store.meter(identity=("APA", "00000001", 1, 7)).id
    other.close()
