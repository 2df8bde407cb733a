"""Broker connection settings shared by the van publisher and the importer, and the paho client factory.

Both sides use paho-mqtt 2.x with the VERSION2 callback API and MQTT v5, a persistent session (clean start
off, a session expiry interval), and TLS when a CA file is given. Credentials come from arguments or the
environment (`AMR_MQTT_USERNAME`, `AMR_MQTT_PASSWORD`, the `.env` files gen_credentials.py writes).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None        # set: TLS, server verified against this CA
    certfile: str | None = None       # client certificate (brokers with use_identity_as_username)
    keyfile: str | None = None
    keepalive: int = 30
    session_expiry_s: int = 7 * 24 * 3600

    @property
    def tls(self) -> bool:
        return self.ca_file is not None

    @classmethod
    def from_url(cls, url: str, **kw) -> BrokerSettings:
        """`mqtt://user:pass@host:1883` or `mqtts://host:8883?ca=/path/ca.crt`; credentials missing from
        the URL come from AMR_MQTT_USERNAME / AMR_MQTT_PASSWORD or an env file named by AMR_MQTT_ENV."""
        if "://" not in url:
            url = "mqtt://" + url
        u = urlsplit(url)
        tls = u.scheme in ("mqtts", "ssl", "tls")
        query = dict(p.split("=", 1) for p in u.query.split("&") if "=" in p)
        env = dict(os.environ)
        env_file = kw.pop("env_file", None) or env.get("AMR_MQTT_ENV")
        if env_file:
            env.update(read_env_file(env_file))
        ca = query.get("ca") or kw.pop("ca_file", None) or env.get("AMR_MQTT_CA")
        return cls(
            host=u.hostname or "127.0.0.1",
            port=u.port or (8883 if tls else 1883),
            username=unquote(u.username) if u.username else kw.pop("username", None) or env.get("AMR_MQTT_USERNAME"),
            password=unquote(u.password) if u.password else kw.pop("password", None) or env.get("AMR_MQTT_PASSWORD"),
            ca_file=ca if (tls or ca) else None,
            **kw,
        )


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def make_client(settings: BrokerSettings, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    c = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
        reconnect_on_failure=False,  # our own state machine owns reconnects and backoff
    )
    if settings.username:
        c.username_pw_set(settings.username, settings.password)
    if settings.tls:
        ctx = ssl.create_default_context(cafile=settings.ca_file)
        if settings.certfile:
            ctx.load_cert_chain(settings.certfile, settings.keyfile)
        c.tls_set_context(ctx)
    return c


def connect_properties(settings: BrokerSettings) -> Properties:
    p = Properties(PacketTypes.CONNECT)
    # Without a session expiry, MQTT v5 drops the session at disconnect even with clean_start off.
    p.SessionExpiryInterval = settings.session_expiry_s
    return p
