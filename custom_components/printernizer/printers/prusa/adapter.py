"""The PrusaLink adapter: adaptive polling, typed commands, job metadata from the file.

PrusaLink has no push channel, so the adapter polls, and gently: Buddy firmware serves HTTP from
the printer's own microcontroller, and HA core's integration (five endpoints every 30 s) is known
to disturb it. Here one request is in flight at a time; /api/v1/status carries everything that
changes by itself, and the other routes are read only when status says they may have changed.
While idle the loop spends one request per idle interval (a poll that needed extra requests
waits correspondingly longer), so the default 30 s is 2 requests a minute whatever happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
import logging
import math
from typing import Any, Final

import aiohttp

from ..base import ChangeListener, ErrorListener, StateListener
from ..controls import Heater, Limits
from ..errors import (
    AdapterError,
    AuthenticationError,
    CommandConflictError,
    CommandRefusedError,
    PrinterOfflineError,
    ProtocolError,
)
from ..models import DeviceInfo, JobMetadata, PrinterState, changed_parts
from ..values import integer, mapping, number
from .client import Download, HttpStatusError, PrusaClient, base_url
from .controls import JSON_HEADERS, target_request, temperature_limits
from .device import Family, device_info, family
from .files import (
    PrusaFile,
    PrusaFiles,
    download_route,
    is_bgcode,
    parse_listing,
    thumbnail_route,
)
from .metadata import (
    BGCODE_MAGIC,
    MAX_THUMBNAIL_BYTES,
    BgcodeReader,
    metadata_from_values,
    parse_gcode_tail,
)
from .status import ACTIVE_PRINTER_STATES, StatusState, legacy_material, storage_free
from .values import Fields, flag

_LOGGER = logging.getLogger(__name__)

# PrusaSlicer's end-of-file summary plus its config dump fit easily in this much.
GCODE_TAIL_BYTES: Final = 256 * 1024
# Never read more of a job file than this looking for metadata.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
_METADATA_CACHE: Final = 4
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrusaConfig:
    """How to reach one printer; `host` may carry a port (`192.168.1.20:8080`).

    With `api_key` set, requests carry X-Api-Key instead of digest credentials.
    """

    host: str
    username: str = "maker"
    password: str = field(repr=False)
    api_key: str | None = field(default=None, repr=False)
    port: int = 80


@dataclass(slots=True, kw_only=True)
class Timing:
    """Polling and protocol timings; tests shorten them, users tune `idle_interval`."""

    active_interval: float = 5.0
    idle_interval: float = 30.0
    request_timeout: float = 10.0
    identity_interval: float = 3600.0
    material_interval: float = 600.0
    backoff_cap: float = 300.0
    refresh_cooldown: float = 1.0
    command_followup: float = 1.0
    download_timeout: float = 120.0


class PrusaAdapter:
    """A live, polled connection to one PrusaLink printer."""

    def __init__(
        self, config: PrusaConfig, session: aiohttp.ClientSession, timing: Timing | None = None
    ) -> None:
        """Prepare; nothing is sent until `start`."""
        self._config = config
        self._timing = timing or Timing()
        self._client = PrusaClient(
            session,
            base_url(config.host, config.port),
            username=config.username,
            password=config.password,
            api_key=config.api_key,
            timeout=self._timing.request_timeout,
        )
        self.files = PrusaFiles(
            self._client, lambda: self._family, lambda: self.state, self.list_files
        )
        self._name = config.host
        self._status = StatusState()
        self._published = self._status.state
        self._device = DeviceInfo(serial=config.host)
        self._family: Family = "buddy"
        self._listeners: list[ChangeListener] = []
        self._error_listeners: list[ErrorListener] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._poll_lock = asyncio.Lock()
        self._next_poll = 0.0
        self._last_poll = -math.inf
        self.poll_interval = self._timing.idle_interval
        self._failures = 0
        self._auth_failed = False
        self._identity_at = -math.inf
        self._identified = False
        self._material_at = -math.inf
        self._material_due = True
        self._storage_due = True
        # Buddy's /api/v1/storage may carry no byte counts; once it proved so, never ask again.
        self._storage_route = True
        self._job_seen: tuple[int, str | None] | None = None
        self._job_file: tuple[int, dict[str, Any]] | None = None
        # What the job file itself said, kept while only its preview is still missing.
        self._file_metadata: tuple[tuple[str, str | None], JobMetadata] | None = None
        self._metadata: dict[tuple[str, str | None], JobMetadata] = {}
        self._metadata_task: asyncio.Task[JobMetadata | None] | None = None
        self._metadata_key: tuple[str, str | None] | None = None
        self.malformed = 0

    @property
    def state(self) -> PrinterState:
        """The latest snapshot."""
        return self._status.state

    @property
    def device_info(self) -> DeviceInfo:
        """Identity from /api/version and /api/v1/info."""
        return self._device

    @property
    def family(self) -> Family:
        """Which PrusaLink: "buddy" (printer firmware) or "pi" (Prusa-Link on a Raspberry Pi)."""
        return self._family

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (digest retries included), for diagnostics."""
        return self._client.request_count

    def add_listener(self, listener: StateListener) -> Callable[[], None]:
        """Call listener with every changed snapshot; returns the remover."""
        return self.add_change_listener(lambda state, _: listener(state))

    def add_change_listener(self, listener: ChangeListener) -> Callable[[], None]:
        """Call listener with every changed snapshot and the parts it changed; the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def add_error_listener(self, listener: ErrorListener) -> Callable[[], None]:
        """Call listener when the printer refuses our credentials after setup."""
        self._error_listeners.append(listener)
        return lambda: self._error_listeners.remove(listener)

    async def start(self) -> None:
        """Read identity and the first full state, then start polling.

        Raises AuthenticationError, PrinterOfflineError (PrinterTimeoutError) or ProtocolError;
        nothing keeps running when it raises.
        """
        if self._task is not None:
            return
        async with self._poll_lock:
            try:
                await self._identify()
                await self._cycle()
            except AdapterError:
                raise
            except Exception as err:
                raise ProtocolError(f"unusable reply ({type(err).__name__})") from err
            self._publish()
            self._schedule(self._delay(1))
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"printernizer-prusa-{self._name}"
        )

    async def stop(self) -> None:
        """Stop polling and any metadata download; no task is left behind."""
        tasks = [task for task in (self._task, self._metadata_task) if task is not None]
        self._task = self._metadata_task = None
        self._metadata_key = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self) -> bool:
        """Poll now; False when a poll finished moments ago (a double press)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_poll < self._timing.refresh_cooldown:
            return False
        await self._poll()
        self._wake.set()
        return True

    async def pause(self) -> None:
        """Pause the running job."""
        await self._job_command("pause", "PUT", "/pause")

    async def resume(self) -> None:
        """Resume the paused job."""
        await self._job_command("resume", "PUT", "/resume")

    async def stop_print(self) -> None:
        """Cancel the current job."""
        await self._job_command("stop", "DELETE", "")

    def temperature_limits(self, heater: Heater) -> Limits | None:
        """Nozzle and bed on Prusa-Link for the Pi; nothing on Buddy firmware (no route)."""
        return temperature_limits(heater, self._family)

    async def set_target_temperature(self, heater: Heater, celsius: float) -> None:
        """Set a heater's target (0: off); ValueError outside its limits or where not settable."""
        limits = self.temperature_limits(heater)
        if limits is None:
            raise ValueError(f"This printer cannot set a {heater} target")
        route, payload = target_request(heater, celsius, limits)
        command = f"{heater}_target"
        try:
            await self._client.request("POST", route, headers=JSON_HEADERS, payload=payload)
        except HttpStatusError as err:
            if err.status == 409:
                raise CommandConflictError(command, err.message) from err
            if 400 <= err.status < 500:
                raise CommandRefusedError(command, err.message) from err
            raise
        finally:
            self._poll_soon()

    async def list_files(self, path: str = "") -> tuple[PrusaFile, ...]:
        """One folder of the printer's storage (USB on Buddy, local on a Pi).

        Listings carry ETags; an unchanged folder costs the printer a 304 and no body.
        """
        storage = "usb" if self._family == "buddy" else "local"
        folder = f"/{storage}/{path.strip('/')}".rstrip("/")
        fields = Fields()
        try:
            body = await self._client.get_cached_json(f"/api/v1/files{folder}", fields=fields)
        except ProtocolError as err:
            self._on_malformed(err)
            raise
        files = parse_listing(body, folder, fields=fields)
        self._tally(fields, "files")
        return files

    async def job_metadata(self) -> JobMetadata | None:
        """Slicer metadata of the current (or last) job, read once per job.

        From Prusa-Link's `meta` on a Pi; otherwise from the head of a .bgcode or the tail of a
        .gcode. Concurrent callers share one read. None without a job, while not running, or
        when the printer could not be read (a later call tries again).
        """
        job = self.state.job
        if job.job_id is None or self._task is None:
            return None
        key = (job.job_id, job.file)
        if (cached := self._metadata.get(key)) is not None:
            return cached
        task = self._metadata_task
        if task is None or self._metadata_key != key:
            if task is not None:
                task.cancel()
            self._metadata_key = key
            task = self._metadata_task = asyncio.get_running_loop().create_task(
                self._read_metadata(key), name=f"printernizer-prusa-meta-{self._name}"
            )
        return await asyncio.shield(task)

    # Polling

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while (remaining := self._next_poll - loop.time()) > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            await self._poll()

    async def _poll(self) -> None:
        """One poll with its outcome: state published, next poll scheduled, never raises."""
        async with self._poll_lock:
            before = self._client.request_count
            try:
                await self._cycle()
            except AuthenticationError as err:
                self._on_unreachable(err)
                if not self._auth_failed:
                    self._auth_failed = True
                    self._notify_error(err)
            except PrinterOfflineError as err:
                self._on_unreachable(err)
            except Exception as err:  # a bad reply costs this poll, never the loop
                self._on_malformed(err)
                self._schedule(self._delay(1))
            else:
                self._on_reachable()
                self._schedule(self._delay(self._client.request_count - before))
            self._publish()

    async def _cycle(self) -> None:
        """Status, then only what status says may have changed. Raises typed errors."""
        now = asyncio.get_running_loop().time()
        if now - self._identity_at >= self._timing.identity_interval:
            self._identity_at = now
            await self._optional(self._identify())
        fields = Fields()
        body = await self._client.get_json("/api/v1/status", fields=fields)
        if body is None:
            raise ProtocolError("GET /api/v1/status: empty reply")
        previous_state, previous_job = self._status.printer_state, self._status.job_id
        had_transfer = self._status.state.transfer_progress is not None
        state = self._status.apply_status(body, datetime.now(UTC), fields=fields)
        self._tally(fields, "status")
        raw, job_id = self._status.printer_state, self._status.job_id
        new_job = job_id is not None and job_id != previous_job
        if raw != previous_state:
            self._material_due = True
        if (previous_job is not None and job_id is None) or (
            had_transfer and state.transfer_progress is None
        ):
            self._storage_due = True
        if job_id is not None and self._job_seen != (job_id, raw):
            await self._fetch_job(job_id, raw)
        await self._fetch_material(now, new_job=new_job)
        if self._storage_due:
            self._storage_due = False
            if self._storage_route and storage_free(body.get("storage")) is None:
                await self._optional(self._fetch_storage())

    async def _identify(self) -> None:
        """Identity; the serial and family learned at setup stay (they name the device)."""
        fields = Fields()
        version = await self._client.get_json("/api/version", fields=fields) or {}
        info = await self._client.get_json("/api/v1/info", fields=fields) or {}
        device = device_info(version, info, self._config.host, fields=fields)
        if self._identified:
            device = replace(device, serial=self._device.serial)
        else:
            self._family = family(version)
        self._device, self._identified = device, True
        nozzle = fields.read(info, "nozzle_diameter", number)
        nozzle = fields.read(version, "nozzle_diameter", number) if nozzle is None else nozzle
        self._status.apply_identity(mmu=fields.read(info, "mmu", flag), nozzle_diameter=nozzle)
        self._tally(fields, "identity")
        self._identity_at = asyncio.get_running_loop().time()

    async def _fetch_job(self, job_id: int, raw: str | None) -> None:
        """The job's file (name, path, refs, Pi `meta`) once per job and printer state.

        A reply for another job or with unusable values is asked for again next poll.
        """
        fields = Fields()
        try:
            body = await self._client.get_json("/api/v1/job", fields=fields)
        except ProtocolError as err:
            self._on_malformed(err)
            return
        self._status.apply_job(body, fields=fields)
        self._tally(fields, "job")
        if body is None:
            self._job_seen = (job_id, raw)
        elif not fields.rejected and integer(body.get("id")) == job_id:
            self._job_seen = (job_id, raw)
            self._job_file = (job_id, mapping(body.get("file")))

    async def _fetch_material(self, now: float, *, new_job: bool) -> None:
        """Legacy /api/printer, Buddy's only source of the material, when it may have changed.

        That is when a job starts, after a printer-state change (loading filament is BUSY; at
        most every tenth of `material_interval`, should a state flap) and every
        `material_interval` otherwise. The Pi always answers " - ", so never there.
        """
        if self._family != "buddy":
            return
        since = now - self._material_at
        spacing = self._timing.material_interval / 10
        due = new_job or (self._material_due and since >= spacing)
        if since < self._timing.material_interval and not due:
            return
        self._material_at = now
        self._material_due = False
        fields = Fields()
        body = await self._optional(self._client.get_json("/api/printer", fields=fields))
        if body is not None:
            self._status.set_material(legacy_material(body, fields=fields))
            self._tally(fields, "material")

    async def _fetch_storage(self) -> None:
        """Free bytes; a clean reply without them means this printer never has them."""
        fields = Fields()
        body = await self._client.get_json("/api/v1/storage", fields=fields)
        free = storage_free(body, fields=fields)
        self._tally(fields, "storage")
        self._storage_route = free is not None or bool(fields.rejected)
        self._status.set_storage_free(free)

    async def _optional[T](self, request: Awaitable[T]) -> T | None:
        """A secondary request whose garbage must not fail the poll (offline still does)."""
        try:
            return await request
        except ProtocolError as err:
            self._on_malformed(err)
            return None

    def _delay(self, requests: int) -> float:
        """Next poll: active interval while anything moves, else one idle interval per request.

        FINISHED and STOPPED count as idle: they last until someone clears the screen.
        """
        status = self._status
        if (
            status.printer_state in ACTIVE_PRINTER_STATES
            or status.state.transfer_progress is not None
        ):
            return self._timing.active_interval
        return self._timing.idle_interval * max(1, requests)

    def _schedule(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self.poll_interval = delay
        self._last_poll = loop.time()
        self._next_poll = self._last_poll + delay

    def _poll_soon(self) -> None:
        """After a command: look again shortly so the UI follows the printer, not the timer."""
        loop = asyncio.get_running_loop()
        self._next_poll = min(self._next_poll, loop.time() + self._timing.command_followup)
        self._wake.set()

    def _on_unreachable(self, err: AdapterError) -> None:
        """Offline with a doubling interval; one log line when it starts."""
        self._failures += 1
        if self._failures == 1:
            _LOGGER.debug("Prusa printer %s is unreachable: %s", self._name, err)
            delay = self._delay(1)
        else:
            delay = self.poll_interval * 2
        self._status.set_offline()
        self._schedule(min(self._timing.backoff_cap, delay))

    def _on_reachable(self) -> None:
        self._auth_failed = False
        if self._failures:
            self._failures = 0
            _LOGGER.debug("Prusa printer %s is back online", self._name)
            # It may have rebooted into new firmware, swapped the USB stick or the filament.
            self._identity_at = -math.inf
            self._material_due = self._storage_due = True
            self._job_seen = None

    def _on_malformed(self, err: Exception) -> None:
        """Count a reply that could not (fully) be used; only the first one is logged.

        A reply that raised something other than ProtocolError is a parser bug: its traceback
        goes with that one line.
        """
        self.malformed += 1
        if self.malformed == 1:
            _LOGGER.warning(
                "Prusa printer %s sent a reply that could not be used (%s: %s); polling goes on, "
                "later ones are only counted (diagnostics: malformed_responses)",
                self._name,
                type(err).__name__,
                err,
                exc_info=not isinstance(err, ProtocolError),
            )

    def _tally(self, fields: Fields, reply: str) -> None:
        """One malformed reply for all the unusable values it carried."""
        if fields.rejected:
            names = ", ".join(dict.fromkeys(fields.rejected))
            self._on_malformed(ProtocolError(f"{reply}: unusable {names}"))

    def _notify_error(self, err: AdapterError) -> None:
        for listener in tuple(self._error_listeners):
            try:
                listener(err)
            except Exception:
                _LOGGER.exception("Prusa printer %s: error listener failed", self._name)

    def _publish(self) -> None:
        state = self._status.state
        if state == self._published:
            return
        # A poll is seconds apart: comparing every part is cheaper than tracking them.
        changed = changed_parts(self._published, state)
        self._published = state
        for listener in tuple(self._listeners):
            try:
                listener(state, changed)
            except Exception:
                # A broken consumer must not stop the polling of this printer.
                _LOGGER.exception("Prusa printer %s: state listener failed", self._name)

    # Commands

    async def _job_command(self, command: str, method: str, suffix: str) -> None:
        """A command on the current job; 409 is a state conflict, 404 a job no longer current."""
        job_id = self._status.job_id
        if job_id is None:
            raise CommandConflictError(command, "no job is running")
        try:
            await self._client.request(method, f"/api/v1/job/{job_id}{suffix}")
        except HttpStatusError as err:
            if err.status == 409:
                raise CommandConflictError(command, err.message) from err
            if err.status == 404:
                raise CommandRefusedError(command, err.message or "not the current job") from err
            raise
        finally:
            self._poll_soon()

    # Job metadata

    async def _read_metadata(self, key: tuple[str, str | None]) -> JobMetadata | None:
        """None while the printer cannot answer (a later call tries again); else final."""
        try:
            async with asyncio.timeout(self._timing.download_timeout):
                metadata = await self._job_file_metadata(key)
        except (AdapterError, TimeoutError) as err:
            _LOGGER.debug("Prusa printer %s: no job metadata yet: %s", self._name, err)
            return None
        except Exception as err:  # the caller is a background task
            self._on_malformed(err)
            return None
        finally:
            if self._metadata_key == key:
                self._metadata_task = self._metadata_key = None
        if metadata is not None:
            while len(self._metadata) >= _METADATA_CACHE:
                self._metadata.pop(next(iter(self._metadata)))
            self._metadata[key] = metadata
        return metadata

    async def _job_file_metadata(self, key: tuple[str, str | None]) -> JobMetadata | None:
        """The file's metadata (read once per job), then its preview if the file had none."""
        job_id = int(key[0])
        if self._job_file is None or self._job_file[0] != job_id:
            body = await self._client.get_json("/api/v1/job")
            if body is None or integer(body.get("id")) != job_id:
                return None
            self._job_file = (job_id, mapping(body.get("file")))
        file = self._job_file[1]
        if self._file_metadata is not None and self._file_metadata[0] == key:
            metadata = self._file_metadata[1]
        else:
            metadata = await self._file_values(file)
            self._file_metadata = (key, metadata)
        if metadata.thumbnail_png is None and (route := thumbnail_route(file, self._family)):
            metadata = replace(metadata, thumbnail_png=await self._thumbnail(route))
        return metadata

    async def _file_values(self, file: dict[str, Any]) -> JobMetadata:
        """From Prusa-Link's `meta` or the file itself; empty when asking again cannot help.

        That is a 4xx for the file (gone, not downloadable) or a parser failure (the same bytes
        would fail the same way). Offline, timeouts, 5xx and cut transfers raise.
        """
        try:
            meta = file.get("meta")
            if isinstance(meta, dict) and meta:
                return metadata_from_values(meta)
            if (route := download_route(file, self._family)) is None:
                return JobMetadata()
            return await self._read_job_file(route, bgcode=is_bgcode(file))
        except HttpStatusError as err:
            if err.status >= 500:
                raise
        except (AdapterError, TimeoutError):
            raise
        except Exception as err:  # a parser bug costs this job's metadata
            self._on_malformed(err)
        return JobMetadata()

    async def _thumbnail(self, route: str) -> bytes | None:
        """The preview if the printer serves a PNG within the size limit; offline raises."""
        try:
            image = await self._client.get_bytes(route, MAX_THUMBNAIL_BYTES)
        except HttpStatusError as err:
            _LOGGER.debug("Prusa printer %s: no preview: %s", self._name, err)
            return None
        return image if image is not None and image.startswith(_PNG_MAGIC) else None

    async def _read_job_file(self, route: str, *, bgcode: bool) -> JobMetadata:
        """Only as much of the file as holds the metadata: bgcode head, G-code tail."""
        headers = None if bgcode else {"Range": f"bytes=-{GCODE_TAIL_BYTES}"}
        async with self._client.stream(route, headers=headers) as download:
            if download.status == 206:
                return await self._read_tail(download, ranged=True)
            if download.length is not None and download.length > MAX_FILE_BYTES and not bgcode:
                _LOGGER.debug("%s: job file too large to look for metadata", self._name)
                return JobMetadata()
            return await self._read_stream(download)

    async def _read_tail(self, download: Download, *, ranged: bool) -> JobMetadata:
        tail = bytearray()
        async for chunk in download.chunks():
            tail += chunk
            if len(tail) > GCODE_TAIL_BYTES * 2:
                del tail[:-GCODE_TAIL_BYTES]
        whole = ranged and download.headers.get("Content-Range", "").startswith("bytes 0-")
        return metadata_from_values(parse_gcode_tail(bytes(tail), whole_file=whole))

    async def _read_stream(self, download: Download) -> JobMetadata:
        """A whole-file stream: stop after bgcode metadata, else keep only the G-code tail."""
        reader: BgcodeReader | None = None
        tail = bytearray()
        total = 0
        async for chunk in download.chunks():
            if total == 0 and chunk.startswith(BGCODE_MAGIC):
                reader = BgcodeReader()
            total += len(chunk)
            if reader is not None:
                if reader.feed(chunk) or total >= MAX_FILE_BYTES:
                    break
                continue
            tail += chunk
            if len(tail) > GCODE_TAIL_BYTES * 2:
                del tail[:-GCODE_TAIL_BYTES]
            if total >= MAX_FILE_BYTES:
                _LOGGER.debug("%s: job file too large to look for metadata", self._name)
                return JobMetadata()
        if reader is not None:
            return reader.result()
        whole = total == len(tail)
        return metadata_from_values(parse_gcode_tail(bytes(tail), whole_file=whole))
