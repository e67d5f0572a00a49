"""The file manager's rules, against an in-memory source (the transports have their own tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.printernizer.files import local, manager as manager_module
from custom_components.printernizer.files.errors import (
    FileInUseError,
    FileTooLargeError,
    NotEnoughSpaceError,
    UnknownDownloadError,
    UnknownFileError,
    UnknownPrinterError,
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

from .fakes import FakeSource

SERIAL = "01P00A000000001"
NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)
FAST = FileLimits(
    max_file_bytes=10 * 1024 * 1024,
    min_free_bytes=1024,
    retries=2,
    retry_delay=0.01,
    retry_delay_cap=0.02,
)
BIG_DISK = 1 << 40


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(
        files={
            "/cache": {"Benchy.gcode.3mf": b"3mf" * 20000, "Cube.3mf": b"cube" * 100},
            "/timelapse": {"video_2026-12-01.mp4": b"mp4" * 3000},
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def manager(tmp_path: Path, source: FakeSource, clock: Clock) -> AsyncIterator[FileManager]:
    files = FileManager(tmp_path / "files", FAST, free_space=lambda _: BIG_DISK, clock=clock)
    files.add_printer(SERIAL, source)
    await files.start()
    yield files
    await files.stop()


async def finished(files: FileManager, download_id: str) -> DownloadStatus:
    """Wait (bounded) until the download has ended."""
    done = asyncio.Event()

    def seen(status: DownloadStatus) -> None:
        if status.id == download_id and status.state.finished:
            done.set()

    remove = files.add_listener(seen)
    try:
        if not files.download_status(download_id).state.finished:
            async with asyncio.timeout(10):
                await done.wait()
    finally:
        remove()
    return files.download_status(download_id)


def parts(root: Path) -> list[Path]:
    return list(root.rglob("*.part"))


async def test_listing_shows_printer_files_with_kind(manager: FileManager) -> None:
    entries = await manager.list_files(SERIAL)
    by_name = {entry.name: entry for entry in entries}
    assert set(by_name) == {"Benchy.gcode.3mf", "Cube.3mf", "video_2026-12-01.mp4"}
    assert by_name["Benchy.gcode.3mf"].kind is FileKind.PRINT
    assert by_name["video_2026-12-01.mp4"].kind is FileKind.TIMELAPSE
    assert {entry.status for entry in entries} == {FileStatus.ON_PRINTER}
    assert by_name["Cube.3mf"].size == 400


async def test_listing_is_cached_until_refreshed(manager: FileManager, source: FakeSource) -> None:
    await manager.list_files(SERIAL)
    await manager.list_files(SERIAL)
    assert source.listings == {"/cache": 1, "/timelapse": 1}
    source.files["/cache"]["New.3mf"] = b"new"
    assert "New.3mf" not in {e.name for e in await manager.list_files(SERIAL)}
    assert "New.3mf" in {e.name for e in await manager.list_files(SERIAL, refresh=True)}
    manager.invalidate(SERIAL)
    await manager.list_files(SERIAL)
    assert source.listings == {"/cache": 3, "/timelapse": 3}


async def test_download_lands_in_the_month_folder_with_its_checksum(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    await manager.list_files(SERIAL)
    updates: list[DownloadStatus] = []
    manager.add_listener(updates.append)
    download_id = await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    status = await finished(manager, download_id)
    data = source.files["/cache"]["Benchy.gcode.3mf"]
    assert status.state is DownloadState.COMPLETED
    assert status.sha256 == hashlib.sha256(data).hexdigest()
    assert status.local_path == tmp_path / "files" / SERIAL / "2026-12" / "Benchy.gcode.3mf"
    assert status.local_path.read_bytes() == data
    assert status.progress == 100.0
    assert next(u.state for u in updates) is DownloadState.QUEUED
    assert updates[-1].state is DownloadState.COMPLETED
    entry = next(e for e in await manager.list_files(SERIAL) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.DOWNLOADED
    assert entry.sha256 == status.sha256
    assert entry.local_path == status.local_path
    assert parts(tmp_path) == []


async def test_the_index_survives_a_restart(
    manager: FileManager, source: FakeSource, tmp_path: Path, clock: Clock
) -> None:
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    await manager.stop()
    again = FileManager(tmp_path / "files", FAST, free_space=lambda _: BIG_DISK, clock=clock)
    again.add_printer(SERIAL, source)
    await again.start()
    entry = next(e for e in await again.list_files(SERIAL) if e.name == "Cube.3mf")
    assert entry.status is FileStatus.DOWNLOADED
    assert entry.sha256 == status.sha256
    await again.stop()


@pytest.mark.parametrize(
    ("resumable", "offsets"), [(True, [0, 8192]), (False, [0, 8192, 0])], ids=["resume", "restart"]
)
async def test_an_interrupted_transfer_resumes_or_starts_again(
    manager: FileManager,
    source: FakeSource,
    tmp_path: Path,
    resumable: bool,
    offsets: list[int],
) -> None:
    source.fail_after, source.failures, source.resumable = 8192, 1, resumable
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    data = source.files["/cache"]["Benchy.gcode.3mf"]
    assert status.state is DownloadState.COMPLETED
    assert status.attempts == 2
    assert source.offsets == offsets
    assert status.sha256 == hashlib.sha256(data).hexdigest()
    assert status.local_path is not None
    assert status.local_path.read_bytes() == data
    assert parts(tmp_path) == []


async def test_a_download_that_keeps_failing_ends_failed_with_a_reason(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    source.fail_after, source.failures = 4096, 99
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.PRINTER_UNAVAILABLE
    assert source.fetches == FAST.retries + 1
    entry = next(e for e in await manager.list_files(SERIAL) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.FAILED
    assert entry.reason == "printer_unavailable"
    assert parts(tmp_path) == []
    assert not list((tmp_path / "files" / SERIAL).rglob("Benchy*"))


async def test_cancel_ends_the_transfer_and_leaves_nothing(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    source.gate = asyncio.Event()
    await manager.list_files(SERIAL)
    download_id = await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    async with asyncio.timeout(5):
        await source.started.wait()
    entry = next(e for e in await manager.list_files(SERIAL) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.DOWNLOADING
    assert entry.download_id == download_id
    status = await manager.cancel(download_id)
    assert status.state is DownloadState.CANCELLED
    assert parts(tmp_path) == []
    entry = next(e for e in await manager.list_files(SERIAL) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.ON_PRINTER
    assert (await manager.cancel(download_id)).state is DownloadState.CANCELLED
    with pytest.raises(UnknownDownloadError):
        await manager.cancel("nope")


async def test_cancel_before_the_download_started_ends_it_cancelled(
    manager: FileManager, source: FakeSource
) -> None:
    """Cancelled before its task ever ran, the download must not stay queued forever."""
    await manager.list_files(SERIAL)
    seen: list[DownloadStatus] = []
    manager.add_listener(seen.append)
    download_id = await manager.download(SERIAL, "/cache", "Cube.3mf")
    async with asyncio.timeout(5):
        status = await manager.cancel(download_id)
    assert status.state is DownloadState.CANCELLED
    assert manager.download_status(download_id).state is DownloadState.CANCELLED
    assert [s.state for s in seen if s.id == download_id] == [
        DownloadState.QUEUED,
        DownloadState.CANCELLED,
    ]
    assert source.fetches == 0  # the printer was never asked
    entry = next(e for e in await manager.list_files(SERIAL) if e.name == "Cube.3mf")
    assert entry.status is FileStatus.ON_PRINTER
    # Asking again starts a new download instead of returning the dead one.
    again = await manager.download(SERIAL, "/cache", "Cube.3mf")
    assert again != download_id
    assert (await finished(manager, again)).state is DownloadState.COMPLETED


async def test_stop_ends_queued_downloads_cancelled(
    manager: FileManager, source: FakeSource
) -> None:
    source.gate = asyncio.Event()
    await manager.list_files(SERIAL)
    running = await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    async with asyncio.timeout(5):
        await source.started.wait()
    queued = await manager.download(SERIAL, "/cache", "Cube.3mf")
    await manager.stop()
    assert manager.download_status(running).state is DownloadState.CANCELLED
    assert manager.download_status(queued).state is DownloadState.CANCELLED


async def test_one_transfer_per_printer_at_a_time(manager: FileManager, source: FakeSource) -> None:
    source.gate = asyncio.Event()
    await manager.list_files(SERIAL)
    first = await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    second = await manager.download(SERIAL, "/cache", "Cube.3mf")
    assert await manager.download(SERIAL, "/cache", "Cube.3mf") == second  # no duplicate
    async with asyncio.timeout(5):
        await source.started.wait()
    assert manager.download_status(first).state is DownloadState.RUNNING
    assert manager.download_status(second).state is DownloadState.QUEUED
    source.gate.set()
    assert (await finished(manager, second)).state is DownloadState.COMPLETED
    assert (await finished(manager, first)).state is DownloadState.COMPLETED


async def test_a_file_over_the_size_limit_is_refused_up_front(
    manager: FileManager, source: FakeSource
) -> None:
    source.sizes["Benchy.gcode.3mf"] = FAST.max_file_bytes + 1
    await manager.list_files(SERIAL)
    with pytest.raises(FileTooLargeError) as caught:
        await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    assert caught.value.code == "file_too_large"
    assert source.fetches == 0


async def test_a_file_that_grows_past_the_limit_is_stopped(
    tmp_path: Path, source: FakeSource, clock: Clock
) -> None:
    source.sizes["Benchy.gcode.3mf"] = None  # the printer does not say
    limits = FileLimits(max_file_bytes=10_000, min_free_bytes=0, retries=0)
    files = FileManager(tmp_path / "f", limits, free_space=lambda _: BIG_DISK, clock=clock)
    files.add_printer(SERIAL, source)
    await files.start()
    await files.list_files(SERIAL)
    status = await finished(files, await files.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.TOO_LARGE
    assert parts(tmp_path) == []
    assert not list((tmp_path / "f").rglob("Benchy*"))
    await files.stop()


async def test_a_full_disk_refuses_the_download(
    tmp_path: Path, source: FakeSource, clock: Clock
) -> None:
    files = FileManager(tmp_path / "f", FAST, free_space=lambda _: 5000, clock=clock)
    files.add_printer(SERIAL, source)
    await files.start()
    await files.list_files(SERIAL)
    with pytest.raises(NotEnoughSpaceError):
        await files.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    await files.stop()


async def test_a_disk_filling_up_during_the_download_fails_it(
    tmp_path: Path, source: FakeSource, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.printernizer.files.downloads.SPACE_CHECK_BYTES", 4096)
    disk = {"free": BIG_DISK}
    source.on_chunk = lambda offset: disk.update(free=100 if offset >= 8192 else BIG_DISK)
    files = FileManager(tmp_path / "f", FAST, free_space=lambda _: disk["free"], clock=clock)
    files.add_printer(SERIAL, source)
    await files.start()
    await files.list_files(SERIAL)
    status = await finished(files, await files.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    assert status.state is DownloadState.FAILED
    assert status.error == FailureReason.DISK_FULL
    assert source.fetches == 1  # a full disk is not retried
    assert parts(tmp_path) == []
    await files.stop()


async def test_a_copy_cut_short_by_a_power_cut_is_dropped_at_start(
    manager: FileManager, source: FakeSource, tmp_path: Path, clock: Clock
) -> None:
    """Downloads do not fsync: a copy shorter than its record is not offered as complete."""
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    kept = await finished(manager, await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    await manager.stop()
    assert status.local_path is not None
    status.local_path.write_bytes(b"")  # what delayed allocation can leave after a power cut
    again = FileManager(tmp_path / "files", FAST, free_space=lambda _: BIG_DISK, clock=clock)
    again.add_printer(SERIAL, source)
    await again.start()
    entries = {e.name: e for e in await again.list_files(SERIAL)}
    assert entries["Cube.3mf"].status is FileStatus.FAILED
    assert entries["Cube.3mf"].reason == "interrupted"
    assert not status.local_path.exists()
    assert entries["Benchy.gcode.3mf"].status is FileStatus.DOWNLOADED
    assert entries["Benchy.gcode.3mf"].sha256 == kept.sha256
    again_id = await again.download(SERIAL, "/cache", "Cube.3mf")
    assert (await finished(again, again_id)).state is DownloadState.COMPLETED
    await again.stop()


async def test_restart_removes_a_partial_file_and_marks_it_failed(
    tmp_path: Path, source: FakeSource, clock: Clock
) -> None:
    directory = tmp_path / "files" / SERIAL / "2026-12"
    directory.mkdir(parents=True)
    part = directory / ".Benchy.gcode.3mf.x1y2.part"
    part.write_bytes(b"half a file")
    stray = directory / ".other.part"
    stray.write_bytes(b"nobody knows me")
    local.save_index(
        directory.parent,
        {
            ("/cache", "Benchy.gcode.3mf"): local.LocalRecord(
                folder="/cache",
                name="Benchy.gcode.3mf",
                relpath="2026-12/Benchy.gcode.3mf",
                state="partial",
                part=part.name,
            )
        },
    )
    files = FileManager(tmp_path / "files", FAST, free_space=lambda _: BIG_DISK, clock=clock)
    files.add_printer(SERIAL, source)
    await files.start()
    assert not part.exists()
    assert not stray.exists()
    entry = next(e for e in await files.list_files(SERIAL) if e.name == "Benchy.gcode.3mf")
    assert entry.status is FileStatus.FAILED
    assert entry.reason == "interrupted"
    index = json.loads((directory.parent / ".index.json").read_text())
    assert index["files"][0]["state"] == "failed"
    # and a new download of it works
    status = await finished(files, await files.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    assert status.state is DownloadState.COMPLETED
    await files.stop()


async def test_stop_cancels_running_downloads(manager: FileManager, source: FakeSource) -> None:
    source.gate = asyncio.Event()
    await manager.list_files(SERIAL)
    download_id = await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf")
    async with asyncio.timeout(5):
        await source.started.wait()
    await manager.stop()
    assert manager.download_status(download_id).state is DownloadState.CANCELLED


async def test_a_busy_folder_is_backed_off_not_hammered(
    manager: FileManager, source: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(manager_module.time, "monotonic", lambda: now[0])
    await manager.list_files(SERIAL)
    source.busy.add("/cache")
    for _ in range(10):
        entries = await manager.list_files(SERIAL, refresh=True)
    assert source.listings["/cache"] == 2  # the first listing, then one busy answer
    # the last good listing is kept meanwhile
    assert "Benchy.gcode.3mf" in {e.name for e in entries}
    now[0] += FAST.listing_backoff + 1
    await manager.list_files(SERIAL, refresh=True)
    assert source.listings["/cache"] == 3
    now[0] += FAST.listing_backoff + 1  # the delay doubled: not yet
    await manager.list_files(SERIAL, refresh=True)
    assert source.listings["/cache"] == 3
    source.busy.clear()
    now[0] += 2 * FAST.listing_backoff
    await manager.list_files(SERIAL, refresh=True)
    assert source.listings["/cache"] == 4


async def test_unknown_printer_and_file(manager: FileManager, source: FakeSource) -> None:
    with pytest.raises(UnknownPrinterError):
        await manager.list_files("nobody")
    with pytest.raises(UnknownFileError):
        await manager.download(SERIAL, "/cache", "../../etc/passwd")


async def test_hostile_remote_names_stay_in_the_folder(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    hostile = ["../../escape.3mf", "/etc/cron.d/x.3mf", "..", "CON", "a\u202egpj.3mf"]
    source.files["/cache"] = {name: name.encode() * 10 for name in hostile}
    await manager.list_files(SERIAL, refresh=True)
    for name in hostile:
        status = await finished(manager, await manager.download(SERIAL, "/cache", name))
        assert status.state is DownloadState.COMPLETED, name
        assert status.local_path is not None
        assert status.local_path.parent == tmp_path / "files" / SERIAL / "2026-12"
        assert status.local_path.read_bytes() == name.encode() * 10
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "files")]
    assert outside == []


async def test_same_name_in_two_folders_gets_two_local_files(
    manager: FileManager, source: FakeSource
) -> None:
    source.files["/"] = {"Cube.3mf": b"root cube"}
    await manager.list_files(SERIAL, refresh=True)
    one = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    two = await finished(manager, await manager.download(SERIAL, "/", "Cube.3mf"))
    assert one.local_path != two.local_path
    assert two.local_path is not None
    assert two.local_path.name == "Cube (2).3mf"
    assert two.local_path.read_bytes() == b"root cube"


async def test_cleanup_dry_run_then_real(
    manager: FileManager, source: FakeSource, clock: Clock, tmp_path: Path
) -> None:
    source.files["/"] = {"Copy.3mf": source.files["/cache"]["Cube.3mf"]}
    await manager.list_files(SERIAL, refresh=True)
    old = await finished(manager, await manager.download(SERIAL, "/cache", "Benchy.gcode.3mf"))
    clock.now = NOW + dt.timedelta(days=40)
    first = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    dup = await finished(manager, await manager.download(SERIAL, "/", "Copy.3mf"))
    leftover = tmp_path / "files" / SERIAL / "2027-01" / ".gone.part"
    leftover.write_bytes(b"x")
    candidates = await manager.cleanup_candidates(older_than_days=30)
    why = {c.name: c.why for c in candidates}
    assert why == {"Benchy.gcode.3mf": "old", "Copy.3mf": "duplicate", ".gone.part": "partial"}
    assert first.local_path is not None

    dry = await manager.cleanup(candidates)
    assert dry.dry_run
    assert len(dry.deleted) == 3
    assert old.local_path is not None
    assert old.local_path.exists()
    assert dup.local_path is not None
    assert dup.local_path.exists()
    assert leftover.exists()

    real = await manager.cleanup(candidates, dry_run=False)
    assert real.freed_bytes == dry.freed_bytes > 0
    assert not old.local_path.exists()
    assert not dup.local_path.exists()
    assert not leftover.exists()
    assert first.local_path.exists()
    statuses = {e.folder + e.name: e.status for e in await manager.list_files(SERIAL)}
    assert statuses["/cacheBenchy.gcode.3mf"] is FileStatus.ON_PRINTER
    assert statuses["/cacheCube.3mf"] is FileStatus.DOWNLOADED
    assert source.deleted == []  # nothing on the printer


async def test_cleanup_refuses_paths_outside_the_folder(
    manager: FileManager, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    candidates = await manager.cleanup_candidates(older_than_days=0)
    forged = [
        manager_module.CleanupCandidate(
            serial=SERIAL, folder="", name="victim", size=4, why="old", local_path=victim
        )
    ]
    result = await manager.cleanup([*candidates, *forged], dry_run=False)
    assert victim.read_text() == "keep"
    assert result.skipped[-1][1] == "outside_folder"


async def test_printer_files_are_deleted_only_when_asked_and_never_while_printed(
    manager: FileManager, source: FakeSource, clock: Clock
) -> None:
    await manager.list_files(SERIAL)
    clock.now = NOW + dt.timedelta(days=400)
    source.printing.add("Benchy.gcode.3mf")
    candidates = await manager.cleanup_candidates(older_than_days=30, include_printer=True)
    names = {c.name for c in candidates if c.on_printer}
    assert names == {"Cube.3mf", "video_2026-12-01.mp4"}  # not the one being printed
    result = await manager.cleanup(candidates, dry_run=False)
    assert source.deleted == []
    assert {r for _, r in result.skipped} == {"printer_not_allowed"}
    result = await manager.cleanup(candidates, dry_run=False, on_printer=True)
    assert sorted(source.deleted) == ["Cube.3mf", "video_2026-12-01.mp4"]
    with pytest.raises(FileInUseError):
        await manager.delete_remote(SERIAL, "/cache", "Benchy.gcode.3mf")
    assert "Benchy.gcode.3mf" in source.files["/cache"]


async def test_local_only_after_the_printer_forgot_the_file(
    manager: FileManager, source: FakeSource
) -> None:
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    del source.files["/cache"]["Cube.3mf"]
    entry = next(e for e in await manager.list_files(SERIAL, refresh=True) if e.name == "Cube.3mf")
    assert entry.status is FileStatus.LOCAL_ONLY
    assert entry.local_path == status.local_path
    assert await manager.usage(SERIAL) == 400
    assert [e.name for e in await manager.local_entries(SERIAL)] == ["Cube.3mf"]


async def test_a_download_never_overwrites_a_file_it_does_not_own(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    month = tmp_path / "files" / SERIAL / "2026-12"
    month.mkdir(parents=True, exist_ok=True)
    (month / "Cube.3mf").write_bytes(b"the user's own file")
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    assert status.local_path == month / "Cube (2).3mf"
    assert (month / "Cube.3mf").read_bytes() == b"the user's own file"
    again = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    assert again.local_path == status.local_path  # its own earlier copy is replaced


async def test_a_downloaded_file_keeps_the_printers_preview(
    manager: FileManager, source: FakeSource, tmp_path: Path
) -> None:
    source.thumbnails["video_2026-12-01.mp4"] = b"\xff\xd8cover"
    await manager.list_files(SERIAL)
    status = await finished(
        manager, await manager.download(SERIAL, "/timelapse", "video_2026-12-01.mp4")
    )
    assert status.local_path is not None
    assert await manager.local_thumbnail(status.local_path) == b"\xff\xd8cover"
    del source.files["/timelapse"]["video_2026-12-01.mp4"]
    source.thumbnails.clear()
    entry = next(e for e in await manager.list_files(SERIAL, refresh=True) if e.kind == "timelapse")
    assert entry.status is FileStatus.LOCAL_ONLY
    assert entry.has_thumbnail
    assert await manager.thumbnail(SERIAL, "/timelapse", entry.name) == b"\xff\xd8cover"
    # paths outside the download folder are never read
    outside = tmp_path / "a" / "b" / "c.mp4"
    assert await manager.local_thumbnail(outside) is None
    # cleanup takes the preview along
    candidates = await manager.cleanup_candidates(older_than_days=-1)
    await manager.cleanup(candidates, dry_run=False)
    assert list(status.local_path.parent.iterdir()) == []


async def test_local_copies_are_served_from_memory_not_read_per_call(
    manager: FileManager, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs ask for local copies on every call: the folder is read again only when stale."""
    scans: list[Path] = []
    real_scan = local.scan

    def counted(directory: Path) -> Any:
        scans.append(directory)
        return real_scan(directory)

    monkeypatch.setattr(local, "scan", counted)
    await manager.list_files(SERIAL)
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    scans.clear()
    for _ in range(3):
        (entry,) = await manager.local_entries(SERIAL)
        assert entry.local_path == status.local_path
    assert scans == []  # the download told the manager; nothing read
    clock.now += dt.timedelta(days=2)
    candidates = await manager.cleanup_candidates(1, serial=SERIAL)
    assert [c.local_path for c in candidates] == [status.local_path]
    scans.clear()
    await manager.cleanup(candidates, dry_run=False)
    assert await manager.local_entries(SERIAL) == []
    # A copy deleted by hand goes once the last scan is older than the TTL.
    status = await finished(manager, await manager.download(SERIAL, "/cache", "Cube.3mf"))
    assert status.local_path is not None
    status.local_path.unlink()
    assert len(await manager.local_entries(SERIAL)) == 1  # still the fresh scan's view
    monkeypatch.setattr(manager_module, "LOCAL_SCAN_TTL", 0.0)
    assert await manager.local_entries(SERIAL) == []
    assert scans
