"""The file manager with the real adapters against both simulators, over 127.0.0.1.

Bambu: implicit FTPS with TLS session reuse; PrusaLink: digest-authenticated HTTP (Buddy and
Pi). Faults come from the simulators: cut and slowed transfers, 550 while printing, files that
vanish after listing, hostile names. HA's blocking-call detector is on (integration conftest),
so any disk access the manager did in the event loop would fail these tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
import hashlib
import os
from pathlib import Path
import struct

import aiohttp
from PIL import Image
import pytest

from custom_components.printernizer.files import local
from custom_components.printernizer.files.errors import (
    FileInUseError,
    FileTooLargeError,
    NotEnoughSpaceError,
)
from custom_components.printernizer.files.manager import FileManager
from custom_components.printernizer.files.model import (
    DownloadState,
    DownloadStatus,
    FailureReason,
    FileKind,
    FileLimits,
    FileStatus,
)
from custom_components.printernizer.printers.bambu.adapter import BambuAdapter
from custom_components.printernizer.printers.models import PrinterStatus
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter
from simulator.bambu.ftps import FtpsFaults
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.timelapse import write_timelapse
from simulator.prusa import PrusaSimulator
from simulator.prusa.files import VirtualFile
from tests.printers.test_bambu_adapter import FAST as BAMBU_FAST, config_for as bambu_config
from tests.printers.test_prusa_adapter import FAST as PRUSA_FAST, config_for as prusa_config
from tests.printers.waiting import wait_for, wait_until

LIMITS = FileLimits(
    max_file_bytes=64 * 1024 * 1024,
    min_free_bytes=0,
    retries=2,
    retry_delay=0.05,
    retry_delay_cap=0.1,
    listing_backoff=60.0,
)
BIG = os.urandom(3 * 1024 * 1024 + 17)
# Names a Linux SD card can hold; separators themselves are covered by the phantom listing test.
HOSTILE_ON_CARD = [
    "CON.3mf",
    "evil\u202egpj.3mf",
    " .hidden.3mf",
    "a:b.3mf",
    "..\uff0f..\uff0fetc\uff0fx.3mf",
    "x" * 240 + ".gcode.3mf",
]


@pytest.fixture(autouse=True)
def _sockets(socket_enabled: None) -> None:
    """Real loopback sockets."""


async def finished(files: FileManager, download_id: str, timeout: float = 30) -> DownloadStatus:
    """Wait, bounded, for a download to end; returns its final status."""
    done = asyncio.Event()
    remove = files.add_listener(
        lambda status: done.set() if status.id == download_id and status.state.finished else None
    )
    try:
        if not files.download_status(download_id).state.finished:
            async with asyncio.timeout(timeout):
                await done.wait()
    finally:
        remove()
    return files.download_status(download_id)


async def running(files: FileManager, download_id: str) -> None:
    """Wait until some bytes of the download have arrived."""
    await wait_until(lambda: files.download_status(download_id).bytes_done > 0, timeout=10)


def partials(root: Path) -> list[Path]:
    return list(root.rglob("*.part"))


# --- Bambu


def _fill_card(sdcard: Path) -> None:
    (sdcard / "cache").mkdir(parents=True, exist_ok=True)
    (sdcard / "cache" / "Benchy.gcode.3mf").write_bytes(BIG)
    (sdcard / "model").mkdir(exist_ok=True)
    (sdcard / "model" / "Preloaded.3mf").write_bytes(b"model" * 1000)
    (sdcard / "Lan upload.gcode.3mf").write_bytes(b"lan" * 500)
    for name in HOSTILE_ON_CARD:
        (sdcard / "cache" / name).write_bytes(name.encode() * 10)
    write_timelapse(sdcard, "video_2026-12-01_10-00-00")


@pytest.fixture
async def bambu(tmp_path: Path) -> AsyncIterator[tuple[BambuSimulator, BambuAdapter]]:
    async with BambuSimulator(workdir=tmp_path / "sim", speed=600, jitter=False) as sim:
        await asyncio.to_thread(_fill_card, sim.sdcard)
        # No job-metadata fetches: every FTPS request the tests count is the file manager's.
        adapter = BambuAdapter(bambu_config(sim), replace(BAMBU_FAST, metadata_attempts=0))
        await adapter.start()
        try:
            yield sim, adapter
        finally:
            await adapter.stop()


def faults(sim: BambuSimulator) -> FtpsFaults:
    """The simulated FTPS server's fault switches."""
    server = sim._ftps
    assert server is not None
    return server.faults


@pytest.fixture
async def bambu_files(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter]
) -> AsyncIterator[FileManager]:
    sim, adapter = bambu
    files = FileManager(tmp_path / "files", LIMITS)
    files.add_printer(sim.serial, adapter.files)
    await files.start()
    yield files
    await files.stop()


async def test_bambu_listing_covers_the_folders_with_kinds_and_thumbnails(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    entries = {(e.folder, e.name): e for e in await bambu_files.list_files(sim.serial)}
    assert ("/cache", "Benchy.gcode.3mf") in entries
    assert ("/model", "Preloaded.3mf") in entries
    assert ("/", "Lan upload.gcode.3mf") in entries
    video = entries[("/timelapse", "video_2026-12-01_10-00-00.avi")]
    assert video.kind is FileKind.TIMELAPSE
    assert video.has_thumbnail
    assert entries[("/cache", "Benchy.gcode.3mf")].size == len(BIG)
    assert entries[("/cache", "Benchy.gcode.3mf")].kind is FileKind.PRINT
    assert {e.status for e in entries.values()} == {FileStatus.ON_PRINTER}
    cover = await bambu_files.thumbnail(sim.serial, "/timelapse", video.name)
    assert cover is not None
    assert cover.startswith(b"\xff\xd8")


async def test_bambu_download_matches_the_card_byte_for_byte(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    await bambu_files.list_files(sim.serial)
    status = await finished(
        bambu_files, await bambu_files.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    )
    assert status.state is DownloadState.COMPLETED
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()
    assert status.local_path is not None
    assert status.local_path.parent.parent == tmp_path / "files" / sim.serial
    assert await asyncio.to_thread(status.local_path.read_bytes) == BIG
    entry = next(
        e for e in await bambu_files.list_files(sim.serial) if e.name == "Benchy.gcode.3mf"
    )
    assert entry.status is FileStatus.DOWNLOADED
    assert entry.sha256 == status.sha256
    assert partials(tmp_path / "files") == []


async def test_bambu_timelapse_arrives_as_a_playable_avi(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    await bambu_files.list_files(sim.serial)
    name = "video_2026-12-01_10-00-00.avi"
    status = await finished(bambu_files, await bambu_files.download(sim.serial, "/timelapse", name))
    assert status.local_path is not None
    data = await asyncio.to_thread(status.local_path.read_bytes)
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"AVI "
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)
    frames = await asyncio.to_thread(_avi_frames, data)
    assert len(frames) == 12
    sizes = {await asyncio.to_thread(_jpeg_size, frame) for frame in frames}
    assert sizes == {(160, 120)}
    cover = await bambu_files.local_thumbnail(status.local_path)  # kept for the media browser
    assert cover is not None
    assert await asyncio.to_thread(_jpeg_size, cover) == (160, 120)


def _avi_frames(data: bytes) -> list[bytes]:
    """The `00dc` frames the `idx1` index points at (as a player reads them)."""
    movi = data.index(b"movi")
    index = data.index(b"idx1")
    count = struct.unpack("<I", data[index + 4 : index + 8])[0] // 16
    frames = []
    for number in range(count):
        entry = data[index + 8 + 16 * number : index + 24 + 16 * number]
        fourcc, _, offset, size = struct.unpack("<4sIII", entry)
        assert fourcc == b"00dc"
        start = movi + offset + 8
        frames.append(data[start : start + size])
    return frames


def _jpeg_size(frame: bytes) -> tuple[int, int]:
    import io

    with Image.open(io.BytesIO(frame)) as image:
        image.load()
        return image.size


@pytest.mark.parametrize("resume", [True, False], ids=["rest", "no-rest"])
async def test_bambu_cut_transfer_resumes_and_completes(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager, resume: bool
) -> None:
    sim, _ = bambu
    fault = faults(sim)
    fault.drop_after, fault.drops, fault.no_resume = 1024 * 1024, 1, not resume
    await bambu_files.list_files(sim.serial)
    status = await finished(
        bambu_files, await bambu_files.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    )
    assert status.state is DownloadState.COMPLETED
    assert status.attempts == 2
    # With REST the retry fetches only the rest; refused, the whole file again.
    assert fault.fetched == ["/cache/Benchy.gcode.3mf"] * 2
    assert len(fault.restarts) == (1 if resume else 0)
    if resume:
        assert 0 < fault.restarts[0] <= 1024 * 1024
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()
    assert status.local_path is not None
    assert await asyncio.to_thread(status.local_path.read_bytes) == BIG


async def test_bambu_cancel_ends_a_slow_transfer(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    faults(sim).rate = 256 * 1024  # 12 s for the file
    await bambu_files.list_files(sim.serial)
    download_id = await bambu_files.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    await running(bambu_files, download_id)
    async with asyncio.timeout(5):  # the FTPS thread's sockets are shut, not waited out
        status = await bambu_files.cancel(download_id)
    assert status.state is DownloadState.CANCELLED
    assert partials(tmp_path / "files") == []
    assert not list((tmp_path / "files").rglob("Benchy*"))
    # The client is still usable after one transfer was ended.
    faults(sim).rate = None
    entries = await bambu_files.list_files(sim.serial, refresh=True)
    assert any(e.name == "Benchy.gcode.3mf" for e in entries)


async def test_bambu_550_while_printing_backs_off_without_a_retry_storm(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, adapter = bambu
    await bambu_files.list_files(sim.serial)
    fault = faults(sim)
    fault.refuse = lambda: sim.report.get("gcode_state") == "RUNNING"
    await sim.update({"gcode_state": "RUNNING", "subtask_name": "Other", "gcode_file": "x.3mf"})
    await wait_for(adapter, lambda state: state.status is PrinterStatus.PRINTING)
    fault.listed.clear()
    for _ in range(10):
        entries = await bambu_files.list_files(sim.serial, refresh=True)
    # One refused LIST per folder, then the backoff holds; the last listing stays shown.
    folders = ["/", "/cache", "/model", "/timelapse"]
    assert sorted(path for path in fault.listed if path in folders) == folders
    assert any(e.name == "Benchy.gcode.3mf" for e in entries)
    status = await finished(
        bambu_files, await bambu_files.download(sim.serial, "/model", "Preloaded.3mf")
    )
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.PRINTER_BUSY
    assert fault.fetched.count("/model/Preloaded.3mf") == LIMITS.retries + 1


async def test_bambu_file_that_vanished_after_listing_fails_once(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    faults(sim).phantoms["/cache"] = [("Gone.3mf", 1234), ("../../../etc/passwd", 99)]
    entries = {e.name for e in await bambu_files.list_files(sim.serial)}
    assert {"Gone.3mf", "../../../etc/passwd"} <= entries
    for name in ("Gone.3mf", "../../../etc/passwd"):
        status = await finished(bambu_files, await bambu_files.download(sim.serial, "/cache", name))
        assert status.state is DownloadState.FAILED
        assert status.error == FailureReason.NOT_FOUND
    assert faults(sim).fetched == ["/cache/Gone.3mf", "/cache/../../../etc/passwd"]  # no retry


async def test_bambu_hostile_names_on_the_card_land_inside_the_folder(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    await bambu_files.list_files(sim.serial)
    root = tmp_path / "files"
    for name in HOSTILE_ON_CARD:
        status = await finished(bambu_files, await bambu_files.download(sim.serial, "/cache", name))
        assert status.state is DownloadState.COMPLETED, name
        assert status.local_path is not None
        assert status.local_path.parent.parent == root / sim.serial
        assert await asyncio.to_thread(status.local_path.read_bytes) == name.encode() * 10
    outside = await asyncio.to_thread(
        lambda: [p for p in tmp_path.rglob("*3mf") if not p.is_relative_to(root)]
    )
    assert all(p.is_relative_to(tmp_path / "sim") for p in outside)


async def test_bambu_size_limit_and_full_disk_refuse_before_any_transfer(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter]
) -> None:
    sim, adapter = bambu
    small = FileManager(tmp_path / "a", FileLimits(max_file_bytes=1024 * 1024, min_free_bytes=0))
    small.add_printer(sim.serial, adapter.files)
    full = FileManager(tmp_path / "b", LIMITS, free_space=lambda _: 1024 * 1024)
    full.add_printer(sim.serial, adapter.files)
    for files in (small, full):
        await files.start()
        await files.list_files(sim.serial)
    with pytest.raises(FileTooLargeError):
        await small.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    with pytest.raises(NotEnoughSpaceError):
        await full.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    assert faults(sim).fetched == []
    for files in (small, full):
        await files.stop()


async def test_bambu_restart_with_a_partial_file_marks_it_failed(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter]
) -> None:
    sim, adapter = bambu
    root = tmp_path / "files"
    month = root / sim.serial / "2026-12"
    part = month / ".Benchy.gcode.3mf.abc.part"

    def crash_leftovers() -> None:
        month.mkdir(parents=True)
        part.write_bytes(BIG[:100_000])
        record = local.LocalRecord(
            folder="/cache",
            name="Benchy.gcode.3mf",
            relpath="2026-12/Benchy.gcode.3mf",
            state="partial",
            part=part.name,
        )
        local.save_index(month.parent, {("/cache", "Benchy.gcode.3mf"): record})

    await asyncio.to_thread(crash_leftovers)
    files = FileManager(root, LIMITS)
    files.add_printer(sim.serial, adapter.files)
    await files.start()
    assert not await asyncio.to_thread(part.exists)
    entry = next(e for e in await files.list_files(sim.serial) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.FAILED
    assert entry.reason == FailureReason.INTERRUPTED
    status = await finished(files, await files.download(sim.serial, "/cache", entry.name))
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()
    await files.stop()


async def test_bambu_delete_on_the_printer_only_when_asked(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, _ = bambu
    await bambu_files.list_files(sim.serial)
    await bambu_files.delete_remote(sim.serial, "/model", "Preloaded.3mf")
    assert not await asyncio.to_thread((sim.sdcard / "model" / "Preloaded.3mf").exists)
    names = {e.name for e in await bambu_files.list_files(sim.serial, refresh=True)}
    assert "Preloaded.3mf" not in names


async def test_adapter_stop_ends_a_running_download(
    tmp_path: Path, bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, adapter = bambu
    faults(sim).rate = 256 * 1024
    await bambu_files.list_files(sim.serial)
    download_id = await bambu_files.download(sim.serial, "/cache", "Benchy.gcode.3mf")
    await running(bambu_files, download_id)
    async with asyncio.timeout(10):
        await adapter.stop()  # closes every FTPS socket and waits for the thread
        status = await finished(bambu_files, download_id)
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.PRINTER_UNAVAILABLE
    assert partials(tmp_path / "files") == []


async def test_bambu_print_leaves_a_timelapse_and_its_file_is_protected_while_printing(
    bambu: tuple[BambuSimulator, BambuAdapter], bambu_files: FileManager
) -> None:
    sim, adapter = bambu
    # Ten seconds at the simulator's speed: still printing when asked, however busy the machine.
    task = sim.start_print("Tiny", total_layers=5, minutes=100)
    await wait_for(adapter, lambda state: state.status is PrinterStatus.PRINTING, timeout=30)
    await bambu_files.list_files(sim.serial, refresh=True)
    with pytest.raises(FileInUseError):
        await bambu_files.delete_remote(sim.serial, "/cache", "Tiny.gcode.3mf")
    assert await asyncio.to_thread((sim.sdcard / "cache" / "Tiny.gcode.3mf").exists)
    async with asyncio.timeout(30):
        await task
    await wait_for(adapter, lambda state: state.status is PrinterStatus.FINISHED)
    bambu_files.invalidate(sim.serial)  # what the HA glue does after a print
    videos = [
        e
        for e in await bambu_files.list_files(sim.serial)
        if e.kind is FileKind.TIMELAPSE and e.name != "video_2026-12-01_10-00-00.avi"
    ]
    assert len(videos) == 1
    assert videos[0].has_thumbnail
    status = await finished(
        bambu_files, await bambu_files.download(sim.serial, "/timelapse", videos[0].name)
    )
    assert status.local_path is not None
    data = await asyncio.to_thread(status.local_path.read_bytes)
    assert len(await asyncio.to_thread(_avi_frames, data)) == 12
    await bambu_files.delete_remote(sim.serial, "/cache", "Tiny.gcode.3mf")  # idle now


# --- PrusaLink


@pytest.fixture(params=["buddy", "pi"])
async def prusa(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[PrusaSimulator, PrusaAdapter]]:
    async with (
        PrusaSimulator(family=request.param, speed=600, hang_seconds=5) as sim,
        aiohttp.ClientSession() as session,
    ):
        sim.main_storage.add_file("Big print.gcode", BIG)
        adapter = PrusaAdapter(prusa_config(sim), session, PRUSA_FAST)
        await adapter.start()
        try:
            yield sim, adapter
        finally:
            await adapter.stop()


@pytest.fixture
async def prusa_files(
    tmp_path: Path, prusa: tuple[PrusaSimulator, PrusaAdapter]
) -> AsyncIterator[FileManager]:
    _, adapter = prusa
    files = FileManager(tmp_path / "files", LIMITS)
    files.add_printer("prusa", adapter.files)
    await files.start()
    yield files
    await files.stop()


def _storage_folder(sim: PrusaSimulator) -> str:
    return "/usb" if sim.family == "buddy" else "/local"


async def test_prusa_listing_and_download_with_checksum(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    sim, _ = prusa
    folder = _storage_folder(sim)
    entries = {e.name: e for e in await prusa_files.list_files("prusa")}
    assert {"Benchy.bgcode", "Calibration cube.gcode", "Big print.gcode"} <= set(entries)
    assert {e.folder for e in entries.values()} == {folder}
    assert entries["Benchy.bgcode"].kind is FileKind.PRINT
    assert entries["Benchy.bgcode"].has_thumbnail
    thumbnail = await prusa_files.thumbnail("prusa", folder, "Benchy.bgcode")
    assert thumbnail is not None
    assert thumbnail.startswith(b"\x89PNG")
    status = await finished(
        prusa_files, await prusa_files.download("prusa", folder, "Big print.gcode")
    )
    assert status.state is DownloadState.COMPLETED
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()
    assert status.local_path is not None
    assert status.local_path.name == "Big print.gcode"  # the long name, not the 8.3 alias


async def test_prusa_files_in_subfolders_are_listed_and_downloaded(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    sim, _ = prusa
    sim.main_storage.add_folder("Customer projects")
    sim.main_storage.add_file("Customer projects/Deep part.gcode", b"G28\n" * 5000)
    folder = f"{_storage_folder(sim)}/Customer projects"
    entries = {(e.folder, e.name) for e in await prusa_files.list_files("prusa", refresh=True)}
    assert (folder, "Deep part.gcode") in entries
    status = await finished(
        prusa_files, await prusa_files.download("prusa", folder, "Deep part.gcode")
    )
    assert status.sha256 == hashlib.sha256(b"G28\n" * 5000).hexdigest()
    await prusa_files.delete_remote("prusa", folder, "Deep part.gcode")
    assert sim.main_storage.resolve("Customer projects/Deep part.gcode") is None


async def test_prusa_cut_download_is_retried(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    sim, _ = prusa
    fault = sim.main_storage.download_faults
    fault.drop_after, fault.drops = 512 * 1024, 1
    await prusa_files.list_files("prusa")
    status = await finished(
        prusa_files,
        await prusa_files.download("prusa", _storage_folder(sim), "Big print.gcode"),
    )
    assert status.state is DownloadState.COMPLETED
    assert status.attempts == 2
    assert fault.downloads == 2
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()


async def test_prusa_status_keeps_updating_during_a_slow_download(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    """A download takes minutes on a Buddy; the printer's state must not freeze meanwhile."""
    sim, adapter = prusa
    sim.main_storage.download_faults.rate = 256 * 1024  # 12 s for the file
    await prusa_files.list_files("prusa")
    download_id = await prusa_files.download("prusa", _storage_folder(sim), "Big print.gcode")
    await running(prusa_files, download_id)
    sim.target_nozzle = 215.0  # someone preheats at the printer
    await wait_for(adapter, lambda state: state.nozzle.target == 215.0, timeout=5)
    status = prusa_files.download_status(download_id)
    assert status.state is DownloadState.RUNNING
    assert 0 < status.bytes_done < len(BIG)
    await prusa_files.cancel(download_id)


async def test_prusa_one_transfer_at_a_time_beside_polling(
    prusa: tuple[PrusaSimulator, PrusaAdapter],
) -> None:
    """Two transfers asked of one printer at once: the second starts when the first ends."""
    sim, adapter = prusa
    fault = sim.main_storage.download_faults
    fault.rate = 256 * 1024
    files = {f.name: f for f in await adapter.files.list_folder(_storage_folder(sim))}
    got: dict[str, list[bytes]] = {"big": [], "cube": []}
    first = asyncio.create_task(
        adapter.files.fetch_file(files["Big print.gcode"], got["big"].append)
    )
    try:
        await wait_until(lambda: bool(got["big"]))
        second = asyncio.create_task(
            adapter.files.fetch_file(files["Calibration cube.gcode"], got["cube"].append)
        )
        polls = len(sim.requests)
        await wait_until(lambda: len(sim.requests) > polls + 3)  # polling goes on
        assert fault.downloads == 1  # the second transfer waits
        assert not second.done()
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    fault.rate = None
    async with asyncio.timeout(10):
        await second
    assert fault.downloads == 2
    cube = sim.main_storage.resolve("Calibration cube.gcode")
    assert isinstance(cube, VirtualFile)
    assert b"".join(got["cube"]) == cube.data


async def test_prusa_transfers_and_polls_each_renew_a_stale_nonce(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    """Transfers keep digest state apart from the polls; both get past expired nonces."""
    sim, adapter = prusa
    folder = _storage_folder(sim)
    await prusa_files.list_files("prusa")
    first = await finished(
        prusa_files, await prusa_files.download("prusa", folder, "Calibration cube.gcode")
    )
    assert first.state is DownloadState.COMPLETED
    sim.expire_nonces()
    since = len(sim.requests)
    status = await finished(
        prusa_files, await prusa_files.download("prusa", folder, "Big print.gcode")
    )
    assert status.state is DownloadState.COMPLETED
    assert status.sha256 == hashlib.sha256(BIG).hexdigest()
    await wait_until(
        lambda: any(r.path == "/api/v1/status" and r.status == 200 for r in sim.requests[since:])
    )
    downloads = [
        r for r in sim.requests[since:] if "BIG" in r.path.upper() and "thumb" not in r.path
    ]
    # One refusal of the stale nonce at most, then the transfer itself.
    assert [r.status for r in downloads][-1] == 200
    assert len(downloads) <= 2
    assert adapter.state.online


async def test_prusa_cancel_and_vanished_file(
    tmp_path: Path, prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    sim, adapter = prusa
    folder = _storage_folder(sim)
    sim.main_storage.download_faults.rate = 256 * 1024
    await prusa_files.list_files("prusa")
    download_id = await prusa_files.download("prusa", folder, "Big print.gcode")
    await running(prusa_files, download_id)
    status = await prusa_files.cancel(download_id)
    assert status.state is DownloadState.CANCELLED
    assert partials(tmp_path / "files") == []
    # polling goes on after the cancelled stream released the printer
    before = len(sim.requests)
    await wait_until(lambda: len(sim.requests) > before + 2)
    sim.main_storage.remove("Calibration cube.gcode")
    status = await finished(
        prusa_files, await prusa_files.download("prusa", folder, "Calibration cube.gcode")
    )
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.NOT_FOUND
    assert adapter.state.online


async def test_prusa_never_deletes_the_file_being_printed(
    prusa: tuple[PrusaSimulator, PrusaAdapter], prusa_files: FileManager
) -> None:
    sim, adapter = prusa
    _storage_folder(sim)
    await prusa_files.list_files("prusa")
    sim.start_print("Benchy.bgcode", minutes=60)
    await wait_for(adapter, lambda state: state.status is PrinterStatus.PRINTING)
    await wait_for(adapter, lambda state: state.job.name is not None)
    candidates = await prusa_files.cleanup_candidates(0, include_printer=True)
    names = {c.name for c in candidates if c.on_printer}
    assert "Benchy.bgcode" not in names
    assert "No preview.gcode" in names
    result = await prusa_files.cleanup(
        [c for c in candidates if c.name == "No preview.gcode"], dry_run=False, on_printer=True
    )
    assert [c.name for c in result.deleted] == ["No preview.gcode"]
    assert sim.main_storage.resolve("No preview.gcode") is None
    assert sim.main_storage.resolve("Benchy.bgcode") is not None
