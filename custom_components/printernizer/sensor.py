"""Sensors of a printer, declared once over the shared `PrinterState`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    REVOLUTIONS_PER_MINUTE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfInformation,
    UnitOfLength,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_cached_translations
from homeassistant.util import dt as dt_util

from .ams import AmsDevices
from .const import DOMAIN, PRINTER_BAMBU, PRINTER_PRUSA
from .coordinator import PrinterCoordinator, PrinternizerConfigEntry
from .entity import PrinterEntityDescription, PrinternizerEntity, unit_device_info
from .file_sensor import file_sensors
from .fleet.sensor import async_setup_fleet_sensors
from .job_sensor import RUNNING, TOTALS, JobTotalSensor, RunningJobSensor
from .printer_files import printer_files
from .printers.bambu.report import STAGES
from .printers.models import (
    ACTIVE_STATUSES,
    FilamentSlot,
    FilamentUnit,
    PrinterState,
    PrinterStatus,
)
from .settings import is_fleet_entry

PARALLEL_UPDATES = 0

# A finish estimate moves only when it is off by more than this, so it does not tick.
FINISH_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True, kw_only=True)
class PrinterSensorDescription(SensorEntityDescription, PrinterEntityDescription):
    """How one sensor reads the printer state."""

    value_fn: Callable[[PrinterState], Any]
    exists_fn: Callable[[PrinterState], bool] = lambda _: True
    # Stays available and shows "offline" while the printer is unreachable (the status sensor),
    # so dashboards and automations see the state its options list.
    shows_offline: bool = False
    # Show whole units and move only when the reading is this far off: sensor noise around
    # x.5 would otherwise flip the shown value on every report.
    hysteresis: float | None = None


TEMPERATURE_HYSTERESIS = 0.75


def _temperature(
    key: str, source: str, read: Callable[[PrinterState], float | None], **kwargs: Any
) -> PrinterSensorDescription:
    return PrinterSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=0,
        value_fn=read,
        sources=(source,),
        **kwargs,
    )


def _rpm(key: str, source: str) -> PrinterSensorDescription:
    return PrinterSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=REVOLUTIONS_PER_MINUTE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value_fn=lambda state: getattr(state, source),
        exists_fn=lambda state: getattr(state, source) is not None,
        sources=(source,),
    )


def _rounded(value: float | None) -> float | None:
    """Whole degrees: tenths jitter on every report and would flood the recorder."""
    return None if value is None else float(round(value))


SENSORS: tuple[PrinterSensorDescription, ...] = (
    PrinterSensorDescription(
        key="status",
        translation_key="status",
        sources=("status",),
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in PrinterStatus],
        value_fn=lambda state: state.status.value,
        shows_offline=True,
    ),
    PrinterSensorDescription(
        key="stage",
        translation_key="stage",
        brands=frozenset({PRINTER_BAMBU}),  # PrusaLink reports neither stages nor layers
        sources=("job.stage", "status"),
        device_class=SensorDeviceClass.ENUM,
        options=sorted({"idle", *STAGES.values()}),
        # An idle A1 reports stg_cur 0 ("printing"): the stage is only read while a job runs.
        value_fn=lambda state: (state.job.stage or "idle")
        if state.status in ACTIVE_STATUSES
        else "idle",
    ),
    PrinterSensorDescription(
        key="progress",
        translation_key="progress",
        sources=("job.progress",),
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda state: state.job.progress,
    ),
    PrinterSensorDescription(
        key="remaining_time",
        translation_key="remaining_time",
        sources=("job.remaining_minutes", "status"),
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=1,
        value_fn=lambda state: state.job.remaining_minutes
        if state.status in ACTIVE_STATUSES
        else 0,
    ),
    PrinterSensorDescription(
        key="current_layer",
        translation_key="current_layer",
        brands=frozenset({PRINTER_BAMBU}),  # PrusaLink reports neither stages nor layers
        sources=("job.current_layer",),
        # A unit and state class make it a measurement: the logbook skips it (it changes with
        # every layer) and the recorder keeps statistics.
        native_unit_of_measurement="layers",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda state: state.job.current_layer,
    ),
    PrinterSensorDescription(
        key="total_layers",
        translation_key="total_layers",
        brands=frozenset({PRINTER_BAMBU}),  # PrusaLink reports neither stages nor layers
        sources=("job.total_layers",),
        value_fn=lambda state: state.job.total_layers,
    ),
    PrinterSensorDescription(
        key="job_name",
        translation_key="job_name",
        sources=("job.name",),
        value_fn=lambda state: state.job.name,
    ),
    _temperature(
        "nozzle_temperature",
        "nozzle.current",
        lambda state: state.nozzle.current,
        hysteresis=TEMPERATURE_HYSTERESIS,
    ),
    _temperature(
        "nozzle_target_temperature",
        "nozzle.target",
        lambda state: state.nozzle.target,
        entity_registry_enabled_default=False,
    ),
    _temperature(
        "bed_temperature",
        "bed.current",
        lambda state: state.bed.current,
        hysteresis=TEMPERATURE_HYSTERESIS,
    ),
    _temperature(
        "bed_target_temperature",
        "bed.target",
        lambda state: state.bed.target,
        entity_registry_enabled_default=False,
    ),
    _temperature(
        "chamber_temperature",
        "chamber.current",
        lambda state: state.chamber.current if state.chamber else None,
        exists_fn=lambda state: state.chamber is not None,
        hysteresis=TEMPERATURE_HYSTERESIS,
    ),
    _temperature(
        "chamber_target_temperature",
        "chamber.target",
        lambda state: state.chamber.target if state.chamber else None,
        # Only printers that heat their chamber (H2 family) report a target; 0 means off.
        exists_fn=lambda state: state.chamber is not None and state.chamber.target is not None,
        entity_registry_enabled_default=False,
    ),
    PrinterSensorDescription(
        key="wifi_signal",
        translation_key="wifi_signal",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda state: state.wifi_dbm,
        exists_fn=lambda state: state.wifi_dbm is not None,
        sources=("wifi_dbm",),
    ),
    PrinterSensorDescription(
        key="nozzle_type",
        translation_key="nozzle_type",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.nozzle_type,
        exists_fn=lambda state: state.nozzle_type is not None,
        sources=("nozzle_type",),
    ),
    PrinterSensorDescription(
        key="nozzle_diameter",
        translation_key="nozzle_diameter",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.MILLIMETERS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.nozzle_diameter,
        exists_fn=lambda state: state.nozzle_diameter is not None,
        sources=("nozzle_diameter",),
    ),
    PrinterSensorDescription(
        key="material",
        translation_key="material",
        value_fn=lambda state: state.material,
        exists_fn=lambda state: state.material is not None,
        sources=("material",),
    ),
    PrinterSensorDescription(
        key="z_height",
        translation_key="z_height",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.MILLIMETERS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
        value_fn=lambda state: state.z_height,
        exists_fn=lambda state: state.z_height is not None,
        sources=("z_height",),
    ),
    PrinterSensorDescription(
        key="print_speed",
        translation_key="print_speed",
        native_unit_of_measurement=PERCENTAGE,
        value_fn=lambda state: state.speed_percent,
        exists_fn=lambda state: state.speed_percent is not None,
        sources=("speed_percent",),
    ),
    PrinterSensorDescription(
        key="flow",
        translation_key="flow",
        native_unit_of_measurement=PERCENTAGE,
        entity_registry_enabled_default=False,
        value_fn=lambda state: state.flow_percent,
        exists_fn=lambda state: state.flow_percent is not None,
        sources=("flow_percent",),
    ),
    _rpm("hotend_fan", "hotend_fan_rpm"),
    _rpm("print_fan", "print_fan_rpm"),
    PrinterSensorDescription(
        key="storage_free",
        translation_key="storage_free",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.storage_free_bytes,
        exists_fn=lambda state: state.storage_free_bytes is not None,
        sources=("storage_free_bytes",),
    ),
    PrinterSensorDescription(
        key="transfer_progress",
        translation_key="transfer_progress",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda state: state.transfer_progress,
        brands=frozenset({PRINTER_PRUSA}),
        sources=("transfer_progress",),
    ),
    PrinterSensorDescription(
        key="active_slot",
        translation_key="active_slot",
        value_fn=lambda state: _active_slot(state, {}),
        exists_fn=lambda state: bool(state.filament_slots),
        sources=("active_slot", "filament_slots", "filament_units", "external_spools"),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PrinternizerConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the sensors this printer has data for (the fleet's: see fleet.sensor)."""
    if is_fleet_entry(entry):
        await async_setup_fleet_sensors(entry, async_add_entities)  # type: ignore[arg-type]
        return
    coordinator = entry.runtime_data.coordinator
    state = coordinator.data
    entities: list[SensorEntity] = [
        (ActiveSlotSensor if description.key == "active_slot" else PrinterSensor)(
            coordinator, description
        )
        for description in SENSORS
        if description.exists_fn(state) and description.applies_to(entry)
    ]
    entities.append(EstimatedFinishSensor(coordinator))
    if ACTIVE_ERRORS.applies_to(entry):
        entities.append(ErrorsSensor(coordinator, ACTIVE_ERRORS))
    single = len(state.external_spools) == 1
    entities.extend(
        ExternalSpoolSensor(coordinator, spool, remaining=remaining, single=single)
        for spool in state.external_spools
        for remaining in (False, True)
    )
    # AMS units and their trays come and go while HA runs: added and removed as they do.
    entry.async_on_unload(
        AmsDevices(coordinator, async_add_entities, _unit_sensors, _slot_sensors).async_start()
    )
    jobs = entry.runtime_data.jobs
    entities.extend(
        JobTotalSensor(coordinator, jobs.history, jobs.serial, description)
        for description in TOTALS
    )
    entities.extend(RunningJobSensor(coordinator, jobs, description) for description in RUNNING)
    entities.extend(file_sensors(coordinator, printer_files(hass)))
    async_add_entities(entities)


class PrinterSensor(PrinternizerEntity, SensorEntity):
    """A sensor whose value is one field of the printer state."""

    entity_description: PrinterSensorDescription

    @property
    def available(self) -> bool:
        """Unavailable with the printer, except a sensor that shows "offline" then."""
        return self.entity_description.shows_offline or super().available

    def _shown(self) -> tuple[Any, ...]:
        if self.entity_description.shows_offline and not super().available:
            self._attr_native_value = PrinterStatus.OFFLINE.value
            return (True, self._attr_native_value)
        value = self.entity_description.value_fn(self.coordinator.data)
        step = self.entity_description.hysteresis
        if step is not None and value is not None:
            shown = self._attr_native_value
            if not isinstance(shown, float) or abs(value - shown) >= step:
                shown = float(round(value))
            value = shown
        self._attr_native_value = value
        return (self.available, value)


class EstimatedFinishSensor(PrinternizerEntity, SensorEntity):
    """When the running print will end, steadied against minute-by-minute rounding."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _sources = ("job.remaining_minutes", "status")

    def __init__(self, coordinator: PrinterCoordinator) -> None:
        """Start without an estimate."""
        super().__init__(
            coordinator,
            SensorEntityDescription(key="estimated_finish", translation_key="estimated_finish"),
        )
        self._finish: datetime | None = None

    @property
    def native_value(self) -> datetime | None:
        """The damped estimate."""
        state = self.coordinator.data
        remaining = state.job.remaining_minutes
        if state.status not in ACTIVE_STATUSES or remaining is None:
            self._finish = None
            return None
        estimate = dt_util.utcnow().replace(second=0, microsecond=0) + timedelta(minutes=remaining)
        if self._finish is None or abs(estimate - self._finish) > FINISH_TOLERANCE:
            self._finish = estimate
        return self._finish

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.native_value)


@dataclass(frozen=True, kw_only=True)
class UnitSensorDescription(SensorEntityDescription):
    """One reading of a filament unit (AMS), on the unit's own device."""

    value_fn: Callable[[FilamentUnit], Any]
    exists_fn: Callable[[FilamentUnit], bool] = lambda _: True


def _drying(unit: FilamentUnit) -> str | None:
    if unit.drying_minutes is None:
        return None
    return "drying" if unit.drying_minutes else "idle"


UNIT_SENSORS: tuple[UnitSensorDescription, ...] = (
    UnitSensorDescription(
        key="humidity",
        translation_key="ams_humidity",
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        # Whole percent: tenths jitter and would flood the recorder.
        value_fn=lambda unit: None
        if unit.humidity_percent is None
        else round(unit.humidity_percent),
        exists_fn=lambda unit: unit.humidity_percent is not None,
    ),
    UnitSensorDescription(
        key="humidity_index",
        translation_key="ams_humidity_index",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda unit: unit.humidity_index,
    ),
    UnitSensorDescription(
        key="temperature",
        translation_key="ams_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda unit: _rounded(unit.temperature),
        exists_fn=lambda unit: unit.has_temperature,
    ),
    UnitSensorDescription(
        key="drying",
        translation_key="ams_drying",
        device_class=SensorDeviceClass.ENUM,
        options=["idle", "drying"],
        value_fn=_drying,
        exists_fn=lambda unit: unit.can_dry,
    ),
    UnitSensorDescription(
        key="drying_remaining",
        translation_key="ams_drying_remaining",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MINUTES,
        value_fn=lambda unit: unit.drying_minutes,
        exists_fn=lambda unit: unit.can_dry,
    ),
)


def _unit_sensors(coordinator: PrinterCoordinator, unit: FilamentUnit) -> list[SensorEntity]:
    return [
        UnitSensor(coordinator, unit, description)
        for description in UNIT_SENSORS
        if description.exists_fn(unit)
    ]


def _slot_sensors(coordinator: PrinterCoordinator, slot: FilamentSlot) -> list[SensorEntity]:
    return [TraySensor(coordinator, slot, kind) for kind in ("material", "remaining")]


def _unit(state: PrinterState, unit_id: str | None) -> FilamentUnit | None:
    return next((unit for unit in state.filament_units if unit.unit_id == unit_id), None)


# The active slot's texts (entity.sensor.active_slot.state.*), English where none is found.
_SLOT_TEXTS = {
    "slot": "{unit} slot {position}",
    "external": "External spool",
    "external_numbered": "External spool {spool}",
}
_SLOT_TEXT_KEY = f"component.{DOMAIN}.entity.sensor.active_slot.state.{{}}"


def _active_slot(state: PrinterState, texts: Mapping[str, str]) -> str | None:
    """The slot feeding the nozzle, named like the slot entities ("AMS 1 slot 2").

    `texts` are the translations of Home Assistant's language ("AMS 1 Platz 2").
    """

    def phrase(key: str, **placeholders: str) -> str:
        template = texts.get(_SLOT_TEXT_KEY.format(key)) or _SLOT_TEXTS[key]
        try:
            return template.format(**placeholders)
        except (KeyError, IndexError, ValueError):  # a translation with other placeholders
            return _SLOT_TEXTS[key].format(**placeholders)

    active = state.active_slot
    if active == "254":  # spool 1 where there are two (H2D), as its entities are named
        if len(state.external_spools) > 1:
            return phrase("external_numbered", spool="1")
        return phrase("external")
    slot = next((slot for slot in state.filament_slots if slot.slot_id == active), None)
    unit = _unit(state, slot.unit_id) if slot is not None else None
    if slot is None or unit is None or slot.position is None:
        return None
    return phrase("slot", unit=unit.name or "AMS", position=str(slot.position))


class ActiveSlotSensor(PrinterSensor):
    """The active slot, in Home Assistant's language like the slot entities' names."""

    _texts: Mapping[str, str] = {}

    async def async_added_to_hass(self) -> None:
        """Take the translations the platform loaded for the entities' names."""
        self._texts = async_get_cached_translations(
            self.hass, self.hass.config.language, "entity", DOMAIN
        )
        await super().async_added_to_hass()

    def _shown(self) -> tuple[Any, ...]:
        self._attr_native_value = _active_slot(self.coordinator.data, self._texts)
        return (self.available, self._attr_native_value)


class UnitSensor(PrinternizerEntity, SensorEntity):
    """A reading of one AMS unit, on the unit's device."""

    entity_description: UnitSensorDescription
    _sources = ("filament_units",)

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        unit: FilamentUnit,
        description: UnitSensorDescription,
    ) -> None:
        """Describe the reading of one unit; unique ids keep the `ams_<id>_<reading>` keys."""
        super().__init__(
            coordinator, replace(description, key=f"ams_{unit.unit_id}_{description.key}")
        )
        self._attr_device_info = unit_device_info(coordinator, unit)
        self._unit_id = unit.unit_id

    @property
    def native_value(self) -> float | int | str | None:
        """The unit's reading, None when the unit is gone."""
        unit = _unit(self.coordinator.data, self._unit_id)
        return None if unit is None else self.entity_description.value_fn(unit)

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.native_value)


class TraySensor(PrinternizerEntity, SensorEntity):
    """Material (with colour) or remaining amount in one filament slot."""

    _unrecorded_attributes = frozenset({"color", "name"})
    _sources = ("filament_slots",)

    def __init__(self, coordinator: PrinterCoordinator, slot: FilamentSlot, kind: str) -> None:
        """Describe one slot's reading; an AMS tray's is on its unit's device, numbered in it."""
        unit = _unit(coordinator.data, slot.unit_id)
        label = str(slot.position) if unit is not None and slot.position else "external"
        remaining = kind == "remaining"
        super().__init__(
            coordinator,
            SensorEntityDescription(
                key=f"slot_{slot.slot_id}_{kind}",
                translation_key=f"slot_{kind}",
                translation_placeholders={"slot": label},
                native_unit_of_measurement=PERCENTAGE if remaining else None,
                state_class=SensorStateClass.MEASUREMENT if remaining else None,
            ),
        )
        if unit is not None:
            self._attr_device_info = unit_device_info(coordinator, unit)
        self._slot_id = slot.slot_id
        self._remaining = remaining

    def _slot(self) -> FilamentSlot | None:
        return next(
            (s for s in self.coordinator.data.filament_slots if s.slot_id == self._slot_id), None
        )

    @property
    def native_value(self) -> str | int | None:
        """Material name, or remaining percent when the printer knows it."""
        slot = self._slot()
        if slot is None:
            return None
        return slot.remaining_percent if self._remaining else (slot.material or "empty")

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Colour and product name of the loaded filament."""
        slot = self._slot()
        if slot is None or self._remaining:
            return None
        return {"color": slot.color, "name": slot.name}

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.native_value, self.extra_state_attributes)


ACTIVE_ERRORS = PrinterSensorDescription(
    key="active_errors",
    translation_key="active_errors",
    brands=frozenset({PRINTER_BAMBU}),  # PrusaLink reports no error codes
    sources=("errors",),
    value_fn=lambda state: len(state.errors),
)


class ErrorsSensor(PrinterSensor):
    """How many errors (HMS codes, print error) the printer reports, and which ones.

    The state is the count; the attributes name each code with its severity, module and
    Bambu's wiki page. History keeps the codes: the details follow from them and would only
    repeat themselves in the recorder.
    """

    _unrecorded_attributes = frozenset({"errors"})

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The active codes, and per code what a user looks up."""
        errors = self.coordinator.data.errors
        return {
            "codes": [error.code for error in errors],
            "errors": [
                {
                    "code": error.code,
                    "severity": error.severity.value,
                    "module": error.module,
                    "url": error.url,
                }
                for error in errors
            ],
        }

    def _shown(self) -> tuple[Any, ...]:
        return (*super()._shown(), self.coordinator.data.errors)


class ExternalSpoolSensor(PrinternizerEntity, SensorEntity):
    """Material (with colour) or remaining amount on one external spool, keyed by its id.

    An H2D has one per nozzle (254 and 255): spool 1 and 2; a printer with one calls it just
    "External spool", as the active slot does. The unique id is the one the single external
    spool always had (`slot_254_…`), so existing entities keep their history.
    """

    _unrecorded_attributes = frozenset({"color", "name"})
    _sources = ("external_spools",)

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        spool: FilamentSlot,
        *,
        remaining: bool,
        single: bool,
    ) -> None:
        """Describe one reading of the spool with this id."""
        name = "external_spool_single" if single else "external_spool"
        super().__init__(
            coordinator,
            SensorEntityDescription(
                key=f"slot_{spool.slot_id}_{'remaining' if remaining else 'material'}",
                translation_key=f"{name}_remaining" if remaining else name,
                translation_placeholders={"spool": str(int(spool.slot_id) - 253)},
                native_unit_of_measurement=PERCENTAGE if remaining else None,
                state_class=SensorStateClass.MEASUREMENT if remaining else None,
                # Without RFID the printer rarely knows what is left on an external spool.
                entity_registry_enabled_default=not remaining,
            ),
        )
        self._spool_id = spool.slot_id
        self._remaining = remaining

    def _spool(self) -> FilamentSlot | None:
        return next(
            (s for s in self.coordinator.data.external_spools if s.slot_id == self._spool_id),
            None,
        )

    @property
    def native_value(self) -> str | int | None:
        """Material name ("empty" when none), or remaining percent when the printer knows it."""
        spool = self._spool()
        if spool is None:
            return None
        return spool.remaining_percent if self._remaining else (spool.material or "empty")

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Colour and product name of the loaded filament."""
        spool = self._spool()
        if spool is None or self._remaining:
            return None
        return {"color": spool.color, "name": spool.name}

    def _shown(self) -> tuple[Any, ...]:
        return (self.available, self.native_value, self.extra_state_attributes)
