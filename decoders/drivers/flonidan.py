"""Flonidan (FLO) gas meters: the TPL status is what is readable without decrypting."""

from __future__ import annotations

from decoders.drivers import register
from decoders.drivers._lib import OpaqueModeDriver


@register
class FlonidanGas(OpaqueModeDriver):
    name = "flonidangas"
    meter_type = "GasMeter"
    detect = frozenset({("FLO", 0x50, 0x03)})
