"""`amr decode`: telegrams in (hex args, files, `-` for stdin), one JSON line out per input line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click

from decoders import decode as decode_telegram
from decoders.keys import KeyError_, KeyStore
from decoders.model import Reject, Rejection
from decoders.output import decoded_json, error_dict, to_json, to_wmbusmeters
from decoders.state import DecoderState

_HEX = frozenset("0123456789abcdefABCDEF")


def _is_hex(s: str) -> bool:
    return bool(s) and len(s) % 2 == 0 and all(c in _HEX for c in s)


def _lines(sources: tuple[str, ...]) -> Iterator[str]:
    for src in sources:
        if src == "-":
            yield from sys.stdin
        elif _is_hex(src.strip().replace(" ", "")):
            yield src
        elif os.path.exists(src):
            with open(src, encoding="utf-8", errors="replace") as f:
                yield from f
        else:
            yield src  # neither hex nor a file: reported as an error line


def _request(line: str) -> tuple[bytes | None, str | None, str | None, str]:
    """A line -> (telegram, key hex, driver, hex text). telegram None: not understood."""
    s = line.strip()
    if s[:1] != "{":
        try:  # the common case: a plain hex line
            return bytes.fromhex(s), None, None, s
        except ValueError:
            pass
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except ValueError:
            return None, None, None, s
        if not isinstance(obj, dict):
            return None, None, None, s
        hx = str(obj.get("telegram") or "").replace(" ", "")
        key = obj.get("key") or None
        drv = obj.get("driver") or None
        try:
            return bytes.fromhex(hx), (str(key) if key else None), (str(drv) if drv else None), hx
        except ValueError:
            return None, None, None, hx
    hx = s.replace(" ", "")
    if hx.startswith("telegram="):   # wmbusmeters simulation lines: telegram=|HEX|+secs
        hx = hx[len("telegram="):].split("+")[0]
    hx = hx.replace("|", "").replace("_", "").replace("#", "")
    if hx[:2].lower() == "0x":
        hx = hx[2:]
    try:
        return bytes.fromhex(hx), None, None, hx
    except ValueError:
        return None, None, None, s


def _default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.hex().upper()
    return str(o)


def _finite(o: Any) -> Any:
    if type(o) is float:
        return o if o - o == 0.0 else None  # NaN and infinities: null, as orjson writes them
    if type(o) is dict:
        return {k: _finite(v) for k, v in o.items()}
    if type(o) in (list, tuple):
        return [_finite(v) for v in o]
    return o


def _json_bytes(obj: Any) -> bytes:
    """Python's json for what orjson refuses: integers beyond 64 bits, which a long binary record read
    as a number gives (a transmission counter, a status word). Same compact text otherwise."""
    return json.dumps(_finite(obj), separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def _encoder() -> Callable[[Any], str]:
    try:  # orjson is several times faster than json for our record lists; same JSON text
        import orjson

        def dumps(obj: Any) -> str:
            try:
                return orjson.dumps(obj, default=_default).decode()
            except TypeError:
                return _json_bytes(obj).decode()

        return dumps
    except ImportError:  # pragma: no cover
        return json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False).encode


def _emitter(out: TextIO, fmt: str) -> tuple[Callable[[Any], None], Callable[[Any], Any], Callable[[], None]]:
    """(emit one JSON line, render a result, flush). With orjson and a binary buffer under `out`, lines are
    bytes, joined and written in blocks; the json format is rendered straight to bytes (`decoded_json`:
    cached text for what repeats between telegrams); otherwise text lines through `_encoder()`. Both give
    the same JSON (tests/decoders/test_output_fast.py)."""
    buf = getattr(out, "buffer", None)
    try:
        import orjson
    except ImportError:  # pragma: no cover
        orjson = None
    if buf is None or orjson is None:
        dumps_text = _encoder()
        write = out.write

        def emit_text(obj: Any) -> None:
            write(dumps_text(obj) + "\n")

        return emit_text, (to_wmbusmeters if fmt == "wmbusmeters" else to_json), out.flush
    raw_dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    pending: list[bytes] = []
    add = pending.append

    def value_dumps(v: Any) -> bytes:  # a closure: a partial with a keyword costs ~6x more per call
        return raw_dumps(v, default=_default)

    def emit(obj: Any) -> None:
        if type(obj) is bytes:  # a line rendered by decoded_json
            add(obj)
            add(b"\n")
        else:
            try:
                add(raw_dumps(obj, default=_default, option=option))
            except TypeError:
                add(_json_bytes(obj) + b"\n")
        if len(pending) >= 512:
            buf.write(b"".join(pending))
            pending.clear()

    def flush() -> None:
        if pending:
            buf.write(b"".join(pending))
            pending.clear()
        buf.flush()

    def render_json(r: Any) -> bytes:
        try:
            return decoded_json(r, value_dumps)
        except TypeError:
            return _json_bytes(to_json(r))

    out.flush()  # anything already written as text goes first
    return emit, (to_wmbusmeters if fmt == "wmbusmeters" else render_json), flush


def run(sources: tuple[str, ...], fmt: str, keys: KeyStore | None, driver: str | None, out: TextIO) -> dict[str, int]:
    state = DecoderState()
    emit, render, flush = _emitter(out, fmt)
    lines = decoded = rejected = 0
    single: dict[str, KeyStore] = {}
    fromhex = bytes.fromhex
    try:
        for line in _lines(sources):
            s = line.strip()
            if not s or s[0] == "#":
                continue
            lines += 1
            key_hex = line_driver = None
            try:  # the common case: a plain hex line
                telegram = fromhex(s) if s[0] != "{" else None
            except ValueError:
                telegram = None
            if telegram is None:
                telegram, key_hex, line_driver, hx = _request(s)
                if telegram is None:
                    d = error_dict(Rejection(Reject.MALFORMED, "line is neither hex nor a telegram request", b""))
                    d["telegram"] = hx[:512]
                    emit(d)
                    rejected += 1
                    continue
            ks = keys
            if key_hex is not None:
                ks = single.get(key_hex)
                if ks is None:
                    try:
                        ks = single[key_hex] = KeyStore.single(key_hex)
                    except KeyError_ as e:
                        emit(error_dict(Rejection(Reject.MALFORMED, str(e), telegram)))
                        rejected += 1
                        continue
            r = decode_telegram(telegram, keys=ks, state=state, driver=line_driver or driver)
            if r.ok:
                decoded += 1
            else:
                rejected += 1
            emit(render(r))
    finally:
        flush()
    return {"lines": lines, "decoded": decoded, "rejected": rejected}


@click.command("decode")
@click.argument("inputs", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["json", "wmbusmeters"]), default="json", show_default=True,
              help="json: the project's schema; wmbusmeters: field names as wmbusmeters prints them.")
@click.option("--keys", "keys_path", type=click.Path(exists=True, dir_okay=False),
              help="CSV (id,key[,manufacturer]) or TOML key file.")
@click.option("--driver", default=None, help="Driver name to use (unknown names fall back to detection).")
def decode_cmd(inputs: tuple[str, ...], fmt: str, keys_path: str | None, driver: str | None) -> None:
    """Decode wM-Bus / M-Bus telegrams: hex arguments, files (one telegram per line) or - for stdin.

    Each line is hex or a JSON object {"telegram": HEX, "key": HEX|null, "driver": NAME|null}. Exactly one
    JSON object is printed per line; rejected telegrams print {"_": "error", "reason": ...} and the
    command still exits 0.
    """
    keys = None
    if keys_path:
        try:
            keys = KeyStore.load(keys_path)
        except (KeyError_, OSError, UnicodeDecodeError) as e:
            raise click.ClickException(f"cannot load keys: {e}") from None
    if not inputs:
        inputs = ("-",)
    out = sys.stdout
    try:
        run(inputs, fmt, keys, driver, out)
        out.flush()
    except BrokenPipeError:
        sys.stderr.close()


decode = decode_cmd
