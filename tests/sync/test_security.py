"""The shipped broker config: TLS listener, per-van passwords, and an ACL that fences each van in."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from sync import messages as m
from sync.localbroker import DEPLOY
from sync.mqttconf import BrokerSettings, make_client

from .conftest import settings_for, wait_until

pytestmark = pytest.mark.mqtt


class Probe:
    """A plain paho client on its own loop thread (test code only: production clients are single-thread)."""

    def __init__(self, s: BrokerSettings, cid: str):
        self.got: list[tuple[str, bytes]] = []
        self.rc: list = []
        self.connected = threading.Event()
        self.c = make_client(s, cid)
        self.c.on_connect = lambda _c, _u, f, rc, p: (self.rc.append(rc), self.connected.set())
        self.c.on_message = lambda _c, _u, msg: self.got.append((msg.topic, msg.payload))
        self.c.connect(s.host, s.port)
        self.c.loop_start()
        self.connected.wait(10)

    def ok(self) -> bool:
        return bool(self.rc) and not self.rc[-1].is_failure

    def sub(self, topic: str) -> None:
        self.c.subscribe(topic, qos=1)
        time.sleep(0.3)

    def pub(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def forbidden_publish(s: BrokerSettings, topic: str) -> str:
    """Publish once as `s` to `topic`; return the PUBACK reason. Mosquitto answers a denied publish with
    'Not authorized' and then drops the connection."""
    c = make_client(s, f"probe-{time.monotonic_ns()}")
    reasons: list = []
    c.on_publish = lambda _c, _u, mid, rc, p: reasons.append(str(rc))
    c.connect(s.host, s.port)
    c.loop(0.5)
    c.publish(topic, b"forged", qos=1)
    deadline = time.monotonic() + 5
    while not reasons and time.monotonic() < deadline and c.loop(0.05) == mqtt.MQTT_ERR_SUCCESS:
        pass
    c.disconnect()
    return reasons[0] if reasons else "no puback"


def test_acl_fences_each_van_in(broker):
    imp = Probe(settings_for(broker, "importer"), "imp")
    v1 = Probe(settings_for(broker, "van01", tls=True), "v1")
    v2 = Probe(settings_for(broker, "van02"), "v2")
    try:
        assert imp.ok() and v1.ok() and v2.ok()
        imp.sub(m.SHARED_BATCH_FILTER)
        v1.sub("amr/v1/van01/#")
        v2.sub("amr/v1/#")  # a curious van asks for everything
        v1.pub(m.batch_topic("van01"), b"own")
        s1 = settings_for(broker, "van01")
        assert forbidden_publish(s1, m.batch_topic("van02")) == "Not authorized"      # another van's topic
        assert forbidden_publish(s1, m.ack_topic("van01")) == "Not authorized"        # acking itself
        assert forbidden_publish(s1, m.downlink_topic("van01", "keys")) == "Not authorized"
        imp.pub(m.ack_topic("van01"), b"ack-van01")
        imp.pub(m.downlink_topic("van01", "keys"), b"keys-van01")
        imp.pub(m.ack_topic("van02"), b"ack-van02")
        wait_until(lambda: len(v2.got) >= 1 and len(v1.got) >= 2, 10, "deliveries")
        time.sleep(0.5)
        assert imp.got == [(m.batch_topic("van01"), b"own")]  # the forged batches never reached it
        # a van's own batches are write-only for it: it reads its acks and downlink and nothing else
        assert sorted(v1.got) == [(m.ack_topic("van01"), b"ack-van01"), (m.downlink_topic("van01", "keys"), b"keys-van01")]
        assert v2.got == [(m.ack_topic("van02"), b"ack-van02")]  # nothing of van01's, not even via '#'
    finally:
        for p in (imp, v1, v2):
            p.close()


def test_wrong_password_and_anonymous_are_refused(broker):
    bad = Probe(BrokerSettings("127.0.0.1", broker.plain_port, "van01", "not-the-password"), "bad")
    anon = Probe(BrokerSettings("127.0.0.1", broker.plain_port), "anon")
    try:
        assert bad.rc and bad.rc[0].is_failure and str(bad.rc[0]) == "Not authorized"
        assert anon.rc and anon.rc[0].is_failure
    finally:
        bad.close()
        anon.close()


def test_tls_listener_needs_tls_and_the_right_ca(broker, tmp_path):
    # plain MQTT against the TLS port: the broker never answers a CONNACK
    plain = make_client(BrokerSettings("127.0.0.1", broker.tls_port, "van01", broker.passwords["van01"]), "p")
    got = []
    plain.on_connect = lambda *a: got.append(a)
    plain.connect("127.0.0.1", broker.tls_port)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and plain.loop(0.1) == mqtt.MQTT_ERR_SUCCESS:
        pass
    assert got == []
    # TLS with a CA that did not sign the server certificate: the handshake fails
    other = tmp_path / "other"
    subprocess.run(["sh", str(DEPLOY / "gen_test_certs.sh"), str(other)], check=True, stdout=subprocess.DEVNULL)
    s = BrokerSettings("localhost", broker.tls_port, "van01", broker.passwords["van01"], ca_file=str(other / "ca.crt"))
    with pytest.raises(ssl.SSLError):
        make_client(s, "wrong-ca").connect("localhost", broker.tls_port)
    # and the right CA works, with the server name checked
    ok = Probe(settings_for(broker, "van01", tls=True), "right-ca")
    assert ok.ok()
    ok.close()


def test_gen_credentials_is_rerunnable_and_keeps_passwords(tmp_path):
    script = str(DEPLOY / "gen_credentials.py")
    subprocess.run([sys.executable, script, "--out", str(tmp_path), "van01"], check=True, capture_output=True)
    first = (tmp_path / "credentials" / "van01.env").read_text()
    subprocess.run([sys.executable, script, "--out", str(tmp_path), "van01", "van02"], check=True, capture_output=True)
    assert (tmp_path / "credentials" / "van01.env").read_text() == first
    users = [line.split(":")[0] for line in (tmp_path / "passwd").read_text().splitlines()]
    assert sorted(users) == ["van01", "van02"]
    assert (tmp_path / "credentials" / "van02.env").stat().st_mode & 0o777 == 0o600
    r = subprocess.run([sys.executable, script, "--out", str(tmp_path), "bad/name"], capture_output=True)
    assert r.returncode == 2


def test_shipped_config_has_persistence_and_queue_limits():
    conf = {ln.split()[0]: ln.split(None, 1)[1] for ln in (DEPLOY / "mosquitto.conf").read_text().splitlines()
            if ln.strip() and not ln.startswith("#") and len(ln.split()) > 1}
    assert conf["persistence"] == "true" and conf["autosave_on_changes"] == "true"
    assert int(conf["autosave_interval"]) <= 100
    assert conf["max_queued_messages"] == "0" and int(conf["max_queued_bytes"]) >= 256 * 2**20
    assert conf["allow_anonymous"] == "false"
