"""The Bambu adapter against the simulated printer over real MQTT/TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import logging
import os
from pathlib import Path
import threading

import pytest

from custom_components.printernizer.printers.bambu.adapter import (
    BambuAdapter,
    BambuConfig,
    Timing,
)
from custom_components.printernizer.printers.errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
    ControlsLockedError,
    PrinterOfflineError,
    WrongSerialError,
)
from custom_components.printernizer.printers.models import PrinterState, PrinterStatus
from simulator.bambu.printer import BambuSimulator
from simulator.proxy import FaultProxy

from .waiting import wait_for, wait_until

FIXTURES = Path(__file__).parent.parent / "fixtures" / "bambu"
FAST = Timing(
    setup_timeout=10, command_timeout=3, watchdog=1.0, pushall_interval=300, backoff_cap=0.5
)


def config_for(sim: BambuSimulator, **overrides: object) -> BambuConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "serial": sim.serial,
        "access_code": sim.access_code,
        "certificate": sim.cert_pem,
        "mqtt_port": sim.mqtt_port,
        "ftps_port": sim.ftps_port or 990,
    }
    values.update(overrides)
    return BambuConfig(**values)  # type: ignore[arg-type]


def requests_named(sim: BambuSimulator, command: str) -> list[dict[str, object]]:
    return [
        body
        for request in sim.requests
        for body in request.values()
        if isinstance(body, dict) and body.get("command") == command
    ]


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    async with BambuSimulator(workdir=tmp_path, speed=600, jitter=False) as simulator:
        yield simulator


@pytest.fixture
async def adapter(sim: BambuSimulator) -> AsyncIterator[BambuAdapter]:
    printer = BambuAdapter(config_for(sim), FAST)
    await printer.start()
    yield printer
    await printer.stop()


async def test_connect_reads_identity_and_full_state(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    assert adapter.state.online
    assert adapter.state.status is PrinterStatus.IDLE
    assert adapter.device_info.model == "P1S"
    assert adapter.device_info.firmware
    assert adapter.state.nozzle.current is not None
    assert adapter.state.filament_slots
    assert len(requests_named(sim, "pushall")) == 1
    assert len(requests_named(sim, "get_version")) == 1


async def test_stop_leaves_nothing_running(sim: BambuSimulator) -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    printer = BambuAdapter(config_for(sim), FAST)
    await printer.start()
    await printer.stop()
    await wait_until(lambda: sim.connected_clients() == 0)
    ours = [
        t for t in asyncio.all_tasks() - tasks_before if not t.get_name().startswith("bambu-sim")
    ]
    assert ours == []
    new_threads = {t.name for t in set(threading.enumerate()) - threads_before}
    # Only the loop's executor workers (the blocking TLS connect ran there) may remain; HA's
    # test harness names them SyncWorker_N.
    executor = ("asyncio_", "SyncWorker_")
    assert {name for name in new_threads if not name.startswith(executor)} == set()


async def test_delta_stream_merges_into_the_printers_report(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    seen: list[PrinterStatus] = []
    adapter.add_listener(lambda state: seen.append(state.status))
    await sim.start_print("Cube", total_layers=20, minutes=20)
    finished = await wait_for(adapter, lambda s: s.status is PrinterStatus.FINISHED)
    assert PrinterStatus.PREPARING in seen
    assert PrinterStatus.PRINTING in seen
    assert finished.job.name == "Cube"
    assert finished.job.progress == 100
    assert finished.job.current_layer == finished.job.total_layers == 20
    transport = {"command", "msg", "sequence_id"}

    def merged_equals_printer() -> bool:
        ours = {k: v for k, v in adapter.raw_report.items() if k not in transport}
        return ours == {k: v for k, v in sim.report.items() if k not in transport}

    await wait_until(merged_equals_printer)


async def test_x1c_full_pushes(tmp_path: Path) -> None:
    async with BambuSimulator(workdir=tmp_path, model="X1C", speed=600, jitter=False) as sim:
        printer = BambuAdapter(config_for(sim), FAST)
        await printer.start()
        try:
            assert printer.device_info.model == "X1C"
            assert printer.state.chamber is not None  # the X1C has a real chamber sensor
            await sim.start_print("Vase", total_layers=10, minutes=10)
            state = await wait_for(printer, lambda s: s.status is PrinterStatus.FINISHED)
            assert state.job.name == "Vase"
        finally:
            await printer.stop()


async def test_reconnects_after_the_broker_restarts(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    went_offline: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def offline(state: PrinterState) -> None:
        if not (went_offline.done() or state.online):
            went_offline.set_result(True)

    adapter.add_listener(offline)
    await sim.restart_broker()
    await asyncio.wait_for(went_offline, 10)
    await wait_for(adapter, lambda s: s.online)
    assert len(requests_named(sim, "pushall")) == 2
    assert len(requests_named(sim, "get_version")) == 2


async def test_reconnects_after_the_printer_drops_the_connection(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    await sim.drop_connections()
    await wait_until(lambda: len(requests_named(sim, "pushall")) == 2)
    await wait_for(adapter, lambda s: s.online)


async def test_watchdog_marks_a_silent_printer_offline_and_nudges_it(
    sim: BambuSimulator, adapter: BambuAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.go_silent()
    state = await wait_for(adapter, lambda s: not s.online, timeout=5)
    assert state.status is PrinterStatus.OFFLINE
    await wait_until(lambda: len(requests_named(sim, "start")) == 1)
    assert caplog.text.count("stopped reporting") == 1
    sim.wake()
    await sim.publish_report({"mc_percent": 0})
    await wait_for(adapter, lambda s: s.online)


async def test_wrong_access_code_is_an_authentication_error(
    sim: BambuSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    printer = BambuAdapter(config_for(sim, access_code="87654321"), FAST)
    with pytest.raises(AuthenticationError) as err:
        await printer.start()
    assert "87654321" not in str(err.value)
    assert "87654321" not in caplog.text
    assert "87654321" not in repr(config_for(sim, access_code="87654321"))
    await wait_until(lambda: sim.connected_clients() == 0)


async def test_wrong_serial_is_reported_as_such(sim: BambuSimulator) -> None:
    printer = BambuAdapter(config_for(sim, serial="01P00A999999999"), FAST)
    with pytest.raises(WrongSerialError):
        await printer.start()


async def test_unreachable_printer(sim: BambuSimulator) -> None:
    printer = BambuAdapter(config_for(sim, mqtt_port=1), FAST)
    with pytest.raises(PrinterOfflineError):
        await printer.start()


async def test_changed_certificate_is_refused(sim: BambuSimulator, adapter: BambuAdapter) -> None:
    errors: list[AdapterError] = []
    adapter.add_error_listener(errors.append)
    old_certificate = sim.cert_pem
    await sim.rotate_certificate()
    await wait_until(lambda: bool(errors))
    assert isinstance(errors[0], CertificateMismatchError)
    assert not adapter.state.online
    stale = BambuAdapter(config_for(sim, certificate=old_certificate), FAST)
    with pytest.raises(CertificateMismatchError):
        await stale.start()
    fresh = BambuAdapter(config_for(sim), FAST)
    await fresh.start()
    await fresh.stop()


async def test_malformed_and_oversized_payloads_are_dropped(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    for payload in (
        b"{not json",
        b"[1, 2]",
        b'{"print": {"command": "push_status", "mc_per',
        b"x" * (1024 * 1024 + 1),
    ):
        await sim.publish_raw(payload)
    await sim.publish_report({"mc_percent": "not a number", "layer_num": None})
    await sim.publish_report({"spd_lvl": 3})
    await wait_for(adapter, lambda s: s.speed_level == 3)
    assert adapter.malformed == 5  # four unreadable messages and one unusable value
    assert adapter.state.job.progress is None
    assert "mc_percent" not in adapter.raw_report
    assert adapter.state.online


async def test_pause_resume_stop_reach_the_printer(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    sim.start_print("Long", total_layers=200, minutes=600)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    await adapter.pause()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PAUSED)
    await adapter.resume()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    await adapter.stop_print()
    await wait_for(adapter, lambda s: s.status is PrinterStatus.CANCELLED)
    assert [len(requests_named(sim, c)) for c in ("pause", "resume", "stop")] == [1, 1, 1]


async def test_speed_light_and_refresh(sim: BambuSimulator, adapter: BambuAdapter) -> None:
    await adapter.set_speed_level(3)
    await wait_for(adapter, lambda s: s.speed_level == 3)
    with pytest.raises(ValueError, match="1-4"):
        await adapter.set_speed_level(7)
    await adapter.set_chamber_light(False)
    await wait_for(adapter, lambda s: s.chamber_light is False)
    assert not await adapter.refresh()  # rate-limited right after connecting
    assert len(requests_named(sim, "pushall")) == 1


async def test_refresh_after_the_interval(sim: BambuSimulator) -> None:
    printer = BambuAdapter(config_for(sim), Timing(pushall_interval=0, watchdog=60))
    await printer.start()
    try:
        assert await printer.refresh()
        await wait_until(lambda: len(requests_named(sim, "pushall")) == 2)
    finally:
        await printer.stop()


async def test_lockdown_is_detected_and_commands_refused(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    sim.set_lockdown(True)
    await wait_for(adapter, lambda s: s.controls_locked)
    with pytest.raises(ControlsLockedError):
        await adapter.pause()
    assert not requests_named(sim, "pause")  # refused locally, nothing sent
    await adapter.set_chamber_light(True)  # the light works on locked firmware
    await wait_for(adapter, lambda s: s.chamber_light is True)


async def test_lockdown_refusal_from_the_printer(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    sim.set_lockdown(True)
    await wait_for(adapter, lambda s: s.controls_locked)
    await sim.publish_report({"fun": "0"})  # firmware that does not announce the lock
    await wait_for(adapter, lambda s: not s.controls_locked)
    with pytest.raises(ControlsLockedError):
        await adapter.pause()
    assert len(requests_named(sim, "pause")) == 1


async def test_unanswered_command_times_out(sim: BambuSimulator) -> None:
    printer = BambuAdapter(config_for(sim), Timing(command_timeout=0.3, watchdog=60))
    await printer.start()
    try:
        sim.go_silent()
        with pytest.raises(PrinterOfflineError):
            await printer.pause()
    finally:
        await printer.stop()


async def test_commands_need_a_connection(sim: BambuSimulator) -> None:
    printer = BambuAdapter(config_for(sim), FAST)
    with pytest.raises(PrinterOfflineError):
        await printer.pause()


async def test_replayed_capture_reaches_the_adapter_state(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    sent = await sim.replay(FIXTURES / "p1s_print.jsonl")
    assert sent >= 2000
    state = await wait_for(adapter, lambda s: s.status is PrinterStatus.FINISHED)
    assert state.job.progress == 100
    assert state.job.name


async def test_job_metadata_is_read_from_the_3mf_over_ftps(
    sim: BambuSimulator, adapter: BambuAdapter
) -> None:
    assert await adapter.job_metadata() is None  # idle, no job
    sim.start_print("Cube", total_layers=200, minutes=600)
    await wait_for(adapter, lambda s: s.status is PrinterStatus.PRINTING)
    metadata = await adapter.job_metadata()
    assert metadata is not None
    assert [usage.material for usage in metadata.filaments] == ["PLA", "PETG"]
    assert all(usage.grams and usage.grams > 0 for usage in metadata.filaments)
    assert metadata.total_grams == pytest.approx(sum(u.grams or 0 for u in metadata.filaments))
    assert metadata.predicted_seconds
    assert metadata.thumbnail_png is not None
    assert metadata.thumbnail_png.startswith(b"\x89PNG")
    assert await adapter.job_metadata() is metadata  # fetched once per job


async def test_stop_ends_a_job_file_download_in_flight(sim: BambuSimulator) -> None:
    """Unload must not leave an executor thread talking to the printer (it raced the
    simulator's shutdown in CI) nor let it connect again afterwards."""
    assert sim.ftps_port
    async with FaultProxy(upstream_port=sim.ftps_port) as ftps:
        printer = BambuAdapter(config_for(sim, ftps_port=ftps.port), FAST)
        await printer.start()
        try:
            ftps.silence()  # the download hangs in its TLS handshake, as on bad Wi-Fi
            sim.start_print("Cube", total_layers=200, minutes=600)
            await wait_for(printer, lambda s: s.status is PrinterStatus.PRINTING)
            fetching = asyncio.create_task(printer.job_metadata())
            await wait_until(lambda: ftps.connections == 1)
            assert client_sockets(ftps.port)
        finally:
            await printer.stop()
        # Closed by the time stop() returns, not after FTPS's own 15 s timeout.
        assert client_sockets(ftps.port) == set()
        ftps.resume()
        assert await fetching is None
        assert ftps.connections == 1


def client_sockets(port: int) -> set[str]:
    """Inodes of this process's TCP sockets connected to 127.0.0.1:`port` (from /proc)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                mine.add(target[8:-1])
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in list(table)[1:]]
    return {row[9] for row in rows if int(row[2].rsplit(":", 1)[1], 16) == port} & mine
