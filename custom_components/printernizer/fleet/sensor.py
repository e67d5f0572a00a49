"""The fleet device's sensors: what a farm dashboard shows at a glance.

Prints running now, jobs started today, this month's cost (business and private, gross, in
the fleet's currency) and material, and the success rate of the last 30 days. The month's and
today's figures are totals that start again at local midnight and on the 1st (`last_reset`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfMass
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from ..const import FLEET_UNIQUE_ID
from .entry import FleetConfigEntry, fleet_device_info
from .summary import FleetFigures, FleetSummary


@dataclass(frozen=True, kw_only=True)
class FleetSensorDescription(SensorEntityDescription):
    """A fleet figure; `reset_fn` gives when a total started counting again."""

    value_fn: Callable[[FleetFigures], int | float | Decimal | None]
    reset_fn: Callable[[FleetFigures], datetime] | None = None
    attributes_fn: Callable[[FleetFigures], dict[str, Any]] | None = None
    money: bool = False


def _month(figures: FleetFigures) -> datetime:
    return figures.month_start


FLEET_SENSORS: tuple[FleetSensorDescription, ...] = (
    FleetSensorDescription(
        key="prints_running",
        translation_key="fleet_prints_running",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda figures: figures.running,
    ),
    FleetSensorDescription(
        key="jobs_today",
        translation_key="fleet_jobs_today",
        state_class=SensorStateClass.TOTAL,
        value_fn=lambda figures: figures.jobs_today,
        reset_fn=lambda figures: figures.today_start,
    ),
    FleetSensorDescription(
        key="cost_business_month",
        translation_key="fleet_cost_business_month",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        money=True,
        value_fn=lambda figures: figures.cost_business,
        reset_fn=_month,
        attributes_fn=lambda figures: {"jobs_without_cost": figures.jobs_without_cost},
    ),
    FleetSensorDescription(
        key="cost_private_month",
        translation_key="fleet_cost_private_month",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        money=True,
        value_fn=lambda figures: figures.cost_private,
        reset_fn=_month,
        attributes_fn=lambda figures: {"jobs_without_cost": figures.jobs_without_cost},
    ),
    FleetSensorDescription(
        key="material_month",
        translation_key="fleet_material_month",
        device_class=SensorDeviceClass.WEIGHT,
        native_unit_of_measurement=UnitOfMass.GRAMS,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=0,
        value_fn=lambda figures: round(figures.grams, 2),
        reset_fn=_month,
        attributes_fn=lambda figures: {"jobs_without_grams": figures.jobs_without_grams},
    ),
    FleetSensorDescription(
        key="success_rate_30d",
        translation_key="fleet_success_rate",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda figures: figures.success_rate,
    ),
)


async def async_setup_fleet_sensors(
    entry: FleetConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """The fleet device's sensors."""
    summary = entry.runtime_data.summary
    async_add_entities(FleetSensor(entry, summary, description) for description in FLEET_SENSORS)


class FleetSensor(SensorEntity):
    """One figure of the fleet; writes only when what it shows changed."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Counts of jobs left out change with every job: not worth a recorder row each.
    _unrecorded_attributes = frozenset({"jobs_without_cost", "jobs_without_grams"})
    entity_description: FleetSensorDescription

    def __init__(
        self,
        entry: FleetConfigEntry,
        summary: FleetSummary,
        description: FleetSensorDescription,
    ) -> None:
        """Bind to the fleet's summary."""
        self.entity_description = description
        self._summary = summary
        self._attr_unique_id = f"{FLEET_UNIQUE_ID}_{description.key}"
        self._attr_device_info = fleet_device_info(entry)
        if description.money:
            self._attr_native_unit_of_measurement = summary.currency
        self._written: tuple[Any, ...] | None = None

    async def async_added_to_hass(self) -> None:
        """Follow the summary's computations."""
        await super().async_added_to_hass()
        self.async_on_remove(self._summary.add_listener(self._updated))

    @property
    def _figures(self) -> FleetFigures | None:
        return self._summary.figures

    @property
    def available(self) -> bool:
        """Unavailable until the first computation."""
        return self._figures is not None

    @property
    def native_value(self) -> int | float | Decimal | None:
        """The figure."""
        figures = self._figures
        return None if figures is None else self.entity_description.value_fn(figures)

    @property
    def last_reset(self) -> datetime | None:
        """When a total started counting again (midnight, the 1st)."""
        figures, reset = self._figures, self.entity_description.reset_fn
        return None if figures is None or reset is None else reset(figures)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """How many jobs a sum left out because their amount is unknown."""
        figures, attributes = self._figures, self.entity_description.attributes_fn
        return None if figures is None or attributes is None else attributes(figures)

    def _shown(self) -> tuple[Any, ...]:
        return (self.native_value, self.last_reset, self.extra_state_attributes)

    @callback
    def async_write_ha_state(self) -> None:
        """Remember what was written (see `_updated`)."""
        self._written = self._shown()
        super().async_write_ha_state()

    @callback
    def _updated(self) -> None:
        if self._shown() != self._written:
            self.async_write_ha_state()
