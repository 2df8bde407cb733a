"""`amr emulate STICK`: run a stick emulator on a pty and print the port to point a source at."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import click

from collector.emulators.base import PtyEmulator, Transmission, load_transmissions

# Two public sample telegrams (wmbusmeters' receiver test data) so the emulator has something to say.
SAMPLES = [
    "2e44333003020100071b7a634820252f2f0265840842658308820165950802fb1aae0142fb1aae018201fb1aa9012f",
    "5744b40988227711101b7ab20800000265a00842658f088201659f08226589081265a0086265510852652b0902fb1aba"
    "0142fb1ab0018201fb1abd0122fb1aa90112fb1aba0162fb1aa60152fb1af501066d3b3bb36b2a00",
]

STICKS = {
    "im871a": ("collector.emulators.im871a", "Im871aEmulator"),
    "amb8465": ("collector.emulators.amb8465", "Amb8465Emulator"),
    "cul": ("collector.emulators.cul", "CulEmulator"),
}


def make_emulator(stick: str, telegrams: list[Transmission], **kwargs: Any) -> PtyEmulator:
    import importlib

    module, cls = STICKS[stick]
    return getattr(importlib.import_module(module), cls)(telegrams, **kwargs)


@click.command("emulate")
@click.argument("stick", type=click.Choice(sorted(STICKS)))
@click.option("--telegrams", "telegrams_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Telegrams to send: any log format `log:` reads (hex lines, rtl_wmbus, capture...).")
@click.option("--link-mode", default="T1", show_default=True, help="Link mode for telegrams that carry none.")
@click.option("--path", "port_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Symlink to create for the port (default: a fresh temporary path).")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between telegrams.")
@click.option("--repeat", is_flag=True, help="Send the telegrams again and again.")
@click.option("--transparent", is_flag=True, help="AMB8465: transparent output (UART_CMD_Out_Enable=0).")
def emulate(stick: str, telegrams_path: Path | None, link_mode: str, port_path: Path | None, interval: float,
            repeat: bool, transparent: bool) -> None:
    """Emulate a receiver STICK on a pseudo-terminal; connect with e.g. `amr listen STICK:PORT:t1`."""
    if telegrams_path is not None:
        tx = load_transmissions(telegrams_path, link_mode=link_mode.upper())
    else:
        tx = [Transmission(bytes.fromhex(h), link_mode.upper()) for h in SAMPLES]
    kwargs: dict[str, Any] = {"path": port_path, "interval": interval}
    if stick == "amb8465":
        kwargs["command_mode"] = not transparent
    emu = make_emulator(stick, tx, **kwargs)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    with emu:
        click.echo(emu.port)
        click.echo(f"# {stick} emulator: {len(tx)} telegram(s); connect with: "
                   f"amr listen {stick}:{emu.port}:{link_mode.lower()}", err=True)
        try:
            while not stop["flag"]:
                time.sleep(0.1)
                if repeat and emu.pending() == 0:
                    for t in tx:
                        emu.add(t)
        except KeyboardInterrupt:
            pass
