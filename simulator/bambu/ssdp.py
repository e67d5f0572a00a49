"""The simulated printer's SSDP announcement: a NOTIFY like real firmware sends on UDP 2021.

Real printers send it every few seconds to the SSDP multicast group and as broadcast; the
simulator sends it to one address (loopback in tests), once or periodically.

```python
async with SsdpAnnouncer(notify_packet(serial=sim.serial, host=sim.host, model="P1S"),
                         target=("127.0.0.1", port), interval=3.0):
    ...
```
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType
from typing import Final, Self

from .payloads import FIRMWARE

URN: Final = "urn:bambulab-com:device:3dprinter:1"
# The codes printers put in DevModel.bambu.com (as in get_version's project_name).
MODEL_CODES: Final = {"P1S": "C12", "A1": "N2S", "X1C": "BL-P001", "H2D": "O1D"}


def notify_packet(
    *,
    serial: str,
    host: str,
    model: str,
    name: str | None = None,
    signal: int = -45,
    connect: str = "lan",
) -> bytes:
    """The NOTIFY a printer of `model` at `host` sends; `name` defaults to the model's."""
    lines = [
        "NOTIFY * HTTP/1.1",
        "HOST: 239.255.255.250:1990",
        "Server: UPnP/1.0",
        f"Location: {host}",
        f"NT: {URN}",
        "NTS: ssdp:alive",
        f"USN: {serial}",
        "Cache-Control: max-age=1800",
        f"DevModel.bambu.com: {MODEL_CODES.get(model, model)}",
        f"DevName.bambu.com: {name or f'{model}-{serial[-4:]}'}",
        f"DevSignal.bambu.com: {signal}",
        f"DevConnect.bambu.com: {connect}",
        "DevBind.bambu.com: free",
        "Devseclink.bambu.com: secure",
        f"DevVersion.bambu.com: {FIRMWARE.get(model, '01.00.00.00')}",
        "DevCap.bambu.com: 1",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_datagram(data: bytes, target: tuple[str, int]) -> None:
    """Send one datagram (non-blocking: UDP sends do not wait)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(data, target)


class SsdpAnnouncer:
    """Sends `packet` to `target` now and then every `interval` seconds until stopped."""

    def __init__(self, packet: bytes, *, target: tuple[str, int], interval: float = 3.0) -> None:
        self.packet, self.target, self.interval = packet, target, interval
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def start(self) -> None:
        """Start announcing."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._announce())

    async def stop(self) -> None:
        """Stop announcing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _announce(self) -> None:
        while True:
            send_datagram(self.packet, self.target)
            self.sent += 1
            await asyncio.sleep(self.interval)
