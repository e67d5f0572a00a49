"""Print jobs as the firmware reports them, and broken payloads a client must survive.

Everything runs on the simulator's accelerated clock and only ever changes the report through
`BambuSimulator.update`, so delta and full-report models fall out of the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any

from .payloads import FULL_REPORT_MODELS, IDLE_STAGE
from .threemf import SlicedFilament, build_3mf
from .timelapse import write_timelapse

if TYPE_CHECKING:
    from .printer import BambuSimulator

_POLL = 2.0  # simulated seconds between checks while paused or heating
_PROGRESS_STEP = 5.0
_GCODE_LINES = 180_000
_TEMPERATURES = {"PETG": (250.0, 70.0), "ABS": (260.0, 90.0), "ASA": (260.0, 90.0)}
_PLA_TEMPERATURES = (220.0, 55.0)
_PREPARE_STAGES = [2, 14, 1, 7]  # bed preheat, nozzle clean, bed levelling, hotend heating

DEFAULT_FILAMENTS = (
    SlicedFilament(material="PLA", color="#000000", grams=11.92, meters=4.0),
    SlicedFilament(
        material="PETG", color="#0A2989", grams=3.48, meters=1.15, tray_info_idx="GFG02"
    ),
)


@dataclass(frozen=True, slots=True)
class PrintJob:
    """A sliced job; `minutes` is the slicer's estimate for the printing part."""

    subtask: str = "Benchy"
    total_layers: int = 50
    minutes: float = 30.0
    filaments: Sequence[SlicedFilament] = field(default=DEFAULT_FILAMENTS)

    @property
    def file_name(self) -> str:
        """The name on the SD card (under /cache)."""
        return f"{self.subtask}.gcode.3mf"

    @property
    def temperatures(self) -> tuple[float, float]:
        """Nozzle and bed targets for the first filament."""
        material = self.filaments[0].material if self.filaments else "PLA"
        return _TEMPERATURES.get(material, _PLA_TEMPERATURES)

    def write_3mf(self, sdcard: Path) -> Path:
        """Put the sliced file where the firmware keeps it (blocking: run in a thread)."""
        path = sdcard / "cache" / self.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            build_3mf(
                subtask=self.subtask,
                filaments=self.filaments,
                prediction_seconds=round(self.minutes * 60),
                total_layers=self.total_layers,
            )
        )
        return path


async def hold(sim: BambuSimulator, seconds: float) -> float:
    """Let `seconds` of unpaused simulated time pass; returns how much did (at least that)."""
    passed = 0.0
    while passed < seconds or sim.paused:
        before = sim.clock.now()
        await sim.clock.sleep(_POLL if sim.paused else seconds - passed)
        if not sim.paused:
            passed += sim.clock.now() - before
    return passed


async def _heat(sim: BambuSimulator, key: str, target: float) -> None:
    while float(sim.report[key]) < target - 2.0:
        await hold(sim, _POLL)


async def run_print(sim: BambuSimulator, job: PrintJob) -> None:
    """PREPARE (download, heat, level) -> RUNNING (layers) -> FINISH, honouring pauses."""
    await asyncio.to_thread(job.write_3mf, sim.sdcard)
    nozzle, bed = job.temperatures
    minutes = math.ceil(job.minutes)
    await sim.update(
        {
            "gcode_state": "PREPARE", "print_type": "local", "mc_print_stage": "2",
            "subtask_name": job.subtask, "gcode_start_time": str(int(sim.clock.wall())),
            "gcode_file": "/data/Metadata/plate_1.gcode"
            if sim.model in FULL_REPORT_MODELS
            else job.file_name,
            "gcode_file_prepare_percent": "0", "mc_percent": 0, "mc_remaining_time": minutes,
            "layer_num": 0, "total_layer_num": job.total_layers, "mc_print_line_number": "0",
            "print_error": 0, "stg": _PREPARE_STAGES, "stg_cur": IDLE_STAGE[sim.model],
            "ams": sim.report["ams"] | {"tray_now": "0", "tray_tar": "0"},
        }
    )  # fmt: skip
    for percent in range(10, 101, 10):
        await hold(sim, 1.0)
        await sim.update({"gcode_file_prepare_percent": str(percent)})
    await sim.update({"stg_cur": 2, "bed_target_temper": bed})
    await _heat(sim, "bed_temper", bed)
    await sim.update({"stg_cur": 14, "nozzle_target_temper": 140.0})
    await hold(sim, 25.0)
    await sim.update({"stg_cur": 1})
    await hold(sim, 90.0)
    await sim.update({"stg_cur": 7, "nozzle_target_temper": nozzle})
    await _heat(sim, "nozzle_temper", nozzle)
    await sim.update({"gcode_state": "RUNNING", "stg_cur": 0, "layer_num": 1})
    duration, elapsed = job.minutes * 60.0, 0.0
    while elapsed < duration:
        elapsed += await hold(sim, _PROGRESS_STEP)
        done = min(elapsed / duration, 1.0)
        layer = max(1, min(job.total_layers, math.ceil(done * job.total_layers)))
        fans = {"cooling_fan_speed": "15", "big_fan1_speed": "10", "big_fan2_speed": "5"}
        await sim.update(
            {
                "mc_percent": int(done * 100), "layer_num": layer,
                "mc_remaining_time": math.ceil((duration - min(elapsed, duration)) / 60.0),
                "mc_print_line_number": str(int(done * _GCODE_LINES)),
            } | (fans if layer > 1 else {})
        )  # fmt: skip
    # The printer closes the job's timelapse as it finishes (AVI on P1/A1, MP4 on X1/H2).
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(sim.clock.wall()))
    await asyncio.to_thread(write_timelapse, sim.sdcard, f"video_{stamp}", model=sim.model)
    await sim.update(
        {
            "gcode_state": "FINISH", "mc_print_stage": "1", "mc_percent": 100,
            "mc_remaining_time": 0, "layer_num": job.total_layers, "stg": [],
            "stg_cur": IDLE_STAGE[sim.model], "nozzle_target_temper": 0.0,
            "bed_target_temper": 0.0, "cooling_fan_speed": "0", "big_fan1_speed": "0",
            "big_fan2_speed": "0",
        }
    )  # fmt: skip


async def run_forever(sim: BambuSimulator, job: PrintJob, idle_minutes: float = 2.0) -> None:
    """Print, idle, print again: the demo's `loop` scenario."""
    while True:
        task = sim.start_print(
            job.subtask, total_layers=job.total_layers, minutes=job.minutes, filaments=job.filaments
        )
        await asyncio.wait([task])  # a stop from a client ends this print, not the loop
        await sim.clock.sleep(idle_minutes * 60.0)


GARBAGE_KINDS = ("malformed", "truncated", "wrong_types", "wrong_shape", "oversized")


def garbage(kind: str, report: Mapping[str, Any], sequence_id: str) -> bytes:
    """A report payload that a robust client must survive without crashing or losing state."""
    envelope = {"command": "push_status", "msg": 1, "sequence_id": sequence_id}
    if kind == "malformed":
        return b'{"print": {"command": "push_status", "msg": 1, nozzle_temper: 21x.5,}'
    if kind == "truncated":
        whole = json.dumps({"print": dict(report) | envelope | {"msg": 0}}).encode()
        return whole[: len(whole) // 2]
    if kind == "wrong_types":
        wrong = {
            "nozzle_temper": "219.5", "bed_temper": None, "mc_percent": "forty",
            "mc_remaining_time": "84", "layer_num": [12], "total_layer_num": {"n": 140},
            "wifi_signal": -52, "gcode_state": 3, "spd_lvl": "2", "cooling_fan_speed": 15,
            "print_error": "0", "hms": None, "lights_report": {"node": "chamber_light"},
            "ams": [], "stg_cur": None, "home_flag": "0x100",
        }  # fmt: skip
        return json.dumps({"print": wrong | envelope}).encode()
    if kind == "wrong_shape":
        return json.dumps({"print": ["push_status", 1], "info": "get_version"}).encode()
    if kind == "oversized":
        flood = [{"attr": 0x0C000300 + i, "code": 0x00030007} for i in range(40_000)]
        return json.dumps({"print": dict(report) | envelope | {"msg": 0, "hms": flood}}).encode()
    raise ValueError(f"unknown garbage kind {kind!r}; choose from {GARBAGE_KINDS}")
