"""The HA side of the printers' files: one `FileManager` per HA, its events, sensors and timers.

Created in `async_setup` and stopped with HA; each loaded printer adds its file source and
takes it away on unload. The manager reports every download change to `_on_download`, which
keeps the per-printer activity the sensors show, fires the completed/failed events, and
re-reads the printer's local usage when a download ends. The fleet's `files` options set the
limits (applied live), the automatic timelapse fetch after a Bambu print, and how many days
local copies are kept (cleaned up daily).

A timelapse fetched for a job is linked to it in a Store of its own (job id -> local copy):
job records are the history's, and this link is a file fact. A job's response joins its files
in when it is asked for (`async_job_files`): the linked timelapse and a local copy of the job's
print file, both only while the copy is still on disk. Joining at read time keeps the history's
records and their Store untouched, and a link never outlives its file (cleanup, a user's delete).

An AVI timelapse (P1/A1) gets an MP4 made of it after its download, by HA's ffmpeg (the
`ffmpeg` integration's binary when it is set up, else `ffmpeg` on the path), so the media
browser can play it (`files.transcode`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_PRINTER_TYPE, DOMAIN, LOGGER, PRINTER_BAMBU, SIGNAL_FLEET_UPDATED
from .coordinator import PrinternizerConfigEntry
from .events import EVENT_JOB_FINISHED
from .file_settings import FileSettings, file_settings
from .file_view import LocalCopy, LocalFilesView, LocalThumbnailsView, PlayableFilesView
from .files.errors import FileManagerError
from .files.manager import FileManager
from .files.model import DownloadState, DownloadStatus, FileEntry, FileKind
from .files.transcode import Transcoder, needs_playable
from .jobs import JobRecord
from .printers.errors import AdapterError
from .settings import fleet_options

EVENT_FILE_DOWNLOAD_COMPLETED: Final = "printernizer_file_download_completed"
EVENT_FILE_DOWNLOAD_FAILED: Final = "printernizer_file_download_failed"
JOB_FILES_STORAGE_KEY: Final = "printernizer.job_files"
CLEANUP_INTERVAL: Final = timedelta(days=1)
# A Bambu printer writes the timelapse after the print ends: look again this often, this long.
TIMELAPSE_RETRY: Final = timedelta(seconds=30)
TIMELAPSE_ATTEMPTS: Final = 4
TIMELAPSE_FOLDER: Final = "/timelapse"
# The timelapse of a job is the newest one written from its start on (printer clocks drift).
_TIMELAPSE_SLACK: Final = timedelta(minutes=10)
# What the ffmpeg integration runs when not told otherwise (HA OS and containers ship it).
DEFAULT_FFMPEG: Final = "ffmpeg"


def files_root(hass: HomeAssistant) -> Path:
    """`<config>/printernizer/files`: local copies and nothing else live here."""
    return Path(hass.config.path(DOMAIN, "files"))


def activity_signal(serial: str) -> str:
    """Dispatcher signal: a printer's download activity or local usage changed."""
    return f"{DOMAIN}_files_{serial}"


@dataclass(slots=True)
class PrinterFileInfo:
    """What the glue knows of a loaded printer, for events and sensors."""

    serial: str
    name: str
    device_id: str | None
    brand: str
    download: DownloadStatus | None = None  # the running (or queued) download shown
    used_bytes: int | None = None


@dataclass(slots=True)
class PrinterFiles:
    """One HA's file manager and what HA shows of it."""

    hass: HomeAssistant
    manager: FileManager
    root: Path
    settings: FileSettings
    store: Store[dict[str, Any]]
    printers: dict[str, PrinterFileInfo] = field(default_factory=dict)
    # job id -> its linked local files ({"timelapse": {...}}); saved in the store.
    job_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    # download id -> the job a timelapse download was started for.
    download_jobs: dict[str, str] = field(default_factory=dict)
    transcoder: Transcoder | None = None
    _unsubscribe: list[CALLBACK_TYPE] = field(default_factory=list)

    async def async_start(self) -> None:
        """Load the job links, start the manager and follow downloads, options and jobs."""
        data = await self.store.async_load()
        if isinstance(data, dict) and isinstance(jobs := data.get("jobs"), dict):
            self.job_files = {
                str(key): value for key, value in jobs.items() if isinstance(value, dict)
            }
        await self.manager.start()
        hass = self.hass
        self._unsubscribe += [
            self.manager.add_listener(self._on_download),
            async_dispatcher_connect(hass, SIGNAL_FLEET_UPDATED, self._on_fleet_updated),
            hass.bus.async_listen(EVENT_JOB_FINISHED, self._on_job_finished),
            async_track_time_interval(
                hass,
                self._async_daily_cleanup,
                CLEANUP_INTERVAL,
                name="printernizer file cleanup",
                cancel_on_shutdown=True,
            ),
        ]

    async def async_stop(self, _event: Event | None = None) -> None:
        """Stop following and stop the manager (running downloads are cancelled)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if self.transcoder is not None:
            await self.transcoder.stop()
        await self.manager.stop()

    @callback
    def request_playable(self, path: Path) -> bool:
        """Have the MP4 of an AVI local copy made in the background (see `files.transcode`)."""
        if not needs_playable(path.name):
            return False
        if self.transcoder is None:
            # Looked up at first use: the ffmpeg integration may set up after this one.
            self.transcoder = Transcoder(ffmpeg_binary(self.hass), self.hass.async_add_executor_job)
        return self.transcoder.request(path)

    @callback
    def async_add_printer(self, entry: PrinternizerConfigEntry, device_id: str) -> CALLBACK_TYPE:
        """Make a loaded printer's files available; returns the undo for its unload."""
        coordinator = entry.runtime_data.coordinator
        serial = coordinator.adapter.device_info.serial
        self.printers[serial] = PrinterFileInfo(
            serial=serial,
            name=entry.title,
            device_id=device_id,
            brand=entry.data[CONF_PRINTER_TYPE],
        )
        self.manager.add_printer(serial, coordinator.adapter.files)
        self.hass.async_create_task(self.async_update_usage(serial), "printernizer file usage")

        @callback
        def remove() -> None:
            self.printers.pop(serial, None)
            self.hass.async_create_task(
                self.manager.remove_printer(serial), "printernizer remove printer files"
            )

        return remove

    async def async_update_usage(self, serial: str) -> None:
        """Re-read the bytes a printer's local copies take; the storage sensor shows them."""
        used = await self.manager.usage(serial)
        if (info := self.printers.get(serial)) is not None and info.used_bytes != used:
            info.used_bytes = used
            self._changed(serial)

    @callback
    def _changed(self, serial: str) -> None:
        async_dispatcher_send(self.hass, activity_signal(serial), serial)

    @callback
    def _on_download(self, status: DownloadStatus) -> None:
        info = self.printers.get(status.serial)
        if info is not None:
            info.download = self._shown_download(status.serial)
            self._changed(status.serial)
        if status.state is DownloadState.COMPLETED:
            self._completed(status, info)
        elif status.state is DownloadState.FAILED:
            self._fire(EVENT_FILE_DOWNLOAD_FAILED, status, info)
        if status.state.finished:
            self.download_jobs.pop(status.id, None)
            if info is not None:
                self.hass.async_create_task(
                    self.async_update_usage(status.serial), "printernizer file usage"
                )

    async def async_cover(self, copy: LocalCopy) -> bytes | None:
        """The printer's cover of a local copy (a timelapse's JPEG), None without one.

        Asked of the printer each time (it is small, and the browser caches it); a printer that
        is offline, not loaded or without a cover has none.
        """
        try:
            entries = await self.manager.local_entries(copy.serial)
            entry = next((item for item in entries if item.local_path == copy.path), None)
            if entry is None or not entry.has_thumbnail or copy.serial not in self.printers:
                return None
            return await self.manager.thumbnail(copy.serial, entry.folder, entry.name)
        except (AdapterError, FileManagerError) as err:
            LOGGER.debug("No cover for %s: %s", copy.name, err)
            return None

    def _shown_download(self, serial: str) -> DownloadStatus | None:
        """The printer's download the activity sensor shows: the running one, else a queued."""
        active = [status for status in self.manager.downloads(serial) if not status.state.finished]
        running = [status for status in active if status.state is DownloadState.RUNNING]
        return next(iter(running or active), None)

    def _completed(self, status: DownloadStatus, info: PrinterFileInfo | None) -> None:
        if status.local_path is not None:
            self.request_playable(status.local_path)
        job_id = self.download_jobs.get(status.id)
        if job_id is not None and status.local_path is not None:
            self.job_files.setdefault(job_id, {})["timelapse"] = self.link(status)
            self.store.async_delay_save(lambda: {"jobs": self.job_files}, 1)
        self._fire(EVENT_FILE_DOWNLOAD_COMPLETED, status, info, job_id=job_id)

    def link(self, status: DownloadStatus) -> dict[str, Any]:
        """A completed download as a job's link to its local copy."""
        return {
            "serial": status.serial,
            "folder": status.folder,
            "name": status.name,
            "path": None if status.local_path is None else str(status.local_path),
            "media_content_id": self.media_content_id(status.local_path),
            "sha256": status.sha256,
        }

    def media_content_id(self, path: Path | None) -> str | None:
        """The media browser's id of a local copy inside the files root."""
        if path is None:
            return None
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return None
        return f"media-source://{DOMAIN}/{relative.as_posix()}"

    async def async_job_files(
        self, records: Iterable[JobRecord]
    ) -> dict[str, list[dict[str, Any]]]:
        """Each job's local copies (job id -> files), read once per printer.

        A job's files are its linked timelapse and the local copy of its print file (matched by
        the printer and the job's file or job name); a copy no longer on disk is not shown. A
        printer whose folder cannot be read shows none (logged), the job is still answered.
        """
        jobs = list(records)
        local: dict[str, list[FileEntry]] = {}
        for serial in {record.serial for record in jobs}:
            try:
                local[serial] = await self.manager.local_entries(serial)
            except (FileManagerError, OSError) as err:
                LOGGER.warning("Local files of %s not readable: %s", serial, err)
                local[serial] = []
        return {record.id: self._files_of(record, local[record.serial]) for record in jobs}

    def _files_of(self, record: JobRecord, entries: list[FileEntry]) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = []
        link = self.job_files.get(record.id, {}).get("timelapse")
        if isinstance(link, dict) and link.get("serial") == record.serial:
            timelapse = next(
                (
                    entry
                    for entry in entries
                    if entry.kind is FileKind.TIMELAPSE
                    and (entry.folder, entry.name) == (link.get("folder"), link.get("name"))
                ),
                None,
            )
            if timelapse is not None:
                files.append(self._job_file(timelapse))
        names = _print_names(record)
        prints = [
            entry
            for entry in entries
            if entry.kind is FileKind.PRINT
            and (entry.name in names or f"{entry.folder.rstrip('/')}/{entry.name}" == record.file)
        ]
        if prints:  # the newest copy (entries come newest first)
            files.append(self._job_file(prints[0]))
        return files

    def _job_file(self, entry: FileEntry) -> dict[str, Any]:
        """A job's local copy as job actions return it."""
        path = None
        if entry.local_path is not None:
            try:
                path = entry.local_path.relative_to(self.root).as_posix()
            except ValueError:
                path = None
        return {
            "kind": entry.kind.value,
            "name": entry.name,
            "folder": entry.folder,
            "path": path,
            "media_content_id": self.media_content_id(entry.local_path),
            "size": entry.size,
            "sha256": entry.sha256,
        }

    def job_of(self, serial: str, folder: str, name: str) -> str | None:
        """The job a printer file was fetched for, if it was."""
        for job_id, links in self.job_files.items():
            link = links.get("timelapse")
            if (
                isinstance(link, dict)
                and link.get("serial") == serial
                and link.get("folder") == folder
                and link.get("name") == name
            ):
                return job_id
        return None

    def _fire(
        self,
        event_type: str,
        status: DownloadStatus,
        info: PrinterFileInfo | None,
        *,
        job_id: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "device_id": None if info is None else info.device_id,
            "serial": status.serial,
            "printer_name": None if info is None else info.name,
            **download_response(self, status),
        }
        if job_id is not None:
            data["job_id"] = job_id
        self.hass.bus.async_fire(event_type, data)

    @callback
    def _on_fleet_updated(self) -> None:
        self.settings = file_settings(fleet_options(self.hass))
        self.manager.update_limits(self.settings.limits)

    async def _async_daily_cleanup(self, _now: datetime | None = None) -> None:
        """Remove local copies older than the kept days (none when 0: kept until asked)."""
        if not (days := self.settings.keep_days):
            return
        candidates = await self.manager.cleanup_candidates(days, duplicates=False, failed=False)
        if candidates:
            result = await self.manager.cleanup(candidates, dry_run=False)
            LOGGER.info("Removed %s local files older than %s days", len(result.deleted), days)
            for serial in {candidate.serial for candidate in result.deleted}:
                await self.async_update_usage(serial)

    @callback
    def _on_job_finished(self, event: Event) -> None:
        """A print ended: its printer's listing is stale; fetch the timelapse if asked to."""
        serial, job_id = event.data.get("serial"), event.data.get("job_id")
        info = self.printers.get(serial) if isinstance(serial, str) else None
        if info is None:
            return
        self.manager.invalidate(info.serial)
        if (
            info.brand != PRINTER_BAMBU
            or not self.settings.auto_timelapse
            or not isinstance(job_id, str)
        ):
            return
        started = dt_util.parse_datetime(str(event.data.get("started_at") or ""))
        self.hass.async_create_task(
            self._async_fetch_timelapse(info.serial, job_id, started, TIMELAPSE_ATTEMPTS),
            "printernizer timelapse",
        )

    async def _async_fetch_timelapse(
        self, serial: str, job_id: str, started: datetime | None, attempts: int
    ) -> None:
        """Download the job's timelapse once the printer lists it; look again a few times."""
        if serial not in self.printers:
            return
        try:
            entries = await self.manager.list_files(serial, refresh=True)
        except (AdapterError, FileManagerError) as err:  # retried below
            LOGGER.debug("Timelapse listing of %s failed: %s", serial, err)
            entries = []
        since = None if started is None else dt_util.as_utc(started) - _TIMELAPSE_SLACK
        timelapses = [
            entry
            for entry in entries
            if entry.kind is FileKind.TIMELAPSE
            and entry.folder.rstrip("/").startswith(TIMELAPSE_FOLDER)
            and (since is None or entry.modified is None or _utc(entry.modified) >= since)
        ]
        if timelapses:
            newest = max(timelapses, key=lambda entry: entry.modified or datetime.min)
            if newest.download_id is None and newest.local_path is None:
                try:
                    download_id = await self.manager.download(serial, newest.folder, newest.name)
                except FileManagerError as err:  # too large, no room: nothing to retry
                    LOGGER.warning("Timelapse %s not fetched: %s", newest.name, err)
                    return
                self.download_jobs[download_id] = job_id
            return
        if attempts > 1:

            async def again(_now: datetime) -> None:
                await self._async_fetch_timelapse(serial, job_id, started, attempts - 1)

            self._unsubscribe.append(async_call_later(self.hass, TIMELAPSE_RETRY, again))


def _print_names(record: JobRecord) -> set[str]:
    """The names a job's print file goes by on the printer.

    The file's last part (a Bambu reports a path inside the 3MF, `/data/Metadata/plate_1.gcode`,
    so its job name with the slicer's suffixes counts too: `Benchy.gcode.3mf`).
    """
    names = set()
    if record.file:
        names.add(PurePosixPath(record.file).name)
    if record.job_name:
        name = record.job_name
        names |= {name, f"{name}.3mf", f"{name}.gcode.3mf", f"{name}.gcode", f"{name}.bgcode"}
    return names


def _utc(value: datetime) -> datetime:
    """A printer's time as UTC; a naive one (Bambu's clock) is taken as HA's local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(value)


def download_response(files: PrinterFiles, status: DownloadStatus) -> dict[str, Any]:
    """A download as actions and events give it."""
    return {
        "download_id": status.id,
        "folder": status.folder,
        "name": status.name,
        "state": status.state.value,
        "bytes_done": status.bytes_done,
        "bytes_total": status.bytes_total,
        "progress": None if status.progress is None else round(status.progress, 1),
        "attempts": status.attempts,
        "local_path": None if status.local_path is None else str(status.local_path),
        "media_content_id": files.media_content_id(status.local_path),
        "sha256": status.sha256,
        "error": status.error,
    }


DATA_FILES: HassKey[PrinterFiles] = HassKey(f"{DOMAIN}_files")


async def async_setup_files(hass: HomeAssistant) -> PrinterFiles:
    """Create and start the HA's file manager, its views, and stop it with HA."""
    root = files_root(hass)
    settings = file_settings(fleet_options(hass))
    files = PrinterFiles(
        hass=hass,
        manager=FileManager(root, settings.limits, executor=hass.async_add_executor_job),
        root=root,
        settings=settings,
        store=Store(hass, 1, JOB_FILES_STORAGE_KEY),
    )
    await files.async_start()
    hass.data[DATA_FILES] = files
    hass.http.register_view(LocalFilesView(root))
    hass.http.register_view(LocalThumbnailsView(root, files.async_cover))
    hass.http.register_view(PlayableFilesView(root))
    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, files.async_stop)
    return files


def ffmpeg_binary(hass: HomeAssistant) -> str:
    """HA's ffmpeg: the `ffmpeg` integration's binary when it is set up, else the default."""
    if "ffmpeg" in hass.config.components:
        from homeassistant.components.ffmpeg import get_ffmpeg_manager

        return get_ffmpeg_manager(hass).binary
    return DEFAULT_FFMPEG


def printer_files(hass: HomeAssistant) -> PrinterFiles:
    """The HA's file manager glue (set up in `async_setup`)."""
    return hass.data[DATA_FILES]
