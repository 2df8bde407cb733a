"""Back office -> van: route sheets and key updates, published retained on the van's own downlink topic.

Retained + QoS 1 means a van that is off the air for a week still gets the latest route sheet the moment
it connects (its publisher subscribes to `amr/v1/<van>/downlink/#` at every connect). Publishing again
replaces the retained message; `clear()` removes it. Keys travel only over the TLS listener and the ACL
lets no other van read them.
"""

from __future__ import annotations

import time

from sync import messages as m
from sync.mqttconf import BrokerSettings, make_client


def publish_retained(broker: BrokerSettings, items: list[tuple[str, bytes]], *, client_id: str = "",
                     timeout: float = 15.0) -> None:
    """Publish (topic, payload) pairs retained at QoS 1 and wait for every PUBACK (raises on failure)."""
    c = make_client(broker, client_id or f"amr-downlink-{time.time_ns()}")
    failures: list[str] = []
    c.on_publish = lambda _c, _u, mid, rc, props: rc.is_failure and failures.append(str(rc))
    c.connect(broker.host, broker.port, keepalive=broker.keepalive)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=1, retain=True) for t, p in items]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError("broker did not acknowledge the downlink")
        if failures:
            raise RuntimeError(f"broker refused downlink: {failures}")
    finally:
        c.disconnect()
        c.loop_stop()


def push_route(broker: BrokerSettings, van_id: str, route_id: str, sheet: object) -> None:
    publish_retained(broker, [(m.downlink_topic(van_id, "route"), m.RouteMessage(van_id, route_id, sheet).encode())])


def push_keys(broker: BrokerSettings, van_id: str, keys: list[m.KeyEntry]) -> None:
    publish_retained(broker, [(m.downlink_topic(van_id, "keys"), m.KeysMessage(van_id, tuple(keys)).encode())])


def clear(broker: BrokerSettings, van_id: str, kind: str) -> None:
    publish_retained(broker, [(m.downlink_topic(van_id, kind), b"")])


def parse_key_csv(text: str) -> list[m.KeyEntry]:
    """`id,key[,manufacturer]` with a header line (the KeyStore CSV format)."""
    out = []
    for n, line in enumerate(text.splitlines()):
        cells = [c.strip() for c in line.split(",")]
        if not line.strip() or (n == 0 and cells[0].lower() == "id"):
            continue
        if len(cells) < 2:
            raise m.MessageError("bad_keys", f"line {n + 1}")
        out.append(m.KeyEntry(cells[0], cells[1].upper(), cells[2] if len(cells) > 2 else ""))
    # validate exactly as the van will
    m.KeysMessage.parse(m.KeysMessage("x", tuple(out)).encode())
    return out

