"""Room sensors, door/window sensors and repeaters: ELV, Lansen, Weptech Munia, PiiGTH, CMa12w."""

from __future__ import annotations

from typing import Any

from decoders.drivers import register
from decoders.drivers._lib import F, Lookup, SpecDriver, error_flags, tpl_status_words
from decoders.drivers.base import reject
from decoders.model import Alarm, Rejection
from decoders.telegram import Telegram


def _climate(prefix_t: str, prefix_h: str) -> tuple[F, ...]:
    return (
        F(f"{prefix_t}temperature", "external_temperature", "c"),
        F("average_temperature_1h", "external_temperature", "c", storage=1),
        F("average_temperature_24h", "external_temperature", "c", storage=2),
        F(f"{prefix_h}relative_humidity", "relative_humidity", "rh"),
    )


@register
class ElvSense(SpecDriver):
    name = "elvsense"
    meter_type = "TempHygroMeter"
    detect = frozenset({("ELV", 0x50, 0x1B)})
    status = "tpl"
    spec = (
        F("temperature", "external_temperature", "c"),
        F("battery", "voltage", "v"),
        F("humidity", "relative_humidity", "rh"),
        F("co2_ppm", "plain_text_unit", kind="int"),
    )


@register
class LansenTH(SpecDriver):
    name = "lansenth"
    meter_type = "TempHygroMeter"
    detect = frozenset({("LAS", 0x07, 0x1B), ("LAS", 0x09, 0x1B)})
    status = "tpl"
    tpl_mfct_bits = {0x40: "SABOTAGE_ENCLOSURE"}
    spec = (
        *_climate("current_", "current_"),
        F("average_relative_humidity_1h", "relative_humidity", "rh", storage=1),
        F("average_relative_humidity_24h", "relative_humidity", "rh", storage=2),
        F("on_time", "on_time", "h"),
    )


@register
class Munia(SpecDriver):
    name = "munia"
    meter_type = "TempHygroMeter"
    detect = frozenset({("WEP", 0x02, 0x1B), ("WEP", 0x04, 0x1B)})
    status = "tpl"
    spec = (F("current_temperature", "external_temperature", "c"),
            F("current_relative_humidity", "relative_humidity", "rh"))


@register
class PiiGTH(SpecDriver):
    name = "piigth"
    meter_type = "TempHygroMeter"
    detect = frozenset({("PII", 0x01, 0x1B)})
    status = "tpl"
    spec = (
        F("fabrication_no", "fabrication_no", kind="text"),
        F("software_version", "software_version", kind="hex"),
        *_climate("", ""),
        F("relative_humidity_1h", "relative_humidity", "rh", storage=1),
        F("relative_humidity_24h", "relative_humidity", "rh", storage=2),
    )


@register
class Cma12w(SpecDriver):
    name = "cma12w"
    meter_type = "TempHygroMeter"
    detect = frozenset({("ELV", 0x20, 0x1B)})
    status = "tpl"
    spec = (
        F("software_version", "software_version", kind="text"),
        F("current_temperature", "external_temperature", "c"),
        F("average_temperature_1h", "external_temperature", "c", storage=1),
        F("battery", "digital_input", kind="text", fmt=lambda r: f"BATTERY_{int.from_bytes(r.raw, 'little'):X}"),
    )


_WEEKDAYS = Lookup(((0x01, "SU"), (0x02, "MO"), (0x04, "TU"), (0x08, "WE"), (0x10, "TH"), (0x20, "FR"),
                    (0x40, "SA")), mask=0x7F, default="")


@register
class LansenRP(SpecDriver):
    name = "lansenrp"
    meter_type = "Repeater"
    media = "reserved"  # how the reference decoder names device type 0x32
    detect = frozenset({("LAS", 0x0B, 0x32)})
    status = "tpl"
    spec = (
        F("total_routed_messages", None, "counter", kind="int", dif_vif="04FD3A"),
        F("used_router_slots", None, "counter", kind="int", dif_vif="8240FD3A"),
        F("seconds_to_mode_change", None, "counter", kind="int", dif_vif="84C040FD3A"),
        F("listen_timer_value", None, "counter", kind="int", dif_vif="42FD3A"),
        F("pause_timer_value", None, "counter", kind="int", dif_vif="8201FD3A"),
        F("start_time_value", None, "counter", kind="int", dif_vif="8202FD3A"),
        F("is_repeater_listening", None, kind="text", dif_vif="818040FD3A",
          fmt=lambda r: "YES" if r.raw and r.raw[0] else "NO"),
        F("repeater_listening_on_weekdays", None, kind="lookup", dif_vif="C101FD3A", lookup=_WEEKDAYS),
        F("meter", "datetime", "datetime", kind="datetime_s"),
        F("battery", "voltage", "v"),
        F("software_version", "software_version", kind="hex"),
    )


@register
class LansenDW(SpecDriver):
    """Door/window sensor: input bit 2 is the contact; two pulse counters."""

    name = "lansendw"
    meter_type = "DoorWindowDetector"
    detect = frozenset({("LAS", 0x07, 0x1D)})
    spec = (
        F("status", "digital_input", kind="text", fmt=lambda r: "OPEN" if r.raw and r.raw[0] & 0x04 else "CLOSED"),
        F("a", None, "counter", kind="int", dif_vif="0EFD3A"),
        F("b", None, "counter", kind="int", dif_vif="8E40FD3A"),
    )

    def extra(self, tg: Telegram, out: dict[str, Any]) -> None:
        words = tpl_status_words(tg.sts)
        for r in tg.readings:
            if r.quantity == "error_flags":
                v = int.from_bytes(r.raw, "little")
                if v:
                    words.append(f"ERROR_FLAGS_{v:X}")
        out["error_flags"] = " ".join(sorted(words)) if words else "OK"


@register
class LansenPU(SpecDriver):
    """Lansen pulse counter: two counters (12-digit BCD, dimensionless VIF FD3A; b in subunit 1)."""

    name = "lansenpu"
    meter_type = "PulseCounter"
    detect = frozenset({("LAS", 0x14, 0x00), ("LAS", 0x1B, 0x00), ("LAS", 0x0B, 0x02)})
    status = "tpl"
    tpl_mfct_bits = {0x40: "SABOTAGE_ENCLOSURE"}  # Lansen's manufacturer TPL status bit, as on lansenth
    spec = (
        error_flags(mask=0xFFFFFFFF),
        F("a", None, "counter", dif_vif="0EFD3A"),
        F("b", None, "counter", dif_vif="8E40FD3A"),
    )


LANSENSM_FLAGS = (
    (0x0002, "LOW_BATTERY", Alarm.LOW_BATTERY), (0x0004, "SMOKE", None), (0x0008, "MANUAL_TEST", None),
    (0x0010, "MALFUNCTION", Alarm.HARDWARE_ERROR), (0x0020, "NO_CONNECTION_TO_SMOKE_DETECTOR", Alarm.HARDWARE_ERROR),
    (0x0100, "SMOKE_SENSOR_END_OF_LIFE", Alarm.HARDWARE_ERROR),
)


@register
class LansenSM(SpecDriver):
    """Lansen smoke detector: error flags with the standard-conformant-data VIFE carry the alarms."""

    name = "lansensm"
    meter_type = "SmokeDetector"
    detect = frozenset({("LAS", 0x03, 0x1A)})
    status = "tpl"
    alarm_lookups = (("status", Lookup(LANSENSM_FLAGS, mask=0xFFFF)),)
    spec = (
        F("status", None, kind="lookup", dif_vif="02FD971D", status=True,
          lookup=Lookup(LANSENSM_FLAGS, mask=0xFFFF, unknown="ERROR_FLAGS")),
        F("async_msg_id", "access_number", "counter"),
        F("minutes_since_last_manual_test", "dimensionless", "counter"),
    )


def _inner_wmbus(tg: Telegram, driver: str) -> Rejection | None:
    """A wireless-container record (VIF FD3B) whose data is a whole wM-Bus telegram (a wired gateway
    forwarding what it received): that telegram is decoded with the same keys and its records replace
    the gateway's own. Without such a record the frame's records stay."""
    from decoders import decode  # the package imports the drivers: import at call time

    for r in tg.readings:
        raw = r.raw
        if r.quantity == "wireless_container" and len(raw) > 11 and raw[0] + 1 == len(raw):
            inner = decode(raw, keys=tg.keys, state=tg.state, driver=driver)  # state: its compact frames
            if isinstance(inner, Rejection):
                return reject(tg, inner.reason, f"forwarded wM-Bus telegram: {inner.detail}")
            tg.readings = list(inner.readings)
            tg.notes.append("values from the wM-Bus telegram in the FD3B container record")
            return None
    return None


@register
class LansenCO2(SpecDriver):
    """Lansen CO2 / temperature / humidity sensor (LAS 0A 2A). As a wired M-Bus gateway frame it forwards
    its radio telegram in a wireless-container record. The minutes-to-calibration field takes the first
    storage-0 dimensionless record, as the reference's field definition (whose DIFE condition it does not
    apply) does."""

    name = "lansenco2"
    aliases = ("lansenco2v10",)
    meter_type = "TempHygroMeter"
    detect = frozenset({("LAS", 0x0A, 0x2A)})
    spec = (
        F("temperature", "external_temperature", "c"),
        F("temperature_avg_1h", "external_temperature", "c", storage=1),
        F("temperature_avg_24h", "external_temperature", "c", storage=2),
        F("humidity", "relative_humidity", "rh"),
        F("humidity_avg_1h", "relative_humidity", "rh", storage=1),
        F("humidity_avg_24h", "relative_humidity", "rh", storage=2),
        F("co2", "dimensionless", "counter"),
        F("co2_avg_1h", "dimensionless", "counter", storage=1),
        F("co2_avg_24h", "dimensionless", "counter", storage=2),
        F("co2_last_calibration", "dimensionless", "counter", storage=3),
        F("minutes_to_calibration", "dimensionless", "counter"),
        F("on_time_days", "on_time", "d"),
        F("operating_time_days", "operating_time", "d"),
        F("software_version", "software_version", kind="hex"),
    )

    def payload(self, tg: Telegram) -> Rejection | None:
        rej = super().payload(tg)
        return rej if rej is not None else _inner_wmbus(tg, self.name)
