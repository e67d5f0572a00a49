"""Bambu heater/fan G-code and the `upgrade_state` reader, as pure functions."""

from __future__ import annotations

import math
from typing import Any

import pytest

from custom_components.printernizer.printers.bambu.controls import (
    fan_gcode,
    fan_pwm,
    has_enclosure_fans,
    temperature_gcode,
    temperature_limits,
)
from custom_components.printernizer.printers.bambu.firmware import firmware_update
from custom_components.printernizer.printers.bambu.values import fan_percent
from custom_components.printernizer.printers.controls import Fan, Heater, Limits
from custom_components.printernizer.printers.models import FirmwareUpdate


def test_every_percentage_reads_back_close_and_tens_exactly() -> None:
    for percent in range(101):
        pwm = fan_pwm(percent)
        assert pwm % 17 == 0  # a whole report step: no rounding at the printer
        shown = fan_percent(str(pwm // 17))
        assert shown is not None
        if percent % 10 == 0:
            assert shown == percent
        assert (shown > 0) == (percent > 0)  # never off unless asked
        assert abs(shown - percent) <= 10


@pytest.mark.parametrize("percent", [-1, 101, 10**9])
def test_fan_speeds_outside_0_to_100_are_refused(percent: int) -> None:
    with pytest.raises(ValueError, match="outside 0-100"):
        fan_gcode(Fan.PART, percent)


def test_fan_lines() -> None:
    assert fan_gcode(Fan.PART, 100) == "M106 P1 S255\n"
    assert fan_gcode(Fan.AUX, 0) == "M106 P2 S0\n"
    assert fan_gcode(Fan.CHAMBER, 50) == "M106 P3 S119\n"


def test_temperature_lines_and_limits() -> None:
    nozzle = temperature_limits(Heater.NOZZLE, "P1S")
    assert temperature_gcode(Heater.NOZZLE, 219.6, nozzle) == "M104 S220\n"
    assert temperature_gcode(Heater.BED, 0, temperature_limits(Heater.BED, "A1")) == "M140 S0\n"
    assert temperature_limits(Heater.CHAMBER, "H2D").maximum == 65
    assert temperature_limits(Heater.CHAMBER, "H2S").maximum == 60
    assert temperature_gcode(Heater.CHAMBER, 60, temperature_limits(Heater.CHAMBER, None)) == (
        "M141 S60\n"
    )


@pytest.mark.parametrize("celsius", [-0.5, 320.5, math.nan, math.inf, -math.inf, 1e300])
def test_targets_outside_the_limits_are_refused(celsius: float) -> None:
    with pytest.raises(ValueError, match="outside 0-320"):
        temperature_gcode(Heater.NOZZLE, celsius, Limits(maximum=320))


@pytest.mark.parametrize(
    ("model", "enclosed"),
    [
        *[("P1S", True), ("X1C", True), ("H2D", True), ("P1P", True), (None, True)],
        *[("A1", False), ("A1 mini", False), ("A2L", False)],
    ],
)
def test_only_enclosed_models_have_aux_and_chamber_fans(model: str | None, enclosed: bool) -> None:
    assert has_enclosure_fans(model) is enclosed


@pytest.mark.parametrize(
    ("upgrade_state", "expected"),
    [
        ({"new_version_state": 2, "new_ver_list": []}, FirmwareUpdate(available=False)),
        (
            {
                "new_version_state": 1,
                "new_ver_list": [{"name": "ota", "cur_ver": "01.08.02.00", "new_ver": "01.09"}],
            },
            FirmwareUpdate(available=True, version="01.09"),
        ),
        (
            {"new_version_state": 1, "ota_new_version_number": "01.09.01.00", "new_ver_list": []},
            FirmwareUpdate(available=True, version="01.09.01.00"),
        ),
        (
            {"new_version_state": "1", "new_ver_list": [{"name": "ams/0", "new_ver": "00.01"}]},
            FirmwareUpdate(available=False),
        ),
        ({"new_version_state": 1}, FirmwareUpdate(available=True)),
        # The printer's own entry with an unreadable version: newer, but which is unknown.
        (
            {"new_version_state": 1, "new_ver_list": [{"name": "ota", "new_ver": ["x"]}]},
            FirmwareUpdate(available=True),
        ),
        # An absurdly long "version" is cut to bounded text, never kept whole.
        (
            {"new_version_state": 1, "ota_new_version_number": "9" * 1000},
            FirmwareUpdate(available=True, version="9" * 32),
        ),
        ({"new_version_state": None}, None),
        ({"new_version_state": 3}, None),
        ({"new_version_state": True}, None),
        ({}, None),
        ("1", None),
        (None, None),
        ([{"new_version_state": 1}], None),
    ],
)
def test_upgrade_state(upgrade_state: Any, expected: FirmwareUpdate | None) -> None:
    assert firmware_update(upgrade_state) == expected


def test_a_huge_module_list_is_read_only_in_part() -> None:
    listed: list[Any] = [{"name": f"ams/{index}", "new_ver": "1"} for index in range(10_000)]
    listed.append({"name": "ota", "new_ver": "02.00"})
    # Past the first 64 modules nothing is read: a flood cannot cost more than that.
    assert firmware_update({"new_version_state": 1, "new_ver_list": listed}) == FirmwareUpdate(
        available=False
    )
