"""AMS units and their trays from a Bambu report, named the way the printer names them.

Unit ids are 0-3 for the classic AMS and the AMS 2 Pro, 128-135 for the AMS HT (one slot each);
AMS Lite and A2-family units may use other ids (e.g. 16). The printer labels units by type and
order ("AMS 2", "AMS HT 1", "AMS Lite"), never by the raw id, and so do we. A global tray id
(`tray_now`, `ams_mapping`) is unit id x 4 + slot, or the unit id itself for an AMS HT.

Anything unusable (a unit or tray that is not an object, an id out of range, a repeated id)
skips that one entry; an absurd reading (humidity index 9, 400 %) reads as unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from ..models import FilamentSlot, FilamentUnit
from ..values import text
from .values import count, within

AMS: Final = "AMS"
AMS_2_PRO: Final = "AMS 2 Pro"
AMS_HT: Final = "AMS HT"
AMS_LITE: Final = "AMS Lite"
# `get_version` module name prefixes (`n3f/0`) -> unit model.
_MODULE_MODELS: Final = {"ams": AMS, "ams_f1": AMS_LITE, "n3f": AMS_2_PRO, "n3s": AMS_HT}
_DRYERS: Final = frozenset({AMS_2_PRO, AMS_HT})
# Printers whose only AMS is the AMS Lite (A1, A1 mini, A2 family).
_LITE_PRINTER_PREFIX: Final = "A"

_HT_IDS: Final = range(128, 136)
# Ids below 32 keep unit x 4 + slot under the AMS HT range, so global tray ids stay unique.
_UNIT_IDS: Final = range(32)
_SLOTS: Final = 4
_MAX_UNITS: Final = 16
_MAX_TRAYS: Final = 16
_MAX_MODULES: Final = 64
# Drying programs run for at most a day; a week is a generous bound.
_MAX_DRYING_MINUTES: Final = 7 * 24 * 60


def unit_models(info: Mapping[str, Any]) -> dict[int, str]:
    """Unit id -> model from the `get_version` module list (`n3f/0` is an AMS 2 Pro)."""
    listed = info.get("module")
    models: dict[int, str] = {}
    for module in listed[:_MAX_MODULES] if isinstance(listed, list) else ():
        name = text(module.get("name")) if isinstance(module, dict) else None
        prefix, _, index = (name or "").partition("/")
        unit_id = count(index, 255) if index.isdigit() else None
        if prefix in _MODULE_MODELS and unit_id is not None:
            models[unit_id] = _MODULE_MODELS[prefix]
    return models


def parse_units(
    ams: dict[str, Any],
    printer_model: str | None,
    known_models: Mapping[int, str],
    slot: Callable[[dict[str, Any], str, str], FilamentSlot],
) -> tuple[tuple[FilamentUnit, ...], tuple[FilamentSlot, ...], int]:
    """The units, their trays, and how many junk entries or readings were dropped.

    `ams` is the cached report object: junk is removed from it, so it is counted once and not
    replayed. `slot` builds one tray's slot (the report's, shared with external spools).
    """
    junk = _Junk()
    raw_units = ams.get("ams")
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    if isinstance(raw_units, list):
        for unit in raw_units[:_MAX_UNITS]:
            unit_id = count(unit.get("id"), 255) if isinstance(unit, dict) else None
            model = _model(unit_id, printer_model, known_models) if unit_id is not None else None
            if unit_id is None or model is None or unit_id in found:
                continue
            found[unit_id] = (model, unit)
        ams["ams"] = junk.keep(raw_units, [unit for _, unit in found.values()])
    elif raw_units is not None:
        junk.drop(ams, "ams")
    lites = sorted(unit_id for unit_id, (model, _) in found.items() if model == AMS_LITE)
    units: list[FilamentUnit] = []
    slots: list[FilamentSlot] = []
    for unit_id, (model, unit) in sorted(found.items()):
        units.append(_unit(unit, str(unit_id), model, _name(unit_id, model, lites), junk))
        slots.extend(_trays(unit, unit_id, model, slot, junk))
    return tuple(units), tuple(slots), junk.count


class _Junk:
    """Counts what was dropped from the cached report."""

    def __init__(self) -> None:
        self.count = 0

    def keep(self, listed: list[Any], kept: list[Any]) -> list[Any]:
        self.count += len(listed) - len(kept)
        return kept

    def drop(self, container: dict[str, Any], key: str) -> None:
        del container[key]
        self.count += 1

    def read[T](
        self, unit: dict[str, Any], key: str, reader: Callable[[Any], T | None]
    ) -> T | None:
        raw = unit.get(key)
        value = reader(raw)
        if value is None and raw not in (None, ""):
            self.drop(unit, key)
        return value


def _model(unit_id: int, printer_model: str | None, known: Mapping[int, str]) -> str | None:
    """The unit's model; None for an id no unit can have."""
    if unit_id in _HT_IDS:
        return AMS_HT
    if unit_id not in _UNIT_IDS:
        return None
    model = known.get(unit_id)
    if model is not None and model != AMS_HT:
        return model
    if printer_model is not None and printer_model.startswith(_LITE_PRINTER_PREFIX):
        return AMS_LITE
    return AMS


def _name(unit_id: int, model: str, lites: list[int]) -> str:
    if model == AMS_HT:
        return f"AMS HT {unit_id - _HT_IDS.start + 1}"
    if model == AMS_LITE:
        return AMS_LITE if len(lites) == 1 else f"AMS Lite {lites.index(unit_id) + 1}"
    return f"AMS {unit_id + 1}"


def _humidity_index(value: Any) -> int | None:
    return count(value, 5)


def _humidity(value: Any) -> float | None:
    return within(value, 0.0, 100.0)


def _temperature(value: Any) -> float | None:
    return within(value, -40.0, 120.0)


def _drying_minutes(value: Any) -> int | None:
    return count(value, _MAX_DRYING_MINUTES)


def _unit(unit: dict[str, Any], unit_id: str, model: str, name: str, junk: _Junk) -> FilamentUnit:
    can_dry = model in _DRYERS
    # An AMS Lite has no temperature sensor; the others send "0.0" until theirs reports.
    has_temperature = model != AMS_LITE
    temperature = junk.read(unit, "temp", _temperature) if has_temperature else None
    return FilamentUnit(
        unit_id=unit_id,
        name=name,
        model=model,
        humidity_index=junk.read(unit, "humidity", _humidity_index) or None,
        humidity_percent=junk.read(unit, "humidity_raw", _humidity),
        temperature=temperature or None,
        has_temperature=has_temperature,
        can_dry=can_dry,
        drying_minutes=junk.read(unit, "dry_time", _drying_minutes) if can_dry else None,
    )


def _trays(
    unit: dict[str, Any],
    unit_id: int,
    model: str,
    slot: Callable[[dict[str, Any], str, str], FilamentSlot],
    junk: _Junk,
) -> list[FilamentSlot]:
    trays = unit.get("tray")
    if not isinstance(trays, list):
        if trays is not None:
            junk.drop(unit, "tray")
        return []
    places = 1 if model == AMS_HT else _SLOTS
    kept: dict[int, dict[str, Any]] = {}
    for tray in trays[:_MAX_TRAYS]:
        tray_id = count(tray.get("id"), places - 1) if isinstance(tray, dict) else None
        if tray_id is not None and tray_id not in kept:
            kept[tray_id] = tray
    unit["tray"] = junk.keep(trays, list(kept.values()))
    return [
        replace(slot(tray, _global_id(unit_id, model, tray_id), str(unit_id)), position=tray_id + 1)
        for tray_id, tray in sorted(kept.items())
    ]


def _global_id(unit_id: int, model: str, tray_id: int) -> str:
    """The id `tray_now` and `ams_mapping` use: unit x 4 + slot, an AMS HT's own id."""
    return str(unit_id if model == AMS_HT else unit_id * _SLOTS + tray_id)
