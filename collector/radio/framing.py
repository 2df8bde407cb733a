"""Soft chips -> CRC-checked wM-Bus frames: sync search, 3-of-6 / NRZ / Manchester, CRC-aided repair.

Soft chip values are positive for chip 1 (upper tone). A block that fails its CRC is repaired by trying
the cheapest combinations of *edits* (a nibble replaced by its second-best 3-of-6 word, or one NRZ bit
flipped) among the least reliable positions; because the CRC is affine, each edit's effect on the
syndrome is precomputed and a combination is checked with a few integer XORs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from collector.radio.crc import FrameError, crc16_en13757, decode_frame_a, decode_frame_b, frame_a_length
from collector.radio.phy import SYNC_C1_A, SYNC_C1_B, SYNC_S1, SYNC_T1C1, THREE_OF_SIX_CHIPS, bits_of

POLY = 0x3D65
REPAIR_CANDIDATES = 10   # least reliable edits considered per failing block
REPAIR_MAX_EDITS = 2     # keeps the chance of a false "repair" below 1e-3 per failing block
REPAIR_MAX_COST = 0.5    # x the frame's median decision margin
MAX_EXTRA_ERASED = 2     # further edits allowed when they touch erased (impulse-hit) decisions


def _syndrome_table(n_bits: int) -> list[int]:
    """g[k] = CRC contribution of a single 1 bit followed by k bits (x^(16+k) mod P)."""
    out = []
    v = POLY  # x^16 mod P
    for _ in range(n_bits):
        out.append(v)
        v <<= 1
        if v & 0x10000:
            v = (v ^ POLY) & 0xFFFF
    return out


_G = _syndrome_table(256 * 8 + 16)


def _byte_delta_syndrome(delta: int, q: int, n: int) -> int:
    """Syndrome change when byte q of an n-byte block (+2 CRC bytes at n, n+1) is XORed with delta."""
    if q == n:
        return delta << 8
    if q == n + 1:
        return delta
    s = 0
    base = (n - 1 - q) * 8
    for b in range(8):
        if delta >> b & 1:
            s ^= _G[base + b]
    return s


@dataclass(frozen=True, slots=True)
class Edit:
    byte: int       # position in the block (data then the 2 CRC bytes)
    delta: int      # XOR applied to that byte
    cost: float     # loss in soft metric if applied (>= 0)


def repair_block(block: bytearray, edits: list[Edit] | Callable[[], list[Edit]]) -> int | None:
    """Make data+CRC consistent with at most REPAIR_MAX_EDITS edits (cheapest first), in place.

    Returns the number of edits applied (0: the block was fine) or None when no repair fits."""
    n = len(block) - 2
    syndrome = crc16_en13757(block[:n]) ^ (block[n] << 8 | block[n + 1])
    if syndrome == 0:
        return 0
    if callable(edits):
        edits = edits()
    cands = sorted(edits, key=lambda e: e.cost)[:REPAIR_CANDIDATES]  # usually already sorted
    syn = [_byte_delta_syndrome(e.delta, e.byte, n) for e in cands]
    best: tuple[float, tuple[int, ...]] | None = None
    # erased decisions (cost 0: chips hit by an impulse) are free to try, so a few more of them are
    # allowed on top of the two doubtful ones
    erased = sum(1 for e in cands if e.cost <= 0.0)
    max_k = REPAIR_MAX_EDITS + min(erased, MAX_EXTRA_ERASED)
    for k in range(1, max_k + 1):
        for combo in combinations(range(len(cands)), k):
            if k > REPAIR_MAX_EDITS and sum(1 for i in combo if cands[i].cost > 0.0) > 1:
                continue   # beyond two edits, all but one must be erased decisions
            s = 0
            for i in combo:
                s ^= syn[i]
            if s != syndrome:
                continue
            cost = sum(cands[i].cost for i in combo)
            if best is None or cost < best[0]:
                best = (cost, combo)
        if best is not None:
            break
    if best is None:
        return None
    for i in best[1]:
        block[cands[i].byte] ^= cands[i].delta
    return len(best[1])


# --- line codes ------------------------------------------------------------------------------------

_CODE_PM = (2 * THREE_OF_SIX_CHIPS - 1).astype(np.float32)  # 16 x 6 in +-1


class SoftBytes:
    """Hard bytes plus what it costs to change them: per byte a list of (xor delta, cost) edits,
    built only for the blocks that need repair."""

    def __init__(self, data: np.ndarray, deltas: np.ndarray, costs: np.ndarray):
        self.data = data          # uint8, n
        self.deltas = deltas      # int, n x k
        self.costs = costs        # float, n x k
        # only genuinely doubtful decisions may be edited: a block that fails with every decision
        # confident (an impulse, a collision) is not "repaired" into a random CRC match
        self._max_cost: float | None = None
        self.repaired = 0         # edits applied by the decoder, reported with the frame

    @property
    def max_cost(self) -> float:
        if self._max_cost is None:  # only blocks that need repair pay for the median
            c = self.costs.ravel()
            self._max_cost = REPAIR_MAX_COST * float(np.partition(c, len(c) // 2)[len(c) // 2]) if c.size else 0.0
        return self._max_cost

    def edits(self, lo: int, hi: int, base: int = 0) -> list[Edit]:
        d, c = self.deltas[lo:hi], self.costs[lo:hi]
        flat = np.argsort(c, axis=None)[:REPAIR_CANDIDATES]
        k = d.shape[1]
        return [Edit(int(i // k) + lo - base, int(d.flat[i]), float(c.flat[i])) for i in flat.tolist()
                if c.flat[i] <= self.max_cost]


def soft_3of6(soft: np.ndarray) -> SoftBytes:
    """soft chips (multiple of 12) -> bytes; edits replace a nibble by its second-best word."""
    words = soft.reshape(-1, 6)
    scores = words @ _CODE_PM.T                      # nw x 16 correlation
    best = np.argmax(scores, axis=1)
    rows = np.arange(len(words))
    top = scores[rows, best]
    scores[rows, best] = -np.inf
    second = np.argmax(scores, axis=1)
    margin = top - scores[rows, second]
    data = (best[0::2] << 4 | best[1::2]).astype(np.uint8)
    x = best ^ second
    deltas = np.stack([x[0::2] << 4, x[1::2]], axis=1)
    costs = np.stack([margin[0::2], margin[1::2]], axis=1)
    return SoftBytes(data, deltas, costs)


_BITS = (0x80 >> np.arange(8)).astype(np.int64)


def soft_nrz(soft: np.ndarray) -> SoftBytes:
    """soft bits (multiple of 8), MSB first -> bytes; edits flip one bit."""
    data = np.packbits(soft > 0)
    costs = np.abs(soft).reshape(-1, 8)
    deltas = np.broadcast_to(_BITS, costs.shape)
    return SoftBytes(data, deltas, costs)


def _decode_blocks_a(sb: SoftBytes, n_bytes: int) -> bytes | None:
    """Repair format-A blocks (first n_bytes) one by one; None if a block stays bad."""
    out = bytearray(sb.data[:n_bytes].tobytes())
    pos, size = 0, 10
    remaining = out[0] + 1
    while remaining > 0:
        size = min(size, remaining)
        blk = bytearray(out[pos:pos + size + 2])
        if len(blk) < size + 2:
            return None
        fixed = repair_block(blk, lambda p=pos, z=size: sb.edits(p, p + z + 2, p))
        if fixed is None:
            return None
        sb.repaired += fixed
        out[pos:pos + size + 2] = blk
        pos += size + 2
        remaining -= size
        size = 16
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Decoded:
    telegram: bytes
    mode: str
    frame_format: str
    chips: int          # chips used after the sync (for the frame's end)
    repaired: int = 0   # nibbles/bits changed by CRC-aided repair


class FrameFail(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_t1(soft: np.ndarray) -> Decoded:
    return _decode_format_a(soft, "T1", 12, soft_3of6)


def _decode_nrz_a(soft: np.ndarray, mode: str) -> Decoded:
    return _decode_format_a(soft, mode, 8, soft_nrz)


def _decode_format_a(soft: np.ndarray, mode: str, chips_per_byte: int, soft_bytes) -> Decoded:
    """Format A from soft chips: block 1 first (its L says how long the frame is), then all blocks.

    T1 (3-of-6, 12 chips a byte) and NRZ C1/S1 (8 chips a byte) differ only in how chips become bytes."""
    head = 12 * chips_per_byte
    if len(soft) < head:
        raise FrameFail("TRUNCATED")
    sb = soft_bytes(soft[:head])
    blk = bytearray(sb.data[:12].tobytes())
    first = repair_block(blk, lambda: sb.edits(0, 12))
    if first is None:
        raise FrameFail("CRC")
    if blk[0] < 9:
        raise FrameFail("LENGTH")
    n = frame_a_length(blk[0])
    if len(soft) < chips_per_byte * n:
        raise FrameFail("TRUNCATED")
    sb = soft_bytes(soft[:chips_per_byte * n])
    sb.data[:12] = np.frombuffer(bytes(blk), np.uint8)
    frame = _decode_blocks_a(sb, n)
    if frame is None:
        raise FrameFail("CRC")
    try:
        return Decoded(decode_frame_a(frame), mode, "A", chips_per_byte * n, first + sb.repaired)
    except FrameError as exc:
        raise FrameFail(exc.reason) from None


def decode_c1_a(soft: np.ndarray) -> Decoded:
    return _decode_nrz_a(soft, "C1")


def decode_c1_b(soft: np.ndarray) -> Decoded:
    if len(soft) < 96:
        raise FrameFail("TRUNCATED")
    sb = soft_nrz(soft[:96])
    l0 = int(sb.data[0])
    # L is not protected on its own in format B; guessing other lengths was tried and dropped: each
    # guess is one more chance for a damaged frame to meet its CRC by accident
    l_candidates = [l0]
    last = FrameFail("CRC")
    for l_field in l_candidates:
        total = l_field + 1
        if total < 12 or len(soft) < 8 * total:
            continue
        sb = soft_nrz(soft[:8 * total])
        blk = bytearray(sb.data.tobytes())
        blk[0] = l_field
        # block 2 runs to byte 126 at most (+ its CRC); a longer frame has a block 3 with its own CRC
        bounds = [(0, min(total, 128))] + ([(128, total)] if total > 128 else [])
        if total > 128 and total - 128 < 3:
            continue
        edits = 0
        for lo, hi in bounds:
            part = blk[lo:hi]
            fixed = repair_block(part, lambda b=sb, a=lo, z=hi: b.edits(max(a, 1), z, a))
            if fixed is None:
                break
            if crc_alias_ambiguous(part, soft[8 * lo:8 * hi], skip_l=(lo == 0)):
                last = FrameFail("AMBIGUOUS")
                fixed = None
                break
            blk[lo:hi] = part
            edits += fixed
        else:
            try:
                return Decoded(decode_frame_b(bytes(blk)), "C1", "B", 8 * total, edits + (l_field != l0))
            except FrameError:
                continue
    raise last


CRC_PERIOD = 151          # x^151 = 1 mod the wM-Bus CRC polynomial
AMBIGUITY_LLR = 8.0       # an alias must be e^8 times less likely than our reading


def crc_alias_ambiguous(block: bytearray, soft: np.ndarray, skip_l: bool = True) -> bool:
    """True when another CRC-valid reading of a long block is nearly as likely as ours.

    The wM-Bus CRC polynomial has period 151: flipping two bits 151 (or 302, ...) apart leaves every
    CRC valid. Format-A blocks (<= 144 bits) are immune; a format-B block is not, so a damaged B frame
    can pass its CRC. We accept it only if every such alias costs clearly more than our decision."""
    n = len(block) * 8
    if n <= CRC_PERIOD:
        return False
    bits = np.unpackbits(np.frombuffer(bytes(block), np.uint8)).astype(np.int8) * 2 - 1
    s = soft[:n].astype(np.float32)
    cost = bits * s                       # > 0 where our decision agrees with the chip, < 0 if repaired
    if skip_l:
        cost[:8] = np.inf                 # L is fixed by the length we decoded with
    # Gaussian view of the soft chips (+-m, variance v): LLR = 2 m s / v
    mag = np.abs(s[8:] if skip_l else s)
    m, v = float(mag.mean()), float(mag.var()) + 1e-12
    d = CRC_PERIOD
    worst = np.inf
    while d < n:
        worst = min(worst, float(np.min(cost[:-d] + cost[d:])))
        d += CRC_PERIOD
    return 2 * m * worst / v < AMBIGUITY_LLR


def decode_s1(soft_chips: np.ndarray) -> Decoded:
    n = len(soft_chips) // 2 * 2
    bits = soft_chips[1:n:2] - soft_chips[0:n:2]   # bit 1 = chips "01"
    n8 = len(bits) // 8 * 8
    d = _decode_nrz_a(bits[:n8], "S1")
    return Decoded(d.telegram, "S1", "A", 2 * d.chips, d.repaired)


# --- sync search -----------------------------------------------------------------------------------

SYNC16 = bits_of("010101" + SYNC_T1C1)          # 0x543D
SYNC24_S1 = bits_of("010101" + SYNC_S1)         # 0x547696
MARK_A = bits_of(SYNC_C1_A)
MARK_B = bits_of(SYNC_C1_B)


def find_syncs(hard: np.ndarray, pattern: np.ndarray, max_errors: int) -> np.ndarray:
    """Indices just after every occurrence of `pattern` in `hard` with at most max_errors chip errors."""
    m = len(pattern)
    if len(hard) < m:
        return np.zeros(0, np.int64)
    pm = hard.astype(np.int8) * 2 - 1
    corr = np.correlate(pm.astype(np.float32), (pattern.astype(np.float32) * 2 - 1), mode="valid")
    errors = (m - corr) / 2
    idx = np.flatnonzero(errors <= max_errors)
    return idx + m


def decode_t1c1(soft: np.ndarray, pos: int) -> Decoded:
    """Soft chips from just after the 0x543D sync: decide T1 / C1-A / C1-B, CRC decides ties."""
    head = soft[pos:pos + 16]
    if len(head) < 16:
        raise FrameFail("TRUNCATED")
    hard = head > 0
    ea = int(np.count_nonzero(hard != MARK_A.astype(bool)))
    eb = int(np.count_nonzero(hard != MARK_B.astype(bool)))
    # only the nearer C1 marker is tried (both on a tie): every extra interpretation is another
    # chance for a damaged frame to pass its CRC by accident
    order = ["T"]
    if min(ea, eb) <= 3:
        order = (["A"] if ea <= eb else []) + (["B"] if eb <= ea else []) + order
    last = FrameFail("CRC")
    for what in order:
        try:
            if what == "T":
                return decode_t1(soft[pos:])
            if what == "A":
                return decode_c1_a(soft[pos + 16:])
            return decode_c1_b(soft[pos + 16:])
        except FrameFail as exc:
            last = exc
    raise last
