"""Pure decoding: bytes -> `Decoded` | `Rejection`. No I/O, no threads.

    from decoders import decode
    result = decode(bytes.fromhex("2E44..."), keys=KeyStore.from_csv("keys.csv"), state=DecoderState())

Layers: link (wM-Bus with/without DLL CRCs, wired long frames) -> CI chain by table (ELL, AFL, TPL,
compact, manufacturer CIs) -> security (mode 5, mode 7 + AFL MAC, ELL AES-CTR, driver-specific) ->
data records -> driver (by name or by manufacturer/version/type; generic fallback) -> fields, alarms.
"""

from __future__ import annotations

from decoders.core import Fail, ambiguous_frame_b, link_layer, walk_layers
from decoders.keys import KeyStore
from decoders.model import Alarm, Decoded, DecodeResult, Identity, Reading, Reject, Rejection
from decoders.state import DecoderState

__all__ = ["Alarm", "DecodeResult", "Decoded", "DecoderState", "Identity", "KeyStore", "Reading", "Reject",
           "Rejection", "decode"]

_drivers = None


def _registry():
    global _drivers
    if _drivers is None:
        import decoders.drivers as d

        _drivers = d
    return _drivers


def decode(telegram: bytes, *, keys: KeyStore | None = None, state: DecoderState | None = None,
           driver: str | None = None) -> Decoded | Rejection:
    """Decode one telegram. Never raises for bad bytes: a `Rejection` carries the typed reason."""
    if type(telegram) is bytes:
        raw = telegram
    elif isinstance(telegram, (bytes, bytearray, memoryview)):
        raw = bytes(telegram)
    else:  # bytes(5) would quietly make five zero bytes
        return Rejection(Reject.MALFORMED, f"not bytes: {type(telegram).__name__}", b"")
    result = _decode(raw, keys, state, driver, crc_free=False)
    if not _clean(result) and ambiguous_frame_b(raw):  # the cheap test first: no second CRC when clean
        # Frame B and a CRC-free telegram both have L == len - 1; the frame-B CRC matched, but the
        # frame-B reading does not parse cleanly: the CRC-free reading wins when it does.
        alternative = _decode(raw, keys, state, driver, crc_free=True)
        if _clean(alternative):
            result = alternative
    if state is not None:
        if result.ok:
            state.decoded += 1
        else:
            state.rejections[result.reason] += 1
    return result


def _clean(result: Decoded | Rejection) -> bool:
    return result.ok and not any(n.startswith(("TRUNCATED_RECORD", "BAD_RECORD")) for n in result.notes)


def _decode(raw: bytes, keys: KeyStore | None, state: DecoderState | None, driver: str | None,
            crc_free: bool) -> Decoded | Rejection:
    tg = None
    try:
        tg = link_layer(raw, crc_free)
        tg.keys = keys
        tg.state = state
        reg = _registry()
        drv = None
        if driver:
            drv = reg.by_name(driver)
            if drv is None:
                tg.notes.append(f"driver {driver!r} unknown: detected instead")
        if drv is None:
            drv = reg.by_identity(tg.identity) or reg.detect(tg)
        tg.driver = drv
        walk_layers(tg)
        if drv is None and tg.tpl_identity is not None:
            drv = tg.driver = reg.by_identity(tg.tpl_identity)
        handler = drv if drv is not None else reg.GENERIC
        rej = handler.payload(tg)
        if rej is not None:
            return rej
        if tg.decryption == "pending":
            tg.decryption = "plain"
        fields = handler.fields(tg)
        alarms, bits = handler.alarms(tg)
        ident = tg.identity or tg.tpl_identity
        if ident is None:
            ident = Identity("", "", 0, 0)
        return Decoded(
            raw, ident, tg.c_field, tuple(tg.ci_chain), tg.security, tg.acc, tg.sts, tg.readings, alarms,
            bits, drv.name if drv is not None else None, fields, handler.media_for(tg), tg.tpl_identity,
            tuple(tg.notes), tg.decryption, tg.frame_format, tg.message_counter, tg.mac_verified, tg.cfg,
            tg.compact, tg.mfct_data, handler.meter_type, tg.meter_identity,
        )
    except Fail as f:
        rej = Rejection(f.reason, f.detail, raw, tg.meter if tg is not None else None,
                        tuple(tg.ci_chain) if tg is not None else ())
    except Exception as e:  # a bug must not take the stream down; counted and shown as MALFORMED
        rej = Rejection(Reject.MALFORMED, f"internal error {type(e).__name__} while decoding", raw,
                        tg.meter if tg is not None else None, tuple(tg.ci_chain) if tg is not None else ())
    return rej
