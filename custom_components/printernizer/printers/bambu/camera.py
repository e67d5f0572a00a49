"""Bambu cameras: which model has which, and the P1/A1 chamber camera's JPEG stream.

X1, H2, P2 and X2 printers serve RTSPS on port 322 (HA's stream integration plays it). P1 and
A1 printers instead send JPEG frames over TLS on port 6000: after the handshake the client sends
one 80-byte auth packet, then every frame arrives as a 16-byte header (little-endian payload
size first) and the JPEG. The printer's certificate is the one pinned for MQTT and FTPS.

The chamber camera connects only while someone watches: viewers share one connection, a still
image is a viewer that leaves after one frame, and the connection lingers briefly after the
last viewer so stills fetched every few seconds do not reconnect each time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import logging
import ssl
import struct
from typing import Any, Final
from urllib.parse import quote

from ..errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
    ProtocolError,
)
from .tls import pinned_context

_LOGGER = logging.getLogger(__name__)

CHAMBER_CAMERA_PORT: Final = 6000
RTSPS_PORT: Final = 322
USERNAME: Final = "bblp"
# Four little-endian u32: payload size (or the auth magic), 0, flags, 0.
HEADER: Final = struct.Struct("<IIII")
AUTH_FIELDS: Final = (0x40, 0x3000, 0, 0)
_NAME_FIELD: Final = 32
AUTH_PACKET_SIZE: Final = HEADER.size + 2 * _NAME_FIELD
# A 1280x720 frame is 50-300 KB; anything announcing more than this is not a frame.
MAX_FRAME_BYTES: Final = 4 << 20
_JPEG_START: Final = b"\xff\xd8"
_JPEG_END: Final = b"\xff\xd9"


class CameraKind(StrEnum):
    """How a model serves its camera."""

    CHAMBER = "chamber"  # JPEG frames over TLS, port 6000 (P1, A1)
    RTSPS = "rtsps"  # RTSP over TLS, port 322 (X1, H2, P2, X2)


_KINDS: Final = (
    (("P1", "A1"), CameraKind.CHAMBER),
    (("X1", "H2", "P2", "X2"), CameraKind.RTSPS),
)


def camera_kind(model: str | None) -> CameraKind | None:
    """The camera a model has, None for models whose camera protocol is not known."""
    if not model:
        return None
    name = model.upper()
    return next((kind for prefixes, kind in _KINDS if name.startswith(prefixes)), None)


def rtsps_url(host: str, access_code: str, port: int = RTSPS_PORT) -> str:
    """The live view URL of an RTSPS camera; it carries the access code, so never log it."""
    netloc = f"[{host}]" if ":" in host else host
    return f"rtsps://{USERNAME}:{quote(access_code, safe='')}@{netloc}:{port}/streaming/live/1"


def liveview_disabled(report: Mapping[str, Any]) -> bool:
    """The printer says LAN live view is off (`ipcam.rtsp_url` "disable", H2's default)."""
    ipcam = report.get("ipcam")
    return isinstance(ipcam, Mapping) and ipcam.get("rtsp_url") == "disable"


def auth_packet(access_code: str) -> bytes:
    """The 80 bytes a chamber camera expects first: magic header, user and code NUL-padded."""
    code = access_code.encode()
    if len(code) > _NAME_FIELD:
        raise AuthenticationError(f"The access code is longer than {_NAME_FIELD} bytes")
    return (
        HEADER.pack(*AUTH_FIELDS)
        + USERNAME.encode().ljust(_NAME_FIELD, b"\0")
        + code.ljust(_NAME_FIELD, b"\0")
    )


class FrameError(ProtocolError):
    """The camera sent something that is not a frame; the connection cannot be trusted."""


def frame_size(header: bytes) -> int:
    """The JPEG size a frame header announces, refused before anything is allocated for it."""
    if len(header) != HEADER.size:
        raise FrameError(f"A frame header has {HEADER.size} bytes, not {len(header)}")
    size = HEADER.unpack(header)[0]
    if not 0 < size <= MAX_FRAME_BYTES:
        raise FrameError(f"A frame of {size} bytes announced (limit {MAX_FRAME_BYTES})")
    return int(size)


def check_jpeg(body: bytes) -> bytes:
    """The body itself when it is framed like a JPEG (start and end markers)."""
    if not (body.startswith(_JPEG_START) and body.endswith(_JPEG_END)):
        raise FrameError(f"A frame of {len(body)} bytes is not a JPEG")
    return body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One JPEG from the stream; the connection closing before any byte is IncompleteReadError."""
    size = frame_size(await reader.readexactly(HEADER.size))
    return check_jpeg(await reader.readexactly(size))


@dataclass(slots=True, kw_only=True)
class CameraTiming:
    """Camera timings; tests shorten them, users keep the defaults."""

    connect_timeout: float = 10.0
    # Printers send a frame every 1-2 s.
    frame_timeout: float = 10.0
    # How long the connection stays after the last viewer left.
    linger: float = 10.0
    # Before reconnecting a connection that delivered frames and then dropped.
    retry_delay: float = 2.0


class Viewer:
    """One watcher of a chamber camera: the frames it has not seen yet."""

    def __init__(self, camera: ChamberCamera) -> None:
        """Start with the newest frame already there, if any."""
        self._camera = camera
        self._seen = camera.frame_number - (1 if camera.frame is not None else 0)

    async def next_frame(self) -> bytes:
        """The newest frame this viewer has not had; raises once the connection has ended."""
        camera = self._camera
        while True:
            frame = camera.frame
            if frame is not None and camera.frame_number != self._seen:
                self._seen = camera.frame_number
                return frame
            await camera.wait_for_change()


@dataclass(slots=True)
class _Session:
    """One shared connection and how it ended."""

    changed: asyncio.Future[None]
    task: asyncio.Task[None] | None = None
    error: AdapterError | None = None


class ChamberCamera:
    """The JPEG camera of one P1/A1 printer, connected while it has viewers."""

    def __init__(
        self,
        *,
        host: str,
        access_code: str,
        certificate: str,
        port: int = CHAMBER_CAMERA_PORT,
        timing: CameraTiming | None = None,
    ) -> None:
        """Prepare; nothing connects until someone watches."""
        self._host = host
        self._port = port
        self._auth = auth_packet(access_code)
        self._certificate = certificate
        self._timing = timing or CameraTiming()
        self._context: ssl.SSLContext | None = None
        self._session: _Session | None = None
        self._viewers = 0
        self._linger: asyncio.TimerHandle | None = None
        self._closed = False
        self._warned = False
        self.frame: bytes | None = None
        self.frame_number = 0
        self.connections = 0

    @property
    def connected(self) -> bool:
        """A connection is open or being opened."""
        return self._running(self._session)

    @staticmethod
    def _running(session: _Session | None) -> bool:
        return session is not None and session.task is not None and not session.task.done()

    async def snapshot(self) -> bytes:
        """One current frame: the shared connection's newest, else from a new connection."""
        async with self.watch() as viewer:
            return await viewer.next_frame()

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[Viewer]:
        """Watch while inside: the first viewer connects, the last one starts the linger."""
        if self._closed:
            raise PrinterOfflineError("The camera is closed")
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if not self.connected:
            self._start()
        self._viewers += 1
        try:
            yield Viewer(self)
        finally:
            self._viewers -= 1
            if not self._viewers and self.connected and not self._closed:
                loop = asyncio.get_running_loop()
                self._linger = loop.call_later(self._timing.linger, self._hang_up)

    async def wait_for_change(self) -> None:
        """Wait for the next frame; raise if the connection has ended (or ends meanwhile)."""
        session = self._session
        if session is None:
            raise PrinterOfflineError("The camera is not connected")
        if self._running(session):
            await asyncio.shield(session.changed)
        if not self._running(session):
            raise session.error or PrinterOfflineError("The camera connection ended")

    async def close(self) -> None:
        """Disconnect for good (the entity is going away); viewers get an error."""
        self._closed = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._session is not None and self._session.task is not None:
            self._session.task.cancel()
            await asyncio.gather(self._session.task, return_exceptions=True)

    def _hang_up(self) -> None:
        self._linger = None
        if self._session is not None and self._session.task is not None and not self._viewers:
            self._session.task.cancel()

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self.frame = None
        session = self._session = _Session(changed=loop.create_future())
        session.task = loop.create_task(
            self._run(session), name=f"printernizer-camera-{self._host}"
        )
        # Also when cancelled before it ever ran: waiting viewers must learn it ended.
        session.task.add_done_callback(lambda _: self._wake(session, ended=True))

    @staticmethod
    def _wake(session: _Session, *, ended: bool = False) -> None:
        """Wake the viewers waiting on this session (they see the end by the task being done)."""
        if not session.changed.done():
            session.changed.set_result(None)
        if not ended:
            session.changed = asyncio.get_running_loop().create_future()

    async def _run(self, session: _Session) -> None:
        """Connect and read frames until hung up; one reconnect after a drop that had frames."""
        try:
            while True:
                delivered = self.frame_number
                try:
                    await self._stream(session)
                except (PrinterOfflineError, ProtocolError) as err:
                    if (
                        type(err) in (PrinterOfflineError, PrinterTimeoutError)
                        and self.frame_number != delivered
                        and self._viewers
                    ):
                        _LOGGER.debug("Camera at %s dropped (%s); reconnecting", self._host, err)
                        await asyncio.sleep(self._timing.retry_delay)
                        continue
                    raise
        except AdapterError as err:
            session.error = err
            self._log(err)
        except asyncio.CancelledError:
            session.error = PrinterOfflineError("The camera connection was closed")
            raise
        except Exception:  # a defect of ours must end this connection, not hang its viewers
            _LOGGER.exception("Camera at %s: unexpected failure", self._host)
            session.error = PrinterOfflineError("The camera connection failed")

    async def _stream(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        if self._context is None:
            self._context = await loop.run_in_executor(None, pinned_context, self._certificate)
        writer: asyncio.StreamWriter | None = None
        first = True
        try:
            async with asyncio.timeout(self._timing.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._context
                )
            self.connections += 1
            writer.write(self._auth)
            await writer.drain()
            while True:
                async with asyncio.timeout(self._timing.frame_timeout):
                    frame = await read_frame(reader)
                first = False
                self.frame = frame
                self.frame_number += 1
                self._warned = False
                self._wake(session)
        except asyncio.IncompleteReadError as err:
            if first and not err.partial:
                raise AuthenticationError(
                    "The camera closed the connection without a frame; check the access code"
                ) from None
            raise PrinterOfflineError("The camera closed the connection") from None
        except TimeoutError:
            raise PrinterTimeoutError("The camera sent no frame in time") from None
        except ssl.SSLCertVerificationError:
            raise CertificateMismatchError(
                "The camera presented another certificate than the printer's pinned one"
            ) from None
        except (OSError, ssl.SSLError) as err:
            raise PrinterOfflineError(f"Camera connection failed: {type(err).__name__}") from None
        finally:
            if writer is not None:
                writer.transport.abort()

    def _log(self, err: AdapterError) -> None:
        """Warn once until frames flow again; a viewer retrying every few seconds repeats it."""
        if isinstance(err, PrinterOfflineError) or self._warned:
            _LOGGER.debug("Camera at %s: %s", self._host, err)
            return
        self._warned = True
        if isinstance(err, FrameError):
            _LOGGER.warning("Camera at %s: %s; connection dropped", self._host, err)
        else:
            _LOGGER.warning("Camera at %s: %s", self._host, err)
