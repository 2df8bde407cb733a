"""Outbox -> Mosquitto (shipped config, TLS) -> importer -> PostgreSQL, in-process, with real parts."""

from __future__ import annotations

import json
from collections import Counter

from server.importer import Importer, ImporterConfig, StoreSink
from sync.mqttconf import make_client
from sync.outbox import Outbox
from sync.publisher import Publisher, PublisherConfig, read_status

from .conftest import fill_outbox, make_frames, settings_for, stored_readings, stored_telegrams, wait_until


def test_outbox_to_store_over_tls_exactly_once(broker, store, tmp_path):
    frames = make_frames(1200)
    ob_path = tmp_path / "van01.outbox"
    fill_outbox(ob_path, "van01", frames)
    imp = Importer(StoreSink(store), settings_for(broker, "importer"), ImporterConfig(client_id="imp-a")).start()
    assert imp.ready.wait(10)
    ob = Outbox(ob_path, van_id="van01")
    pub = Publisher(ob, settings_for(broker, "van01", tls=True), PublisherConfig("van01", batch_size=250)).start()
    try:
        wait_until(lambda: ob.pending() == 0, 60, "outbox drained")
        st = read_status(ob)
        assert st["pending"] == 0 and st["last_ack_at"] is not None and st["acked_total"] == 1200
        assert pub.status()["batches_acked"] == 5
    finally:
        pub.stop()
        imp.stop()
    tels = stored_telegrams(store)
    assert Counter(tels) == Counter(f.telegram for f in frames)  # none lost, none twice
    readings = stored_readings(store)
    assert len(readings) == len(set(readings)) == 2 * 1200
    assert imp.metrics["decoded_on_server"] == 1200  # default: the raw telegram is the truth
    assert imp.metrics["stored"] == 5 and imp.metrics["dead_letters"] == 0


def test_trusted_van_decode_gives_the_same_readings(broker, store, tmp_path):
    from decoders import decode
    from sync.outbox import OutboxItem

    frames = make_frames(600)
    with Outbox(tmp_path / "o.db", van_id="van01") as ob:
        ob.append([OutboxItem.from_result(f, decode(f.telegram)) for f in frames])
    imp = Importer(StoreSink(store, trust_van_decode=True), settings_for(broker, "importer"),
                   ImporterConfig(client_id="imp-t")).start()
    assert imp.ready.wait(10)
    ob = Outbox(tmp_path / "o.db", van_id="van01")
    # compressed payloads (cellular links): the importer recognises zlib by its header
    pub = Publisher(ob, settings_for(broker, "van01"), PublisherConfig("van01", batch_size=200, compress=True)).start()
    try:
        wait_until(lambda: ob.pending() == 0, 30, "drained")
    finally:
        pub.stop()
        imp.stop()
    assert imp.metrics["decoded_on_server"] == 0 and imp.metrics["readings_new"] == 1200
    readings = stored_readings(store)
    assert len(set(readings)) == 1200


def test_cli_status_and_downlink_push(broker, tmp_path):
    from click.testing import CliRunner

    from amr.cli import main

    from .conftest import url_for

    fill_outbox(tmp_path / "o.db", "van01", make_frames(10))
    r = CliRunner().invoke(main, ["sync", "status", "--outbox", str(tmp_path / "o.db")])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["pending"] == 10 and st["state"] == "offline" and st["last_ack_at"] is None
    route = tmp_path / "r.json"
    route.write_text(json.dumps({"route_id": "R1", "meters": [{"meter_id": "12345678"}]}))
    keys = tmp_path / "k.csv"
    keys.write_text("id,key\n12345678," + "0F" * 16 + "\n")
    url = url_for(broker, "importer")
    r = CliRunner().invoke(main, ["sync", "push-route", "--van", "van01", str(route), "--broker", url])
    assert r.exit_code == 0 and "route R1 (1 meters) -> van01" in r.output, r.output
    r = CliRunner().invoke(main, ["sync", "push-keys", "--van", "van01", str(keys), "--broker", url])
    assert r.exit_code == 0 and "1 keys -> van01" in r.output, r.output
    keys.write_text("id,key\n12345678,nothex\n")
    r = CliRunner().invoke(main, ["sync", "push-keys", "--van", "van01", str(keys), "--broker", url])
    assert r.exit_code != 0 and "bad_keys" in r.output
    got = []
    probe = make_client(settings_for(broker, "van01"), "probe-downlink")
    probe.on_message = lambda _c, _u, msg: got.append(msg.topic)
    probe.connect("127.0.0.1", broker.plain_port)
    probe.subscribe("amr/v1/van01/downlink/#", qos=1)
    wait_until(lambda: probe.loop(0.1) == 0 and len(got) == 2, 10, "retained downlink")
    probe.disconnect()
    assert sorted(got) == ["amr/v1/van01/downlink/keys", "amr/v1/van01/downlink/route"]
