"""Driver registry: by name (and alias) and by (manufacturer, version, device type).

Adding a meter family is one module here (see README.md in this folder):

    from decoders.drivers import register
    from decoders.drivers.base import Driver, FieldSpec

    @register
    class Multical21(Driver):
        name = "multical21"
        detect = frozenset({("KAM", 0x1B, 0x16)})
        field_specs = (FieldSpec("total_m3", "volume"), ...)

Family modules are imported lazily, all at once, on the first lookup; a module that fails to import is
recorded in `LOAD_ERRORS` and skipped, so one broken family never stops decoding of the others.
Telegrams no driver claims go to `GENERIC` (standard record names, flagged as unknown driver).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from decoders.drivers.base import Driver
from decoders.model import Identity

if TYPE_CHECKING:
    from decoders.telegram import Telegram

_NOT_FAMILIES = frozenset({"base", "generic"})

_BY_NAME: dict[str, Driver] = {}
_BY_MVT: dict[tuple[str, int, int], Driver] = {}
LOAD_ERRORS: dict[str, str] = {}
_loaded = False

D = TypeVar("D", bound=type[Driver])


def register(cls: D) -> D:
    """Class decorator: instantiate the driver once and index it by name, aliases and detect triples."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    inst = cls()
    for n in (cls.name, *cls.aliases):
        _BY_NAME[n] = inst
    for mvt in cls.detect:
        _BY_MVT[(mvt[0].upper(), mvt[1], mvt[2])] = inst
    return cls


def load_all() -> None:
    """Import every family module in this package (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _NOT_FAMILIES or mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception as e:  # a broken family must not take the decoder down
            LOAD_ERRORS[mod.name] = f"{type(e).__name__}: {e}"


def by_name(name: str) -> Driver | None:
    if not _loaded:
        load_all()
    return _BY_NAME.get(name)


def by_identity(ident: Identity | None) -> Driver | None:
    if ident is None:
        return None
    if not _loaded:
        load_all()
    return _BY_MVT.get((ident.manufacturer, ident.version, ident.device_type))


# Detectors for meters whose link-layer address is coded their own way (Diehl PRIOS frames carry id
# bytes where version and type belong): called with the Telegram when no detect triple matched; a
# detector may correct the identity and returns the driver, or None. Family modules append to it.
DETECTORS: list[Callable[[Telegram], Driver | None]] = []


def detect(tg: Telegram) -> Driver | None:
    if not _loaded:
        load_all()
    for detector in DETECTORS:
        drv = detector(tg)
        if drv is not None:
            return drv
    return None


def names() -> list[str]:
    load_all()
    return sorted(_BY_NAME)


def detect_table() -> dict[tuple[str, int, int], str]:
    load_all()
    return {k: d.name for k, d in _BY_MVT.items()}


from decoders.drivers.generic import GENERIC  # noqa: E402  (needs register/Driver above)

__all__ = ["DETECTORS", "Driver", "GENERIC", "LOAD_ERRORS", "by_identity", "by_name", "detect", "detect_table",
           "load_all", "names", "register"]
