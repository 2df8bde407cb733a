"""Build telegrams from the construct declarations: for tests, emulators and known-answer vectors.

`build_telegram(...)` assembles a normalised telegram (L first, no CRCs) from link fields, optional ELL /
AFL layers, a TPL header and plain application data, encrypting it with mode 2 (DES), mode 5, mode 7
(with the AFL MAC) or ELL AES-CTR when a key is given. Everything goes through decoders.formats, so the builder and
the parser share one declaration of every layout.
"""

from __future__ import annotations

from decoders import security as sec
from decoders.crc import crc16_en13757
from decoders.formats import AFL, DLL, ELL_I, ELL_II, TPL_LONG, TPL_NONE, TPL_SHORT
from decoders.tables import manufacturer_code


def id_bytes(meter_id: str) -> bytes:
    return bytes.fromhex(meter_id.zfill(8))[::-1]


def pad_2f(data: bytes) -> bytes:
    """Pad with 0x2F fillers to a whole number of AES blocks."""
    return data + b"\x2f" * (-len(data) % 16)


def build_telegram(
    *,
    mfct: str = "ABC",
    meter_id: str = "12345678",
    version: int = 1,
    device_type: int = 7,
    c: int = 0x44,
    ci: int = 0x7A,
    acc: int = 0x10,
    sts: int = 0x00,
    records: bytes = b"",
    mode: int = 0,
    key: bytes | None = None,
    plain_tail: bytes = b"",
    ell: str | None = None,          # None | "8C" | "8D"
    ell_cc: int = 0x20,
    ell_sn: int = 0,
    ell_key: bytes | None = None,
    long_id: str | None = None,      # CI 0x72: the meter behind the radio module
    long_mfct: str | None = None,
    long_version: int = 0,
    long_type: int = 7,
    counter: int = 1,                # mode 7 AFL message counter
    kdf: int = 1,
) -> bytes:
    m = manufacturer_code(mfct)
    a = id_bytes(meter_id) + bytes((version, device_type))
    dll = DLL.build({"l": 0, "c": c, "m": m, "id": a[:4], "version": version, "device_type": device_type})

    # application payload (encrypted for mode 5/7)
    app = records
    nblocks = 0
    if mode in (5, 7):
        app = pad_2f(b"\x2f\x2f" + records)
        nblocks = len(app) // 16
    cfg = (mode << 8) | (nblocks << 4) if mode in (5, 7) else (mode << 8)
    if mode == 2:  # DES: 8-byte blocks, the CFG's low byte counts the encrypted bytes
        app = b"\x2f\x2f" + records
        app += b"\x2f" * (-len(app) % 8)
        cfg = (mode << 8) | len(app)

    tpl_ctx = {"ci": ci, "acc": acc, "sts": sts, "cfg": cfg, "cfg_ext": (kdf << 4) if mode == 7 else None}
    if ci in (0x72, 0x73):
        lid = id_bytes(long_id or meter_id)
        lm = manufacturer_code(long_mfct or mfct)
        tpl = TPL_LONG.build({**tpl_ctx, "id": lid, "m": lm, "version": long_version, "device_type": long_type})
        iv_m, iv_a, kdf_id = lm.to_bytes(2, "little"), lid + bytes((long_version, long_type)), lid
    elif ci in (0x7A, 0x7B):
        tpl = TPL_SHORT.build(tpl_ctx)
        iv_m, iv_a, kdf_id = m.to_bytes(2, "little"), a, a[:4]
    else:
        tpl = TPL_NONE.build({"ci": ci})
        iv_m, iv_a, kdf_id = m.to_bytes(2, "little"), a, a[:4]

    afl = b""
    if mode == 2 and key is not None:
        app = sec.des_cbc_encrypt(key, bytes(8), app)
    elif mode == 5 and key is not None:
        app = sec.cbc_encrypt(key, sec.mode5_iv(iv_m, iv_a, acc), app)
    elif mode == 7 and key is not None:
        mcr = counter.to_bytes(4, "little")
        kenc, kmac = sec.mode7_keys(key, mcr, kdf_id)
        app = sec.cbc_encrypt(kenc, bytes(16), app)
        mcl = 0x25  # AES-CMAC-128, 8-byte MAC, counter present
        mac = sec.cmac(kmac, bytes((mcl,)) + mcr + tpl + app + plain_tail)[:8]
        afl = AFL.build({"ci": b"\x90", "afll": 15, "fcl": 0x2C00, "mcl": mcl, "ki": None, "mcr": counter,
                         "mac": mac, "ml": None})
    body = afl + tpl + app + plain_tail

    ell_bytes = b""
    if ell == "8C":
        ell_bytes = ELL_I.build({"ci": b"\x8c", "cc": ell_cc, "acc": acc})
    elif ell == "8D":
        enc = 1 if ell_key is not None else 0
        sn = (ell_sn & 0x1FFFFFFF) | (enc << 29)
        crc = crc16_en13757(body)
        head = ELL_II.build({"ci": b"\x8d", "cc": ell_cc, "acc": acc, "sn": sn, "payload_crc": crc})
        if ell_key is not None:
            block = sec.ell_counter_block(m.to_bytes(2, "little"), a, ell_cc, sn.to_bytes(4, "little"))
            protected = sec.ctr_xor(ell_key, block, crc.to_bytes(2, "little") + body)
            ell_bytes, body = head[:-2], protected
        else:
            ell_bytes = head
    t = bytearray(dll + ell_bytes + body)
    t[0] = len(t) - 1
    return bytes(t)


def wired_long_frame(c: int, address: int, ci: int, data: bytes) -> bytes:
    """68 L L 68 C A CI data CS 16."""
    body = bytes((c, address, ci)) + data
    return bytes((0x68, len(body), len(body), 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
