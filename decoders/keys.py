"""`KeyStore`: AES keys per meter, loaded from CSV or TOML, looked up in O(1).

CSV: header `id,key[,manufacturer[,version,device_type]]`. TOML: either `[[meter]]` tables with the same
keys, or a `[keys]` table mapping id -> hex key. A key may be pinned to a manufacturer (the same id is
used by several manufacturers); lookups try (mfct, id, version, type), then (mfct, id), then id.

Keys are secrets: `repr`, `str` and every error message show ids and counts only, never key bytes.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from decoders.model import Identity

_CSV_COLUMNS = frozenset({"id", "key", "manufacturer", "version", "device_type"})
_FAST_ID = re.compile(r"[0-9A-Fa-f]{1,8}")
_FAST_KEY = re.compile(r"[0-9A-Fa-f]{16}|[0-9A-Fa-f]{32}")


class KeyError_(ValueError):
    """A key file or entry that cannot be used. The message never contains the key."""


def _parse_key(text: str, where: str) -> bytes:
    t = text.strip().replace(" ", "").replace(":", "")
    if not t:
        raise KeyError_(f"{where}: empty key")
    try:
        key = bytes.fromhex(t)
    except ValueError:
        raise KeyError_(f"{where}: key is not hex") from None
    if len(key) not in (8, 16):
        raise KeyError_(f"{where}: key must be 8 or 16 bytes, got {len(key)}")
    return key


def _norm_id(text: Any, where: str) -> str:
    s = str(text).strip()
    if not s or not all(c in "0123456789abcdefABCDEF" for c in s) or len(s) > 8:
        raise KeyError_(f"{where}: meter id {s!r} is not up to 8 (BCD) digits")
    return s.zfill(8).lower()  # as identities print ids (digits; hex a-f lower)


def _int(text: Any, where: str) -> int | None:
    if text is None or str(text).strip() == "":
        return None
    s = str(text).strip()
    try:
        return int(s, 16)  # versions and device types are written in hex, as on the A field
    except ValueError:
        raise KeyError_(f"{where}: {s!r} is not a hex byte") from None


class KeyStore:
    __slots__ = ("_full", "_mid", "_id")

    def __init__(self) -> None:
        self._full: dict[tuple[str, str, int, int], bytes] = {}
        self._mid: dict[tuple[str, str], bytes] = {}
        self._id: dict[str, bytes] = {}

    # --- building ----------------------------------------------------------------------------------

    def add(self, meter_id: str, key: bytes | str, manufacturer: str | None = None,
            version: int | None = None, device_type: int | None = None) -> None:
        where = f"meter {meter_id}"
        mid = _norm_id(meter_id, where)
        k = _parse_key(key, where) if isinstance(key, str) else bytes(key)
        if len(k) not in (8, 16):
            raise KeyError_(f"{where}: key must be 8 or 16 bytes, got {len(k)}")
        if manufacturer:
            m = manufacturer.strip().upper()
            if version is not None and device_type is not None:
                self._full[(m, mid, version, device_type)] = k
            else:
                self._mid[(m, mid)] = k
        else:
            self._id[mid] = k

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], source: str = "keys") -> KeyStore:
        ks = cls()
        for n, row in enumerate(rows, start=1):
            ks._add_row(row, f"{source} entry {n}")
        return ks

    def _add_row(self, row: Mapping[str, Any], where: str) -> None:
        row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        if "id" not in row or "key" not in row:
            raise KeyError_(f"{where}: needs 'id' and 'key'")
        if row["key"] is None or str(row["key"]).strip() == "":
            return  # a meter listed without a key: plain meter
        self.add(_norm_id(row["id"], where), _parse_key(str(row["key"]), where),
                 (row.get("manufacturer") or None),
                 _int(row.get("version"), where), _int(row.get("device_type"), where))

    @classmethod
    def from_csv(cls, path: str | Path) -> KeyStore:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            return cls()
        header = next(csv.reader(lines[:1]))
        names = [h.strip().lower() for h in header]
        if (any('"' in line for line in lines) or len(set(names)) != len(names)
                or not {"id", "key"} <= set(names) <= _CSV_COLUMNS):
            return cls.from_rows(csv.DictReader(lines), str(path))
        # A utility's key file holds one row per meter (10,000s): rows that are plainly an id and a key go
        # straight in; anything else (spaces, pinned manufacturer, bad values) takes the checked path.
        ks = cls()
        plain = ks._id
        width = len(names)
        i_id, i_key = names.index("id"), names.index("key")
        others = [i for i in range(width) if i not in (i_id, i_key)]
        fast_id, fast_key, fromhex = _FAST_ID.fullmatch, _FAST_KEY.fullmatch, bytes.fromhex
        for n, line in enumerate(lines[1:], start=1):
            parts = line.rstrip("\r\n").split(",")
            if len(parts) == width and fast_id(parts[i_id]) and fast_key(parts[i_key]) \
                    and not any(parts[i] for i in others):
                plain[parts[i_id].zfill(8).lower()] = fromhex(parts[i_key])
                continue
            # as csv.DictReader makes it: missing columns None, extra values under None (dropped)
            row: dict[Any, Any] = dict(zip(header, parts, strict=False))
            for h in header[len(parts):]:
                row[h] = None
            ks._add_row(row, f"{path} entry {n}")
        return ks

    @classmethod
    def from_toml(cls, path: str | Path) -> KeyStore:
        with open(path, "rb") as f:
            try:
                doc = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise KeyError_(f"{path}: not valid TOML ({e.args[0] if e.args else ''})") from None
        rows: list[Mapping[str, Any]] = list(doc.get("meter", []))
        rows += [{"id": k, "key": v} for k, v in doc.get("keys", {}).items()]
        return cls.from_rows(rows, str(path))

    @classmethod
    def load(cls, path: str | Path) -> KeyStore:
        """CSV or TOML by file suffix."""
        return cls.from_toml(path) if str(path).lower().endswith(".toml") else cls.from_csv(path)

    def merged(self, other: KeyStore) -> KeyStore:
        ks = KeyStore()
        for src in (self, other):
            ks._full.update(src._full)
            ks._mid.update(src._mid)
            ks._id.update(src._id)
        return ks

    # --- lookup ------------------------------------------------------------------------------------

    def get(self, identity: Identity) -> bytes | None:
        if self._full:
            k = self._full.get((identity.manufacturer, identity.id, identity.version, identity.device_type))
            if k is not None:
                return k
        if self._mid:
            k = self._mid.get((identity.manufacturer, identity.id))
            if k is not None:
                return k
        return self._id.get(identity.id)

    @classmethod
    def single(cls, key: bytes | str) -> KeyStore:
        """A store that answers one key for every meter (a per-telegram key given on the command line)."""
        ks = _SingleKey()
        ks._id = {"*": _parse_key(key, "key") if isinstance(key, str) else bytes(key)}
        return ks

    def __len__(self) -> int:
        return len(self._full) + len(self._mid) + len(self._id)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        return f"KeyStore({len(self)} keys)"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # keep keys out of accidental pickles/dumps
        raise TypeError("KeyStore is not serialisable")


class _SingleKey(KeyStore):
    __slots__ = ()

    def get(self, identity: Identity) -> bytes | None:
        return self._id["*"]
