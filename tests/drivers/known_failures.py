"""Corpus cases the drivers do not reproduce yet, by corpus index, with the reason.

The golden test marks exactly these xfail(strict=True): fixing one makes the suite fail until it is
removed here, so this list only ever shrinks and always tells the truth.
"""

from __future__ import annotations

KNOWN_FAILURES: dict[int, str] = {
    215: "rfmtx1 (BMT RFM-TX1) obfuscation needs the vendor's 16x4 byte table, not reproduced here",
}
