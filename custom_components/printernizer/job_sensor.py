"""Job sensors: a printer's totals from the history, and the running job's cost so far.

Totals are the history's own sums, so the recorder's long-term statistics match `list_jobs`;
they stay available while the printer is offline, since the history does not go away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy, UnitOfMass, UnitOfTime
from homeassistant.core import callback

from .coordinator import PrinterCoordinator
from .entity import PrinternizerEntity, printer_device_info
from .history import JobHistory, JobTotals
from .jobs import JobRecord
from .tracking import TRACKED_PARTS, PrinterJobs


@dataclass(frozen=True, kw_only=True)
class TotalSensorDescription(SensorEntityDescription):
    """A figure over the printer's ended jobs."""

    value_fn: Callable[[JobTotals], Decimal | float | int | None]
    monetary: bool = False
    # Says how many jobs a sum leaves out because their cost is unknown.
    counts_unknown: bool = False


TOTALS: tuple[TotalSensorDescription, ...] = (
    TotalSensorDescription(
        key="jobs_completed",
        translation_key="jobs_completed",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda totals: totals.completed,
    ),
    TotalSensorDescription(
        key="jobs_failed",
        translation_key="jobs_failed",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda totals: totals.failed,
    ),
    TotalSensorDescription(
        key="jobs_cancelled",
        translation_key="jobs_cancelled",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda totals: totals.cancelled,
    ),
    TotalSensorDescription(
        key="print_time",
        translation_key="print_time",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=1,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda totals: round(totals.print_seconds / 3600, 3),
    ),
    # Corrections in update_job can lower these, so they are totals, not total_increasing.
    TotalSensorDescription(
        key="material_used",
        translation_key="material_used",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.GRAMS,
        suggested_display_precision=0,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: round(totals.grams, 2),
    ),
    TotalSensorDescription(
        key="energy_used",
        translation_key="energy_used",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda totals: round(totals.energy_kwh, 3),
    ),
    TotalSensorDescription(
        key="cost_total",
        translation_key="cost_total",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        monetary=True,
        counts_unknown=True,
        value_fn=lambda totals: totals.cost,
    ),
    TotalSensorDescription(
        key="last_job_cost",
        translation_key="last_job_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
        value_fn=lambda totals: totals.last_cost,
    ),
)


class JobTotalSensor(SensorEntity):
    """One total of a printer's job history; written when a record of the printer changes."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_extra_state_attributes: dict[str, Any] = {}  # replaced, never changed
    entity_description: TotalSensorDescription

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        history: JobHistory,
        serial: str,
        description: TotalSensorDescription,
    ) -> None:
        """Bind the description to the printer's serial."""
        self.entity_description = description
        self._history = history
        self._serial = serial
        self._attr_unique_id = f"{serial}_{description.key}"
        self._attr_device_info = printer_device_info(coordinator)
        if description.monetary:
            self._attr_native_unit_of_measurement = coordinator.hass.config.currency
        self._read()

    def _read(self) -> bool:
        """Take the current totals; whether what the entity shows changed."""
        totals = self._history.totals(self._serial)
        shown = (self._attr_native_value, self._attr_extra_state_attributes)
        self._attr_native_value = self.entity_description.value_fn(totals)
        if self.entity_description.counts_unknown:
            self._attr_extra_state_attributes = {"jobs_without_cost": totals.without_cost}
        return shown != (self._attr_native_value, self._attr_extra_state_attributes)

    async def async_added_to_hass(self) -> None:
        """Follow the printer's records."""
        self.async_on_remove(self._history.add_listener(self._serial, self._on_record))

    @callback
    def _on_record(self, record: JobRecord) -> None:
        if self._read():
            self.async_write_ha_state()


@dataclass(frozen=True, kw_only=True)
class RunningSensorDescription(SensorEntityDescription):
    """A figure of the running job so far."""

    monetary: bool = False


RUNNING: tuple[RunningSensorDescription, ...] = (
    RunningSensorDescription(
        key="job_material",
        translation_key="job_material",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.GRAMS,
        suggested_display_precision=0,
    ),
    RunningSensorDescription(
        key="job_cost",
        translation_key="job_cost",
        device_class=SensorDeviceClass.MONETARY,
        suggested_display_precision=2,
        monetary=True,
    ),
)


class RunningJobSensor(PrinternizerEntity, SensorEntity):
    """Estimated material or cost of the running job so far (planned grams x progress).

    Priced again only when an input of the price changed: the job's record, its whole percent
    of progress (the time part of the price moves on with it: a percent of a long print is
    minutes of energy, a fraction of a cent), the meter reading or the fallback material; a
    temperature, layer or remaining-time push does not reach it at all.
    """

    entity_description: RunningSensorDescription
    _unrecorded_attributes = frozenset({"estimated", "unknown"})
    # What job tracking reads: the record, the whole percent and the material come from it.
    _sources = TRACKED_PARTS

    def __init__(
        self,
        coordinator: PrinterCoordinator,
        jobs: PrinterJobs,
        description: RunningSensorDescription,
    ) -> None:
        """Bind the description to the printer's job tracking."""
        super().__init__(coordinator, description)
        self._jobs = jobs
        if description.monetary:
            self._attr_native_unit_of_measurement = coordinator.hass.config.currency
        self._priced: tuple[object, ...] = self._inputs()
        self._current = self._figures()

    async def async_added_to_hass(self) -> None:
        """Also follow what changes the price between pushes (the energy meter)."""
        await super().async_added_to_hass()
        self.async_on_remove(self._jobs.add_listener(self._handle_coordinator_update))

    def _inputs(self) -> tuple[object, ...]:
        jobs = self._jobs
        return (
            jobs.active,
            jobs.percent,
            jobs.meter_reading,
            self.coordinator.data.material,
        )

    def _figures(self) -> tuple[Decimal | None, dict[str, Any] | None]:
        breakdown = self._jobs.running_costs(self._priced)
        if breakdown is None:
            return None, None
        if self.entity_description.monetary:
            return breakdown.gross, {"estimated": True, "unknown": list(breakdown.unknown)}
        total = Decimal(0)
        for line in breakdown.lines:
            if line.line.grams is None:
                return None, None
            total += line.line.grams
        return round(total, 1), None

    @property
    def native_value(self) -> Decimal | None:
        """The figure, None without a running job or when its inputs are unknown."""
        return self._current[0]

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Which inputs of the cost are unknown."""
        return self._current[1]

    def _shown(self) -> tuple[Any, ...]:
        # Priced once per change of its inputs; the state write reads what this computed.
        inputs = self._inputs()
        if inputs != self._priced:
            self._priced = inputs
            self._current = self._figures()
        return (self.available, *self._current)
