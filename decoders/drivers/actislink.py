"""Sensus / Actaris (ALK) iPERL water meters behind an Actis-Link module, TPL security mode 2.

Mode 2 (EN 13757-3:2004, DES-CBC with a zero IV and an 8-byte key) is decrypted by the core
(decoders/core.py, decoders/security.py) like mode 5; this driver reads the standard records.
"""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import SpecDriver, lib


@register
class ActisLink(SpecDriver):
    name = "actislink"
    meter_type = "WaterMeter"
    detect = frozenset({("ALK", 0x04, 0x07)})
    spec = lib("total_m3")
