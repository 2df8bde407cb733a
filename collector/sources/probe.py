"""`auto`: find a receiver stick by asking every candidate serial port who it is.

Each stick type is tried with its own harmless identification request (iM871A: PING + GET_DEVICEINFO,
AMB8465: GET parameters + SERIALNO, CUL: ``V``); a stick ignores the other types' requests because they
do not fit its framing. The first port that answers becomes the source, already configured.
"""

from __future__ import annotations

import glob
from typing import Any

from collector.sources.base import Source, SourceError, SourceUnavailable, parse_link_modes, source_class
from collector.sources.serial_stick import SerialStickSource, seconds

PROBE_ORDER = ("im871a", "amb8465", "cul")
PORT_GLOBS = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial/by-id/*")


def candidate_ports() -> list[str]:
    ports: list[str] = []
    try:
        from serial.tools import list_ports

        # Built-in UARTs (ttyS*, ttyAMA*) are never a USB stick; probing them only costs time.
        ports = [p.device for p in list_ports.comports()
                 if not any(p.device.startswith(x) for x in ("/dev/ttyS", "/dev/ttyAMA"))]
    except ImportError:  # pragma: no cover - pyserial always ships list_ports
        pass
    for pattern in PORT_GLOBS:
        ports.extend(sorted(glob.glob(pattern)))
    seen: set[str] = set()
    return [p for p in ports if not (p in seen or seen.add(p))]


def probe_port(port: str, link_modes: tuple[str, ...] | None = None, *, kinds: tuple[str, ...] = PROBE_ORDER,
               timeout: float = 0.3, **options: Any) -> SerialStickSource | None:
    """Return an open, configured source for the stick on `port`, or None if nothing answered."""
    options = dict(options)
    command_timeout = seconds(options.pop("command_timeout", 1.0), "command_timeout")
    reconnect = options.pop("reconnect", True)
    for kind in kinds:
        cls = source_class(kind)
        src = cls(port, link_modes, reconnect=False, command_timeout=timeout, **options)  # type: ignore[call-arg]
        try:
            if src._open():  # noqa: SLF001 - the probe *is* the handshake
                src.command_timeout = command_timeout
                src.reconnect = str(reconnect).lower() not in ("0", "false", "no", "off")
                return src  # type: ignore[return-value]
        except SourceError:
            pass
        src.close()
    return None


class AutoSource(Source):
    """Never instantiated: `from_spec` returns the source of the first stick that answers."""

    kind = "auto"

    @classmethod
    def from_spec(cls, args: str, options: dict[str, Any]) -> Source:
        options = dict(options)
        modes = parse_link_modes(args or None, ("T1", "C1"))
        ports_opt = options.pop("ports", None)
        ports = [p for p in str(ports_opt).split(",") if p] if ports_opt else candidate_ports()
        timeout = seconds(options.pop("probe_timeout", 0.3), "auto: probe_timeout")
        tried = []
        for port in ports:
            for kind in PROBE_ORDER:
                cls_modes = modes
                if kind == "cul" and set(modes) == {"T1", "C1"}:
                    cls_modes = ("C1", "T1")
                src = probe_port(port, cls_modes, kinds=(kind,), timeout=timeout, **options)
                if src is not None:
                    return src
            tried.append(port)
        raise SourceUnavailable(f"auto: no receiver stick answered on {', '.join(tried) or 'any port'}")

    def _recv_internal(self, timeout: float) -> None:  # pragma: no cover - see class doc
        raise NotImplementedError
