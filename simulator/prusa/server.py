"""The PrusaLink HTTP API as an aiohttp application: routes, auth gate, recording, faults.

Every request passes `_gate` first: it is recorded, may be delayed, hung or refused by injected
faults, is authenticated the family's way, and has its errors rendered in the family's shape.
Handlers only implement the API and raise `Problem` for error replies.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import time
from typing import TYPE_CHECKING, Any
import zlib

from aiohttp import ClientPayloadError, web

from . import payloads
from .errors import Problem, buddy_response, pi_response
from .faults import spoil
from .files import FORBIDDEN_CHARS, Storage, VirtualFile, VirtualFolder, is_print_file

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .printer import PrusaSimulator

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_TRUE = {"buddy": ("?1", "1", "true"), "pi": ("?1",)}
_CHUNK = 64 * 1024
_DOWNLOAD_CHUNK = 256 * 1024


@dataclass(slots=True)
class RecordedRequest:
    """One request as the printer saw it; `status` None if it was never answered."""

    method: str
    path: str  # path and query, as sent
    time: float  # time.monotonic() on arrival (real seconds)
    sim_time: float  # the printer clock on arrival (simulated seconds)
    auth: bool | None = None  # None: refused or hung before the credentials were checked
    status: int | None = None
    hung: bool = False
    authorization: str | None = None  # the Authorization header as sent
    canned: bool = False  # answered by `Faults.serve` instead of the route


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Compact JSON, as the firmware writes it."""
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(text=text, status=status, headers=headers, content_type="application/json")


class PrusaLinkApi:
    """Handlers bound to one simulator."""

    def __init__(self, sim: PrusaSimulator) -> None:
        self.sim = sim
        self.buddy = sim.family == "buddy"

    def application(self) -> web.Application:
        """The aiohttp app with this family's routes."""
        app = web.Application(middlewares=[self._gate])
        get = {
            "/api/version": self.get_version, "/api/printer": self.get_legacy_printer,
            "/api/v1/info": self.get_info, "/api/v1/status": self.get_status,
            "/api/v1/job": self.get_job, "/api/v1/storage": self.get_storage,
            "/api/v1/transfer": self.get_transfer,
        }  # fmt: skip
        for path, handler in get.items():
            app.router.add_get(path, handler)
        app.router.add_route("*", "/api/v1/job/{id}", self.job_action)
        app.router.add_route("*", "/api/v1/job/{id}/{command}", self.job_action)
        app.router.add_route("*", "/api/v1/files/{storage}{path:(/.*)?}", self.files)
        if self.buddy:
            app.router.add_get("/thumb/{size:[sl]}/usb{path:/.+}", self.get_thumbnail)
            app.router.add_get("/usb{path:/.+}", self.download)
        else:
            app.router.add_get("/api/thumbnails/{storage}{path:/.+}", self.get_thumbnail)
            app.router.add_get("/api/files/{storage}{path:/.+}/raw", self.download)
            app.router.add_post("/api/printer/tool", self.set_target)
            app.router.add_post("/api/printer/bed", self.set_target)
        return app

    # -- the gate every request passes -----------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        sim = self.sim
        record = RecordedRequest(
            request.method, request.raw_path, time.monotonic(), sim.clock.now(),
            authorization=request.headers.get("Authorization"),
        )  # fmt: skip
        sim.requests.append(record)
        sim.request_started()
        try:
            response = await self._serve(request, handler, record)
        finally:
            sim.request_finished()
        if not record.hung:
            record.status = response.status
        return response

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        sim, faults = self.sim, self.sim.faults
        if sim.unresponsive or faults.take("hang"):
            record.hung = True
            return await sim.hang(request)
        if faults.latency > 0:
            await sim.wait_closing(faults.latency)
        if faults.take("status_503"):
            return self._render(Problem(503, "Busy, try again later"), request)
        if not self.buddy and not sim.printer_connected:
            problem = Problem(
                503, "PrusaLink not finished initializing or Printer not connected.",
                title="Printer Unavailable.", slug="printer-unavailable",
            )  # fmt: skip
            return self._render(problem, request)
        verdict = sim.auth.check(request.method, request.raw_path, request.headers)
        if verdict.hang:  # the firmware's parser choked before it judged anything
            record.hung = True
            return await sim.hang(request)
        record.auth = verdict.ok
        if not verdict.ok:
            return self._refuse(request, verdict.status, verdict.challenge, verdict.body)
        try:
            canned = faults.take_canned(request.path, request.rel_url.raw_path)
            record.canned = canned is not None
            response = await handler(request) if canned is None else canned
        except Problem as problem:
            response = self._render(problem, request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = self._render(Problem(exc.status), request)
        return await spoil(faults, request, response)

    def _render(self, problem: Problem, request: web.Request) -> web.Response:
        return (buddy_response if self.buddy else pi_response)(problem, request)

    def _refuse(
        self, request: web.Request, status: int, challenge: str | None, body: str | None
    ) -> web.Response:
        if body is not None:
            return web.Response(status=status, text=body)
        response = self._render(Problem(status, title="Unauthorized"), request)
        if challenge is not None:
            response.headers["WWW-Authenticate"] = challenge
        return response

    # -- printer and job -------------------------------------------------------------------

    async def get_version(self, request: web.Request) -> web.Response:
        """GET /api/version."""
        system = request.query.get("system") in ("1", "true")
        return _json(payloads.version(self.sim, system=system))

    async def get_info(self, request: web.Request) -> web.Response:
        """GET /api/v1/info."""
        return _json(payloads.info(self.sim))

    async def get_status(self, request: web.Request) -> web.Response:
        """GET /api/v1/status (no ETag, ever)."""
        self.sim.advance()
        return _json(payloads.status(self.sim))

    async def get_legacy_printer(self, request: web.Request) -> web.Response:
        """GET /api/printer."""
        self.sim.advance()
        return _json(payloads.legacy_printer(self.sim))

    async def get_job(self, request: web.Request) -> web.Response:
        """GET /api/v1/job: 204 unless a job is running (FINISHED/STOPPED count as none)."""
        self.sim.advance()
        if not self.sim.has_job:
            return web.Response(status=204)
        return _json(payloads.job(self.sim))

    async def job_action(self, request: web.Request) -> web.Response:
        """DELETE /api/v1/job/{id}; PUT /api/v1/job/{id}/pause|resume|continue."""
        sim = self.sim
        try:
            job_id = int(request.match_info["id"])
        except ValueError:
            raise Problem(400, "Invalid job id") from None
        if sim.job is None or job_id != sim.job.id:
            raise Problem(404, "Not current job", title="Not Current Job")
        command = request.match_info.get("command")
        if request.method == "DELETE" and command is None:
            stoppable = payloads.JOB_STATES if self.buddy else ("PRINTING", "PAUSED")
            self._require(sim.state in stoppable, "Printer Is Not Printing")
            await sim.stop_print()
        elif request.method == "PUT" and command == "pause":
            self._require(sim.state == "PRINTING", "Printer Is Not Printing")
            await sim.pause()
        elif request.method == "PUT" and command == "resume":
            self._require(sim.state == "PAUSED", "Printer Is Not Paused")
            await sim.resume()
        elif request.method == "PUT" and command == "continue" and not self.buddy:
            pass  # after a timelapse: a no-op on the Pi, 400 on Buddy
        elif request.method in ("PUT", "DELETE"):
            raise Problem(400, "Unknown command")
        else:
            raise Problem(405)
        return web.Response(status=204)

    async def set_target(self, request: web.Request) -> web.Response:
        """POST /api/printer/tool|bed (the Pi only): a heater target, in any printer state."""
        try:
            body = await request.json()
        except ValueError:
            raise Problem(400, "Invalid JSON") from None
        if not isinstance(body, dict) or body.get("command") != "target":
            return web.Response(status=204)  # other commands (extrude, flowrate) are not simulated
        tool = request.path.endswith("/tool")
        targets = body.get("targets") if tool else body
        target = targets.get("tool0" if tool else "target") if isinstance(targets, dict) else None
        if isinstance(target, bool) or not isinstance(target, int | float):
            raise Problem(400, "Invalid temperature")
        if target < 0:
            raise Problem(400, "Temperature too low", title="Temperature Too Low")
        if target > (305 if tool else 125):
            raise Problem(400, "Temperature too high", title="Temperature Too High")
        self.sim.advance()
        if tool:
            self.sim.target_nozzle = float(target)
        else:
            self.sim.target_bed = float(target)
        return web.Response(status=204)

    def _require(self, condition: bool, title: str) -> None:
        if not condition:
            message = "Operation is not possible in the printer's current state."
            raise Problem(409, "" if self.buddy else message, title=title)

    # -- storage, files, transfers ---------------------------------------------------------

    async def get_storage(self, request: web.Request) -> web.Response:
        """GET /api/v1/storage."""
        return _json(payloads.storage_list(self.sim))

    async def get_transfer(self, request: web.Request) -> web.Response:
        """GET /api/v1/transfer: 204 when nothing is being uploaded."""
        if self.sim.transfer is None:
            return web.Response(status=204)
        return _json(payloads.transfer(self.sim))

    def _storage(self, name: str) -> Storage:
        storage = self.sim.files.get(name)
        if storage is None:
            raise Problem(404, "Location not found", title="Location Not Found")
        return storage

    def _flag(self, request: web.Request, header: str) -> bool:
        value = request.headers.get(header, "").strip().lower()
        return value in _TRUE["buddy" if self.buddy else "pi"]

    async def files(self, request: web.Request) -> web.StreamResponse:
        """/api/v1/files/{storage}/{path}: GET, HEAD, PUT, POST, DELETE."""
        storage = self._storage(request.match_info["storage"])
        path = request.match_info["path"]
        if request.method == "PUT":
            return await self._put(request, storage, path)
        chain = storage.locate(path)
        if chain is None:
            raise Problem(404, "File not found", title="File Not Found")
        entry = chain[-1] if chain else storage.root
        if (
            request.method in ("GET", "HEAD")
            and (cached := self._not_modified(request, entry)) is not None
        ):
            return cached
        if request.method == "GET":
            if isinstance(entry, VirtualFolder):
                etag = self._etag(storage, path, entry)
                return _json(payloads.folder(self.sim, storage, chain), headers=etag)
            return _json(payloads.entry_info(self.sim, storage, chain))
        if request.method == "HEAD":
            printing = self._printing(entry)
            read_only = storage.read_only or entry.read_only
            flag = "Currently-Printing" if self.buddy else "Currently-Printed"
            headers = {"Read-Only": str(read_only).lower(), flag: str(printing).lower()}
            return web.Response(status=200, headers=headers)
        if request.method == "POST":
            return self._start(storage, chain)
        if request.method == "DELETE":
            return self._delete(request, storage, path, entry)
        raise Problem(405)

    def _printing(self, entry: object) -> bool:
        job = self.sim.job
        return self.sim.has_job and job is not None and job.file is entry

    def _etag(self, storage: Storage, path: str, entry: VirtualFolder) -> dict[str, str]:
        if self.buddy:
            return {"ETag": f'"{storage.etag(path)}"'}
        return {
            "ETag": f'W/"{storage.etag(path):010x}"',
            "Last-Modified": _http_date(entry.m_timestamp),
        }

    def _not_modified(self, request: web.Request, entry: object) -> web.Response | None:
        """Buddy compares If-None-Match numerically against the change-chain hash."""
        wanted = request.headers.get("If-None-Match")
        if wanted is None or not isinstance(entry, VirtualFolder):
            return None
        storage = self._storage(request.match_info["storage"])
        path = request.match_info["path"]
        current = storage.etag(path)
        if self.buddy:
            digits = wanted.strip().removeprefix("W/").strip('"')
            match = digits.isdigit() and int(digits) == current
        else:
            match = wanted.strip() == f'W/"{current:010x}"'
        if not match:
            return None
        return web.Response(status=304, headers=self._etag(storage, path, entry))

    def _start(self, storage: Storage, chain: list[Any]) -> web.Response:
        entry = chain[-1] if chain else None
        if not isinstance(entry, VirtualFile):
            raise Problem(409, "Not a file")
        if not is_print_file(entry.name):
            raise Problem(415, "Not a print file", title="Unsupported Media Type")
        if entry.partial or not self.sim.can_print:
            raise Problem(409, "Can't print right now", title="Printer Is Not Ready")
        self.sim.begin_http_print(storage, chain)
        response = web.Response(status=204)
        if self.buddy:
            response.force_close()  # Buddy closes the connection after starting a print
        return response

    def _delete(
        self, request: web.Request, storage: Storage, path: str, entry: object
    ) -> web.Response:
        if entry is storage.root or storage.read_only or getattr(entry, "read_only", False):
            raise Problem(409, "Read only", title="SD Card Read Only", slug="sdcard-read-only")
        if self._printing(entry) or getattr(entry, "partial", False):
            raise Problem(
                409, "File is busy", title="File is currently printed",
                slug="file-currently-printed",
            )  # fmt: skip
        force = not self.buddy and self._flag(request, "Force")
        if isinstance(entry, VirtualFolder) and entry.children and not force:
            raise Problem(409, "Folder is not empty")
        storage.remove(path)
        return web.Response(status=204)

    async def _put(self, request: web.Request, storage: Storage, path: str) -> web.Response:
        """Upload by PUT: checks in the firmware's order, then stream the body in."""
        sim = self.sim
        folder, name = storage.parent(path)
        if any(c in FORBIDDEN_CHARS for c in name):
            raise Problem(422 if self.buddy else 400, "Forbidden characters in name",
                          title="Forbidden Characters", slug="forbidden-characters")  # fmt: skip
        if storage.read_only:
            raise Problem(409, "SD Card storage is read only.", title="SD Card Read Only")
        if folder is None or not name:
            raise Problem(404, "Folder not found", title="Not Found")
        if self.buddy and self._flag(request, "Create-Folder"):
            if storage.resolve(path) is not None:
                raise Problem(409, "File already exists", title="File Already Exists")
            storage.add_folder(path)
            return web.Response(status=201)
        length = request.content_length
        if length is None:
            raise Problem(411, "Missing Content-Length header", title="Length Required")
        if sim.transfer is not None:
            raise Problem(
                409, "Another transfer in progress", title="Already in transfer process",
                slug="transfer-conflict",
            )  # fmt: skip
        if not is_print_file(name):
            raise Problem(415, "Only G-code can be uploaded", title="Unsupported Media Type")
        old = storage.resolve(path)
        if isinstance(old, VirtualFolder) or (old is not None and self._printing(old)):
            raise Problem(409, "File is busy", title="File is currently printed")
        if old is not None and not self._flag(request, "Overwrite"):
            raise Problem(409, "File already exists", title="File Already Exists")
        print_after = self._flag(request, "Print-After-Upload")
        if print_after and not sim.can_print:
            raise Problem(409, "Can't print right now", title="Printer Is Not Ready")
        if length > storage.free + (old.size if isinstance(old, VirtualFile) else 0):
            if self.buddy:
                raise Problem(507, "Not enough space")
            raise Problem(413, "Not enough space in storage.", title="Request Entity Too Large")
        return await self._receive(request, storage, path, old, length, print_after)

    async def _receive(
        self,
        request: web.Request,
        storage: Storage,
        path: str,
        old: VirtualFile | VirtualFolder | None,
        length: int,
        print_after: bool,
    ) -> web.Response:
        sim = self.sim
        placeholder = storage.add_file(path, b"", read_only=True, partial=True)
        transfer = sim.begin_transfer(storage, path, placeholder, length, print_after)
        data = bytearray()
        try:
            async for chunk in request.content.iter_chunked(_CHUNK):
                data += chunk
                transfer.transferred = len(data)
        except (ConnectionError, ClientPayloadError):
            pass  # the client went away mid-upload: a short body, handled below
        finally:
            sim.transfer = None
            if len(data) != length:
                self._undo(storage, path, old)
        if len(data) != length:
            raise Problem(400, "You sent less data than Content-Length says",
                          title="File Size Mismatch")  # fmt: skip
        storage.add_file(path, bytes(data))
        chain = storage.locate(path)
        assert chain is not None
        if print_after:
            sim.begin_http_print(storage, chain)
        if not self.buddy:
            return web.Response(status=201)
        return _json(payloads.entry_info(sim, storage, chain), status=201)

    @staticmethod
    def _undo(storage: Storage, path: str, old: VirtualFile | VirtualFolder | None) -> None:
        if isinstance(old, VirtualFile):
            storage.add_file(path, old.data, m_timestamp=old.m_timestamp)
        else:
            storage.remove(path)

    # -- previews and downloads ------------------------------------------------------------

    def _file(self, request: web.Request, *, suffix: str = "") -> tuple[Storage, VirtualFile]:
        storage = self._storage(request.match_info.get("storage", "usb"))
        path = request.match_info["path"].removesuffix(suffix)
        entry = storage.resolve(path)
        if not isinstance(entry, VirtualFile) or entry.partial:
            raise Problem(404, "File not found", title="File Not Found")
        return storage, entry

    async def get_thumbnail(self, request: web.Request) -> web.Response:
        """Buddy /thumb/{s|l}/usb/...; Pi /api/thumbnails/{storage}/....orig.png."""
        _, entry = self._file(request, suffix="" if self.buddy else ".orig.png")
        previews = entry.thumbnails()
        if not previews:
            raise Problem(404, "File doesn't contain preview", title="Not Found")
        smallest = self.buddy and request.match_info["size"] == "s"
        image = previews[0 if smallest else -1][2]
        etag = f'"{zlib.crc32(image)}"'
        if self.buddy and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag} if self.buddy else {}
        return web.Response(body=image, content_type="image/png", headers=headers)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """Buddy /usb/...; Pi /api/files/local/.../raw (no downloads from the SD card).

        Streamed in chunks when a storage's `download_faults` slow or cut the transfer.
        """
        storage, entry = self._file(request)
        if storage.read_only:
            raise Problem(404, "Location `sdcard` is not supported, use local.",
                          title="SDCard is not Suppported")  # fmt: skip
        faults = storage.download_faults
        faults.downloads += 1
        cut = faults.drop_after if faults.drops > 0 else None
        if cut is not None:
            faults.drops -= 1
        disposition = f'attachment; filename="{entry.short_name}"'
        if cut is None and not faults.rate:  # whole, so the generic faults (truncate) apply
            return web.Response(
                body=entry.data,
                content_type="application/octet-stream",
                headers={"Content-Disposition": disposition},
            )
        response = web.StreamResponse(
            headers={
                "Content-Disposition": disposition,
                "Content-Type": "application/octet-stream",
            }
        )
        response.content_length = len(entry.data)
        await response.prepare(request)
        data = memoryview(entry.data)
        for offset in range(0, len(data), _DOWNLOAD_CHUNK):
            chunk = data[offset : offset + _DOWNLOAD_CHUNK]
            if cut is not None and offset + len(chunk) > cut:
                await response.write(bytes(chunk[: max(0, cut - offset)]))
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(bytes(chunk))
            if faults.rate:
                await asyncio.sleep(len(chunk) / faults.rate)
        await response.write_eof()
        return response


def _http_date(timestamp: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(timestamp))
