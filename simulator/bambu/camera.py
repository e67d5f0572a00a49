"""The P1/A1 chamber camera: JPEG frames over TLS, as port 6000 serves them.

A client sends one 80-byte auth packet (magic header, "bblp" and the access code, NUL-padded);
a wrong packet is answered by closing without a byte. Then each frame goes out as a 16-byte
header (little-endian size, 0, flags 1, 0) written alone, and the JPEG in chunks of at most
4 KB, as the firmware sends them. Frames are small generated JPEGs, each one different.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ssl
import struct
from typing import Final

from PIL import Image, ImageDraw

from simulator.servers import abort_clients, closed_server

HEADER: Final = struct.Struct("<IIII")
AUTH_SIZE: Final = 80
_CHUNK: Final = 4096
_HANDSHAKE_TIMEOUT: Final = 10.0
_FRAMES: Final = 8
_SIZE: Final = (320, 180)
CHAMBER_CAMERA_MODELS: Final = frozenset({"P1S", "A1"})
# Real cameras send a frame every 1-2 s; a fast simulator clock sends them faster, within reason.
_INTERVAL: Final = 1.5
_MIN_INTERVAL: Final = 0.05


def frame_interval(speed: float) -> float:
    """Real seconds between frames for a simulator clock running `speed` times real time."""
    return max(_INTERVAL / speed, _MIN_INTERVAL)


def auth_packet(access_code: str) -> bytes:
    """What a client must send first (the firmware's expectation, written out independently)."""
    return (
        HEADER.pack(0x40, 0x3000, 0, 0)
        + b"bblp".ljust(32, b"\0")
        + access_code.encode().ljust(32, b"\0")
    )


def render_frames(count: int = _FRAMES) -> list[bytes]:
    """`count` distinct JPEGs: a bar sweeping across a gradient, numbered (blocking: PIL)."""
    width, height = _SIZE
    frames = []
    for number in range(count):
        image = Image.linear_gradient("L").resize(_SIZE).convert("RGB")
        draw = ImageDraw.Draw(image)
        left = number * width // count
        draw.rectangle((left, 0, left + width // count, height), fill=(0, 160, 80))
        draw.text((8, 8), f"frame {number}", fill=(255, 255, 255))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        frames.append(buffer.getvalue())
    return frames


class CameraServer:
    """A TLS listener streaming generated frames to every authenticated client."""

    def __init__(self, *, ssl_context: ssl.SSLContext, access_code: str, interval: float) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.interval = interval
        self.connections = 0  # accepted, whatever came of them
        self.refused = 0  # closed for a wrong auth packet
        self.frames_sent = 0
        self.mute = False  # accept clients, send them nothing (a hung camera)
        self._auth = auth_packet(access_code)
        self._frames: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self._streaming: set[asyncio.StreamWriter] = set()
        self._injected: list[bytes] = []

    @property
    def client_count(self) -> int:
        """Clients past the auth packet, being sent frames."""
        return len(self._streaming)

    def inject(self, data: bytes) -> None:
        """Send `data` instead of the next frame, once per streaming client (hostile firmware)."""
        self._injected.append(data)

    async def start(self, host: str, port: int = 0) -> None:
        """Listen; port 0 picks a free port, kept across restarts."""
        if not self._frames:
            self._frames = await asyncio.to_thread(render_frames)
        # TLS starts after accept, so a client refusing the certificate stays our business.
        self._server = await asyncio.start_server(self._serve, host, port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every client off."""
        if self._server is not None:
            await closed_server(self._server)
            await self.drop_clients()
            await self._server.wait_closed()
            self._server = None

    async def drop_clients(self) -> None:
        """Abort every client connection, as a rebooting printer would; keep listening."""
        await abort_clients(self._clients)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.set_name("bambu-sim-camera-client")
        self._clients[writer] = task
        self.connections += 1
        try:
            async with asyncio.timeout(_HANDSHAKE_TIMEOUT):
                await writer.start_tls(self.ssl_context)
                packet = await reader.readexactly(AUTH_SIZE)
            if packet != self._auth:
                self.refused += 1
                return
            self._streaming.add(writer)
            await self._stream(reader, writer)
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass  # a refused handshake, a client gone or mute: no session for it
        finally:
            self._streaming.discard(writer)
            writer.transport.abort()
            del self._clients[writer]

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        injected = len(self._injected)  # only what is injected from now on
        number = 0
        while True:
            if injected < len(self._injected):
                writer.write(self._injected[injected])
                injected += 1
            elif not self.mute:
                await self._send_frame(writer, self._frames[number % len(self._frames)])
                number += 1
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    if not await reader.read(4096):
                        return  # the client went away

    async def _send_frame(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        """The header alone, then the JPEG in chunks, as the firmware sends them."""
        writer.write(HEADER.pack(len(frame), 0, 1, 0))
        await writer.drain()
        for start in range(0, len(frame), _CHUNK):
            writer.write(frame[start : start + _CHUNK])
            await writer.drain()
        self.frames_sent += 1
