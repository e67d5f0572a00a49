"""PrusaLink heater targets: which printers can set them, and the requests that do."""

from __future__ import annotations

import json
import math

import pytest

from custom_components.printernizer.printers.controls import Heater
from custom_components.printernizer.printers.prusa.controls import (
    BED_LIMITS,
    NOZZLE_LIMITS,
    target_request,
    temperature_limits,
)


def test_only_the_pi_sets_targets_and_never_a_chamber() -> None:
    assert temperature_limits(Heater.NOZZLE, "pi") == NOZZLE_LIMITS
    assert temperature_limits(Heater.BED, "pi") == BED_LIMITS
    assert temperature_limits(Heater.CHAMBER, "pi") is None
    assert all(temperature_limits(heater, "buddy") is None for heater in Heater)


def test_requests_are_octoprints_legacy_routes() -> None:
    route, body = target_request(Heater.NOZZLE, 214.6, NOZZLE_LIMITS)
    assert (route, json.loads(body)) == (
        "/api/printer/tool",
        {"command": "target", "targets": {"tool0": 215}},
    )
    route, body = target_request(Heater.BED, 0, BED_LIMITS)
    assert (route, json.loads(body)) == ("/api/printer/bed", {"command": "target", "target": 0})


@pytest.mark.parametrize("celsius", [-1, 305.6, math.nan, math.inf, 10**12])
def test_targets_beyond_the_limits_are_never_sent(celsius: float) -> None:
    with pytest.raises(ValueError, match="outside 0-305"):
        target_request(Heater.NOZZLE, celsius, NOZZLE_LIMITS)


def test_no_chamber_request_exists() -> None:
    with pytest.raises(ValueError, match="chamber"):
        target_request(Heater.CHAMBER, 40, BED_LIMITS)
