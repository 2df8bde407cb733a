"""`amr sync`: run the van's publisher, show sync state, push route sheets and keys to a van."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path

import click

from sync.mqttconf import BrokerSettings

BROKER_HELP = "mqtt://[user:pass@]host:port or mqtts://host:8883?ca=ca.crt (credentials also from --env-file)"


def _broker(url: str, env_file: str | None, ca: str | None) -> BrokerSettings:
    return BrokerSettings.from_url(url, env_file=env_file, ca_file=ca)


broker_options = [
    click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True, envvar="AMR_MQTT_URL", help=BROKER_HELP),
    click.option("--env-file", type=click.Path(exists=True, dir_okay=False), help="credentials from gen_credentials.py"),
    click.option("--ca", type=click.Path(exists=True, dir_okay=False), help="CA certificate (turns TLS on)"),
]


def with_broker(f):
    for opt in reversed(broker_options):
        f = opt(f)
    return f


@click.group("sync")
def sync() -> None:
    """Van -> back office synchronisation over MQTT (end-to-end acknowledged)."""


@sync.command("run")
@click.option("--outbox", "outbox_path", required=True, type=click.Path(dir_okay=False), help="the van's outbox")
@click.option("--van", "van_id", required=True, envvar="AMR_VAN_ID", help="van id (= MQTT username)")
@with_broker
@click.option("--batch-size", default=500, show_default=True)
@click.option("--max-inflight", default=4, show_default=True)
@click.option("--ack-timeout", default=60.0, show_default=True, help="seconds before an unacked batch is re-sent")
@click.option("--backoff-max", default=300.0, show_default=True)
@click.option("--compress/--no-compress", default=False, help="zlib the payload (cellular links)")
@click.option("--send-decode/--no-send-decode", default=True, show_default=True,
              help="include the van's decode next to each raw telegram (the server decodes anyway)")
@click.option("--downlink-dir", type=click.Path(file_okay=False), help="where route.json / keys.csv land")
@click.option("--exit-when-empty", is_flag=True, help="stop once the outbox is empty and everything is acked")
@click.option("-v", "--verbose", is_flag=True)
def run(outbox_path: str, van_id: str, broker: str, env_file: str | None, ca: str | None, batch_size: int,
        max_inflight: int, ack_timeout: float, backoff_max: float, compress: bool, send_decode: bool,
        downlink_dir: str | None,
        exit_when_empty: bool, verbose: bool) -> None:
    """Publish the outbox until stopped (SIGTERM/Ctrl-C); rows are deleted only on the importer's ack."""
    from sync.outbox import Outbox
    from sync.publisher import Publisher, PublisherConfig, read_status

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ob = Outbox(outbox_path, van_id=van_id)
    pub = Publisher(ob, _broker(broker, env_file, ca), PublisherConfig(
        van_id, batch_size=batch_size, max_inflight=max_inflight, ack_timeout_s=ack_timeout,
        backoff_max_s=backoff_max, compress=compress, send_decode=send_decode, downlink_dir=Path(downlink_dir) if downlink_dir else None))
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    pub.start()
    try:
        while not stop["now"]:
            time.sleep(0.2)
            if exit_when_empty and ob.pending() == 0:
                break
    except KeyboardInterrupt:
        pass
    finally:
        pub.stop()
        click.echo(json.dumps(read_status(ob), default=str))
        ob.close()


@sync.command("status")
@click.option("--outbox", "outbox_path", required=True, type=click.Path(exists=True, dir_okay=False))
def status(outbox_path: str) -> None:
    """Pending rows, last end-to-end ack and the publisher's state, as JSON."""
    from sync.outbox import Outbox
    from sync.publisher import read_status

    with Outbox(outbox_path, release_stale=False) as ob:
        click.echo(json.dumps(read_status(ob), indent=1, default=str))


@sync.command("push-route")
@click.option("--van", "van_id", required=True)
@click.argument("route_file", type=click.Path(exists=True, dir_okay=False))
@with_broker
def push_route(van_id: str, route_file: str, broker: str, env_file: str | None, ca: str | None) -> None:
    """Publish a route sheet (CSV or JSON) retained to one van's downlink."""
    from sync import downlink
    from sync.routesheet import RouteSheet, RouteSheetError

    try:
        sheet = RouteSheet.load(route_file)
    except RouteSheetError as e:
        raise click.ClickException(str(e)) from None
    downlink.push_route(_broker(broker, env_file, ca), van_id, sheet.route_id, sheet.to_json_dict())
    click.echo(f"route {sheet.route_id} ({len(sheet)} meters) -> {van_id}")


@sync.command("push-keys")
@click.option("--van", "van_id", required=True)
@click.argument("keys_csv", type=click.Path(exists=True, dir_okay=False))
@with_broker
def push_keys(van_id: str, keys_csv: str, broker: str, env_file: str | None, ca: str | None) -> None:
    """Publish AES keys (CSV `id,key[,manufacturer]`) retained to one van's downlink. Use TLS."""
    from sync import downlink
    from sync.messages import MessageError

    settings = _broker(broker, env_file, ca)
    if not settings.tls:
        click.echo("warning: sending keys without TLS", err=True)
    try:
        keys = downlink.parse_key_csv(Path(keys_csv).read_text())
    except MessageError as e:
        raise click.ClickException(str(e)) from None
    downlink.push_keys(settings, van_id, keys)
    click.echo(f"{len(keys)} keys -> {van_id}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(sync())
