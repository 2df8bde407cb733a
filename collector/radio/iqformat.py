"""IQ sample formats (cu8, cs8, cs16, cf32), rtl_433-style file names and SigMF metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMATS = ("cu8", "cs8", "cs16", "cf32")
BYTES_PER_SAMPLE = {"cu8": 2, "cs8": 2, "cs16": 4, "cf32": 8}
# full scale of one component in each format, so levels read the same whatever the format
FULL_SCALE = {"cu8": 127.5, "cs8": 127.5, "cs16": 32767.5, "cf32": 1.0}
# cf32 components are clipped here (in full scales): well above any real front end's output
CF32_LIMIT = np.float32(4.0)
SIGMF_TYPES = {"cu8": "cu8", "ci8": "cs8", "ci16_le": "cs16", "cf32_le": "cf32"}


class IqFormatError(ValueError):
    """An IQ file whose format, sample rate or centre frequency cannot be established."""


@dataclass(frozen=True, slots=True)
class IqInfo:
    fmt: str
    fs: float | None
    centre_hz: float | None


def _fmt_number(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def iq_filename(prefix: str, centre_hz: float, fs: float, fmt: str) -> str:
    """rtl_433's naming: `<prefix>_868.95M_1600k.cu8`."""
    return f"{prefix}_{_fmt_number(centre_hz / 1e6)}M_{_fmt_number(fs / 1e3)}k.{fmt}"


_TOKEN = re.compile(r"^(\d+(?:\.\d+)?)(hz|khz|mhz|ghz|k|m|g|sps|ksps|msps)$", re.IGNORECASE)


def parse_filename(path: str | Path) -> IqInfo:
    """Format from the extension; centre from a `<n>M` token, rate from a `<n>k` token (rtl_433 rules)."""
    name = Path(path).name
    lower = name.lower()
    fmt = next((f for f in FORMATS if lower.endswith("." + f)), None)
    if fmt is None and lower.endswith(".sigmf-data"):
        fmt = None
    stem = name.rsplit(".", 1)[0]
    fs = centre = None
    for tok in re.split(r"[_\-\s]+", stem):
        m = _TOKEN.match(tok)
        if not m:
            continue
        value, unit = float(m.group(1)), m.group(2).lower()
        if unit in ("k", "ksps"):
            fs = value * 1e3
        elif unit == "sps":
            fs = value
        elif unit == "msps":
            fs = value * 1e6
        elif unit in ("m", "mhz"):
            centre = value * 1e6
        elif unit == "ghz" or unit == "g":
            centre = value * 1e9
        elif unit == "khz":
            centre = value * 1e3
        elif unit == "hz":
            centre = value
    return IqInfo(fmt or "", fs, centre)


def read_sigmf(path: str | Path) -> IqInfo | None:
    """SigMF `.sigmf-meta` next to the data file (or given directly) -> IqInfo, else None."""
    p = Path(path)
    meta = p if p.suffix == ".sigmf-meta" else p.with_suffix(".sigmf-meta")
    if not meta.exists():
        return None
    try:
        doc = json.loads(meta.read_text())
        glob = doc["global"]
        datatype = glob["core:datatype"]
        fs = float(glob["core:sample_rate"])
        caps = doc.get("captures") or [{}]
        centre = caps[0].get("core:frequency")
        centre = float(centre) if centre is not None else None
        fmt = SIGMF_TYPES.get(datatype)
    # a damaged or hostile .sigmf-meta (wrong JSON types, nesting past the recursion limit, a
    # directory) is the file's problem, reported as such
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as exc:
        raise IqFormatError(f"{meta}: unreadable SigMF metadata: {exc!r}") from exc
    if fmt is None:
        raise IqFormatError(f"{meta}: SigMF datatype {datatype!r} not supported (use {sorted(SIGMF_TYPES)})")
    return IqInfo(fmt, fs, centre)


def resolve(path: str | Path, fmt: str | None = None, fs: float | None = None,
            centre_hz: float | None = None) -> IqInfo:
    """Flags win over SigMF, SigMF over the file name. Raises IqFormatError if something is missing."""
    p = Path(path)
    info = read_sigmf(p) or parse_filename(p)
    fmt = (fmt or info.fmt or "").lower()
    if fmt not in FORMATS:
        raise IqFormatError(f"{p.name}: unknown sample format {fmt!r}; give --format ({', '.join(FORMATS)})")
    fs = fs or info.fs
    if not fs:
        raise IqFormatError(f"{p.name}: sample rate unknown; name it like x_868.95M_1600k.cu8 or give --rate")
    centre = centre_hz or info.centre_hz
    if centre is None:
        raise IqFormatError(f"{p.name}: centre frequency unknown; name it like x_868.95M_1600k.cu8 or give --freq")
    return IqInfo(fmt, float(fs), float(centre))


def to_raw(x: np.ndarray, fmt: str, gain: float) -> np.ndarray:
    """complex -> interleaved raw samples; `gain` in 8-bit counts per unit amplitude."""
    iq = np.empty(2 * len(x), np.float32)
    iq[0::2] = x.real
    iq[1::2] = x.imag
    iq *= np.float32(gain)
    if fmt == "cu8":
        return np.clip(np.rint(iq + 127.5), 0, 255).astype(np.uint8)
    if fmt == "cs8":
        return np.clip(np.rint(iq), -128, 127).astype(np.int8)
    if fmt == "cs16":
        return np.clip(np.rint(iq * 256), -32768, 32767).astype("<i2")
    if fmt == "cf32":
        return (iq / np.float32(127.5)).astype("<f4")
    raise IqFormatError(f"unknown format {fmt!r}")


_LUT: dict[str, np.ndarray] = {}


def _lut(fmt: str) -> np.ndarray:
    """Pair of 8-bit components (as one uint16) -> complex64, in 8-bit counts centred on zero."""
    lut = _LUT.get(fmt)
    if lut is None:
        v = np.arange(256, dtype=np.float32)
        v = v - np.float32(127.5) if fmt == "cu8" else v.astype(np.uint8).view(np.int8).astype(np.float32)
        lut = (v[np.arange(65536) & 255] + 1j * v[np.arange(65536) >> 8]).astype(np.complex64)
        _LUT[fmt] = lut
    return lut


def from_raw(raw: np.ndarray, fmt: str) -> np.ndarray:
    """Interleaved raw samples (uint8 buffer) -> complex64 in 8-bit counts (cs16/cf32 rescaled)."""
    raw = np.ascontiguousarray(raw).view(np.uint8)
    if fmt in ("cu8", "cs8"):
        return _lut(fmt)[raw.view("<u2")]
    if fmt == "cs16":
        return (raw.view("<i2").astype(np.float32) * np.float32(1 / 256)).view(np.complex64)
    if fmt == "cf32":
        # any 4 bytes are a float: one NaN, inf or 1e30 from a damaged file would poison the running
        # DC estimate and so every later burst. Such samples are read as a saturated (or silent) ADC.
        v = raw.view("<f4")
        if not (np.abs(v) <= CF32_LIMIT).all():  # one pass: NaN compares false, so it is caught too
            v = np.clip(np.nan_to_num(v, nan=0.0, posinf=CF32_LIMIT, neginf=-CF32_LIMIT), -CF32_LIMIT, CF32_LIMIT)
        return (v * np.float32(127.5)).view(np.complex64)
    raise IqFormatError(f"unknown format {fmt!r}")


def power_lut(fmt: str) -> np.ndarray:
    """uint16 pair -> |x|^2 for the 8-bit formats (burst detection without making complex samples)."""
    key = fmt + "_pow"
    lut = _LUT.get(key)
    if lut is None:
        c = _lut(fmt)
        lut = (c.real * c.real + c.imag * c.imag).astype(np.float32)
        _LUT[key] = lut
    return lut
