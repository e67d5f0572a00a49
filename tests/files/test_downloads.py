"""The download sink: pieces written and hashed by its own thread, limits checked at once."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path
import threading

import pytest

from custom_components.printernizer.files import downloads
from custom_components.printernizer.files.downloads import PIECE_BYTES, PartWriter, StopDownload
from custom_components.printernizer.files.model import FailureReason

BIG_DISK = 1 << 40


def writer(tmp_path: Path, *, max_bytes: int = 1 << 30, free: int = BIG_DISK) -> PartWriter:
    part = tmp_path / ".file.part"
    part.touch()
    return PartWriter(part, max_bytes=max_bytes, min_free_bytes=0, free_space=lambda _: free)


def writing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("printernizer-write")]


@pytest.mark.parametrize(
    "sizes",
    [
        [16384] * 200,  # TLS records
        [PIECE_BYTES, PIECE_BYTES + 7, 3],  # whole pieces handed over without a copy
        [1, PIECE_BYTES - 1, PIECE_BYTES * 2, 5, 0],
        [],
    ],
    ids=["records", "pieces", "mixed", "empty"],
)
def test_every_byte_lands_in_order_with_its_checksum(tmp_path: Path, sizes: list[int]) -> None:
    data = os.urandom(sum(sizes))
    sink = writer(tmp_path)
    sink.restart()
    position = 0
    for size in sizes:
        sink(data[position : position + size])
        position += size
    assert sink.bytes_done == len(data)
    dest = tmp_path / "file.bin"
    assert sink.finish(dest) == hashlib.sha256(data).hexdigest()
    assert dest.read_bytes() == data
    assert not sink.part.exists()
    assert writing_threads() == []


def test_a_restart_starts_over_with_a_fresh_checksum(tmp_path: Path) -> None:
    sink = writer(tmp_path)
    sink.restart()
    sink(os.urandom(PIECE_BYTES * 3 + 100))  # handed over and partly still buffered
    sink.restart()
    assert sink.bytes_done == 0
    sink(b"second try")
    dest = tmp_path / "file.bin"
    assert sink.finish(dest) == hashlib.sha256(b"second try").hexdigest()
    assert dest.read_bytes() == b"second try"


def test_limits_stop_the_transfer_at_the_chunk_that_breaks_them(tmp_path: Path) -> None:
    sink = writer(tmp_path, max_bytes=PIECE_BYTES)
    sink.restart()
    sink(b"x" * PIECE_BYTES)
    with pytest.raises(StopDownload) as stopped:
        sink(b"y")
    assert stopped.value.reason is FailureReason.TOO_LARGE
    sink.discard()
    assert not sink.part.exists()
    full = writer(tmp_path, free=10)
    full.restart()
    with pytest.raises(StopDownload) as stopped:
        full(b"z")
    assert stopped.value.reason is FailureReason.DISK_FULL
    full.discard()
    assert writing_threads() == []


def test_cancel_refuses_the_next_chunk_and_discard_leaves_nothing(tmp_path: Path) -> None:
    sink = writer(tmp_path)
    sink.restart()
    sink(b"a" * (PIECE_BYTES * 2))
    sink.cancel()
    with pytest.raises(StopDownload) as stopped:
        sink(b"b")
    assert stopped.value.reason is None
    sink.discard()
    sink.discard()  # idempotent
    assert not sink.part.exists()
    assert writing_threads() == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [(errno.ENOSPC, FailureReason.DISK_FULL), (errno.EIO, FailureReason.LOCAL_ERROR)],
)
def test_a_write_failure_in_the_thread_fails_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, reason: FailureReason
) -> None:
    def failing(_fd: int, _data: memoryview) -> None:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(downloads, "_write_all", failing)
    sink = writer(tmp_path)
    sink.restart()
    sink(b"a" * PIECE_BYTES)  # accepted; the thread fails writing it
    dest = tmp_path / "file.bin"
    with pytest.raises(StopDownload) as stopped:
        sink.finish(dest)
    assert stopped.value.reason is reason
    assert not dest.exists()
    sink.discard()
    assert not sink.part.exists()
    assert writing_threads() == []


@pytest.mark.parametrize("chunk", [64 * 1024, PIECE_BYTES], ids=["pooled", "whole-pieces"])
def test_the_receiver_waits_for_a_slow_disk_instead_of_queueing_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Memory stays flat: with the disk stalled, at most a few pieces wait in memory."""
    stalled = threading.Event()
    release = threading.Event()
    real = downloads._write_all

    def slow(fd: int, data: memoryview) -> None:
        stalled.set()
        assert release.wait(10)
        real(fd, data)

    monkeypatch.setattr(downloads, "_write_all", slow)
    sink = writer(tmp_path)
    sink.restart()
    total = 64 * PIECE_BYTES
    accepted: list[int] = []

    def receive() -> None:
        for _ in range(total // chunk):
            sink(b"p" * chunk)
            accepted.append(chunk)

    receiver = threading.Thread(target=receive)
    receiver.start()
    try:
        assert stalled.wait(10)
        receiver.join(0.5)
        assert receiver.is_alive()  # waiting for the writer
        # the queued pieces, the one being written and the one being filled at most
        assert sum(accepted) <= (downloads.POOLED_PIECES + 2) * PIECE_BYTES
    finally:
        release.set()
        receiver.join(10)
    assert sum(accepted) == total
    digest = sink.finish(tmp_path / "file.bin")
    assert digest == hashlib.sha256(b"p" * total).hexdigest()


def test_a_restart_that_runs_after_the_discard_starts_nothing(tmp_path: Path) -> None:
    """A cancelled download's discard can overtake the restart it interrupted."""
    sink = writer(tmp_path)
    sink.discard()
    with pytest.raises(StopDownload) as stopped:
        sink.restart()
    assert stopped.value.reason is None
    assert not sink.part.exists()
    assert writing_threads() == []


def test_discard_waits_for_a_running_restart(tmp_path: Path) -> None:
    sink = writer(tmp_path)
    sink.restart()
    sink(b"x" * (PIECE_BYTES + 1))

    def restart() -> None:
        with contextlib.suppress(StopDownload):  # when the discard came first
            sink.restart()

    restarting = threading.Thread(target=restart)
    discarding = threading.Thread(target=sink.discard)
    restarting.start()
    discarding.start()
    restarting.join(10)
    discarding.join(10)
    assert not sink.part.exists()
    assert writing_threads() == []
