"""A file source held in memory, for the manager's pure tests (the real ones are in
`tests/integration/test_files_transport.py`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import datetime as dt

from custom_components.printernizer.files.errors import (
    PrinterBusyError,
    RemoteMissingError,
    ResumeUnsupportedError,
)
from custom_components.printernizer.files.model import RemoteFile, kind_of
from custom_components.printernizer.printers.errors import PrinterOfflineError

CHUNK = 4096


@dataclass
class FakeSource:
    """Files per folder; knobs for the failures a printer shows."""

    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    sizes: dict[str, int | None] = field(default_factory=dict)  # listed size overrides
    busy: set[str] = field(default_factory=set)
    printing: set[str] = field(default_factory=set)
    fail_after: int | None = None  # bytes, then the connection drops
    failures: int = 0  # how many attempts fail that way
    gate: asyncio.Event | None = None  # a transfer waits here after its first chunk
    started: asyncio.Event = field(default_factory=asyncio.Event)
    listings: dict[str, int] = field(default_factory=dict)
    fetches: int = 0
    deleted: list[str] = field(default_factory=list)
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    resumable: bool = True
    offsets: list[int] = field(default_factory=list)
    on_chunk: Callable[[int], None] | None = None

    @property
    def file_folders(self) -> tuple[str, ...]:
        return tuple(self.files)

    async def list_folder(self, folder: str) -> list[RemoteFile]:
        self.listings[folder] = self.listings.get(folder, 0) + 1
        if folder in self.busy:
            raise PrinterBusyError("550 busy")
        return [
            RemoteFile(
                folder=folder,
                name=name,
                size=self.sizes.get(name, len(data)),
                modified=dt.datetime(2026, 11, 1, 12, 0),
                kind=kind_of(name),
                has_thumbnail=name in self.thumbnails,
                path=f"{folder}/{name}",
            )
            for name, data in self.files[folder].items()
        ]

    async def fetch_file(
        self, file: RemoteFile, sink: Callable[[bytes], None], *, offset: int = 0
    ) -> None:
        self.fetches += 1
        self.offsets.append(offset)
        if offset and not self.resumable:
            raise ResumeUnsupportedError("no resume")
        data = self.files.get(file.folder, {}).get(file.name)
        if data is None:
            raise RemoteMissingError(file.name)
        loop = asyncio.get_running_loop()
        failing = self.failures > 0 and self.fail_after is not None
        for position in range(offset, len(data), CHUNK):
            if failing and self.fail_after is not None and position >= self.fail_after:
                self.failures -= 1
                raise PrinterOfflineError("connection dropped")
            await loop.run_in_executor(None, sink, data[position : position + CHUNK])
            if self.on_chunk:
                self.on_chunk(position)
            if position == offset:
                self.started.set()
                if self.gate is not None:
                    await self.gate.wait()

    async def fetch_thumbnail(self, file: RemoteFile) -> bytes | None:
        return self.thumbnails.get(file.name)

    async def delete_file(self, file: RemoteFile) -> None:
        self.files[file.folder].pop(file.name)
        self.deleted.append(file.name)

    def in_use(self, file: RemoteFile) -> bool:
        return file.name in self.printing
