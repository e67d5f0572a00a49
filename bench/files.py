"""File downloads: the file manager against a raw client of the same protocol, and its memory.

For each transport the same file is fetched over loopback from the simulator, alternating, a
few rounds each, and the best time of each side is kept (loopback noise only ever slows):

- Bambu (implicit FTPS, TLS session reuse): raw = `BambuFtpsClient.download`, plain ftplib
  streaming to a temporary file and renaming it; managed = `FileManager.download` through the
  adapter's `BambuFiles` (worker thread, `.part` file, SHA-256, size/space checks, index).
- PrusaLink (HTTP with digest auth): raw = `PrusaClient.stream` written to a file from the
  executor in 1 MiB pieces; managed = `FileManager.download` through `PrusaFiles`.

Neither raw client hashes; the managed download computes SHA-256, which its writing thread
does while the next bytes arrive (so it costs CPU, not time, when a core is free). Neither
side fsyncs. Deleting the written file is not timed.

Ratio = raw time / managed time (1.0 = no overhead; the goal is >= 0.8). Next to it the CPU
seconds the process spent per download (best round; the in-process simulator's share is the
same on both sides): on a loaded machine the managed side's extra CPU (the hash) shows as
time, so the ratio depends on how many cores are free. Peak memory: the
process's resident set sampled every 5 ms while the manager downloads a `--memory-mb` file
over FTPS (the Bambu simulator serves it from disk in 64 KiB reads, so the figure is the
client's), reported as growth over the resident set before the download.

`python -m bench.files [--size-mb 200] [--memory-mb 1024] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import functools
import os
from pathlib import Path
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

import aiohttp

from custom_components.printernizer.files.manager import FileManager
from custom_components.printernizer.files.model import DownloadState, FileLimits
from custom_components.printernizer.printers.bambu.files import BambuFiles
from custom_components.printernizer.printers.bambu.ftps import BambuFtpsClient
from custom_components.printernizer.printers.models import PrinterState
from custom_components.printernizer.printers.prusa.adapter import PrusaAdapter, PrusaConfig
from custom_components.printernizer.printers.prusa.client import PrusaClient, base_url
from simulator.bambu.certs import CertificateAuthority
from simulator.bambu.ftps import BambuFtpsServer
from simulator.prusa import PrusaSimulator

ACCESS_CODE = "12345678"
SERIAL = "01P00A000000001"
MIB = 1024 * 1024
LINK_MIB_S = 20  # faster than any printer's file transfer (Bambu: ~0.1-1 MiB/s)
LINK_FILE_MIB = 40
LIMITS = FileLimits(max_file_bytes=8 * 1024 * MIB, min_free_bytes=0, retries=0)


def _write_random(path: Path, size: int) -> None:
    """A file of `size` incompressible bytes, written in 4 MiB pieces (flat memory)."""
    block = os.urandom(4 * MIB)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)


async def _managed(files: FileManager, serial: str, folder: str, name: str) -> Path:
    """One managed download (the listing is cached beforehand: raw clients list nothing)."""
    done = asyncio.Event()
    remove = files.add_listener(lambda s: done.set() if s.state.finished else None)
    try:
        download_id = await files.download(serial, folder, name)
        await done.wait()
    finally:
        remove()
    status = files.download_status(download_id)
    if status.state is not DownloadState.COMPLETED:
        raise RuntimeError(f"download failed: {status}")
    assert status.local_path is not None
    return status.local_path


async def _best(
    rounds: int, raw: Callable[[], Awaitable[Path]], managed: Callable[[], Awaitable[Path]]
) -> dict[str, float]:
    """Best wall time and CPU time of each side over alternating rounds.

    Each side returns the file it wrote; deleting it is not timed.
    """
    best = dict.fromkeys(("raw", "managed", "raw_cpu", "managed_cpu"), float("inf"))
    for _ in range(rounds):
        for side, download in (("raw", raw), ("managed", managed)):
            start, cpu = time.perf_counter(), time.process_time()
            written = await download()
            best[side] = min(best[side], time.perf_counter() - start)
            best[f"{side}_cpu"] = min(best[f"{side}_cpu"], time.process_time() - cpu)
            await asyncio.to_thread(written.unlink)
    return best


def _figures(size: int, best: dict[str, float]) -> dict[str, float]:
    return {
        "raw_mib_s": size / MIB / best["raw"],
        "managed_mib_s": size / MIB / best["managed"],
        "ratio": best["raw"] / best["managed"],
        "raw_cpu_s": best["raw_cpu"],
        "managed_cpu_s": best["managed_cpu"],
    }


class _RssPeak:
    """Samples this process's resident set in a thread; `peak` is the highest seen."""

    def __init__(self) -> None:
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> _RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def bench_bambu(
    work: Path, size: int, memory_size: int, rounds: int, link: float | None = None
) -> dict[str, float]:
    """Throughput ratio over FTPS and the manager's peak memory for a large file.

    `link` (bytes/s) throttles the simulator like a printer's slow link; the memory run is
    skipped then (memory_size 0).
    """
    sd = work / "sd"
    (sd / "cache").mkdir(parents=True)
    await asyncio.to_thread(_write_random, sd / "cache" / "big.3mf", size)
    leaf = CertificateAuthority.create().issue(SERIAL)
    server = BambuFtpsServer(
        root=sd, access_code=ACCESS_CODE, ssl_context=leaf.server_context(work)
    )
    await server.start()
    server.faults.rate = link
    context = _client_context(leaf.cert_pem)
    client = BambuFtpsClient(
        "127.0.0.1", ACCESS_CODE, port=server.port, ssl_context=context, timeout=30
    )
    loop = asyncio.get_running_loop()

    def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return loop.run_in_executor(None, functools.partial(func, *args, **kwargs))

    source = BambuFiles(lambda: client, PrinterState, run)
    files = FileManager(work / "files", LIMITS)
    files.add_printer(SERIAL, source)
    await files.start()
    raw_dest = work / "raw.3mf"

    async def raw() -> Path:
        await asyncio.to_thread(client.download, "/cache/big.3mf", raw_dest)
        return raw_dest

    try:
        await files.list_files(SERIAL)
        best = await _best(rounds, raw, lambda: _managed(files, SERIAL, "/cache", "big.3mf"))
        await asyncio.to_thread((sd / "cache" / "big.3mf").unlink)
        huge_seconds, growth = 1.0, 0
        if memory_size:
            await asyncio.to_thread(_write_random, sd / "cache" / "huge.3mf", memory_size)
            await files.list_files(SERIAL, refresh=True)
            before = _RssPeak.current()
            with _RssPeak() as sampler:
                start = time.perf_counter()
                written = await _managed(files, SERIAL, "/cache", "huge.3mf")
                huge_seconds = time.perf_counter() - start
            await asyncio.to_thread(written.unlink)
            growth = sampler.peak - before
    finally:
        await files.stop()
        client.close()
        await server.stop()
    return {
        **_figures(size, best),
        "memory_file_mib": memory_size / MIB,
        "memory_mib_s": memory_size / MIB / huge_seconds,
        "rss_growth_mib": growth / MIB,
    }


def _client_context(cert_pem: str) -> Any:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags = ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=cert_pem)
    return context


async def bench_prusa(
    work: Path, size: int, rounds: int, family: str, link: float | None = None
) -> dict[str, float]:
    """Throughput ratio over PrusaLink HTTP (digest) for one family; `link` as for Bambu."""
    data = os.urandom(size)
    async with (
        PrusaSimulator(family=family, speed=60) as sim,
        aiohttp.ClientSession() as session,
    ):
        sim.main_storage.add_file("big.gcode", data)
        sim.main_storage.download_faults.rate = link
        del data
        adapter = PrusaAdapter(
            PrusaConfig(host=f"127.0.0.1:{sim.port}", username=sim.username, password=sim.password),
            session,
        )
        await adapter.start()
        files = FileManager(work / f"files-{family}", LIMITS)
        files.add_printer(family, adapter.files)
        await files.start()
        folder = "/usb" if family == "buddy" else "/local"
        listed = next(f for f in await adapter.list_files() if f.display_name == "big.gcode")
        raw_client = PrusaClient(
            session,
            base_url("127.0.0.1", sim.port),
            username=sim.username,
            password=sim.password,
            timeout=60,
        )
        # The printer's own download ref (Buddy serves the 8.3 path).
        route = listed.download or listed.path
        raw_dest = work / f"raw-{family}.gcode"
        loop = asyncio.get_running_loop()

        async def raw() -> Path:
            out = await asyncio.to_thread(raw_dest.open, "wb")
            try:
                buffer = bytearray()
                async with raw_client.stream(route) as download:
                    async for chunk in download.chunks(MIB):
                        buffer += chunk
                        if len(buffer) >= MIB:
                            await loop.run_in_executor(None, out.write, bytes(buffer))
                            buffer.clear()
                await loop.run_in_executor(None, out.write, bytes(buffer))
            finally:
                await asyncio.to_thread(out.close)
            return raw_dest

        try:
            best = await _best(rounds, raw, lambda: _managed(files, family, folder, "big.gcode"))
        finally:
            await files.stop()
            await adapter.stop()
    return _figures(size, best)


def _line(name: str, size_mb: int, result: dict[str, float]) -> str:
    return (
        f"{name:<12} {size_mb} MiB: raw {result['raw_mib_s']:.0f} MiB/s, managed "
        f"{result['managed_mib_s']:.0f} MiB/s, ratio {result['ratio']:.2f} (goal >= 0.8); "
        f"CPU s raw {result['raw_cpu_s']:.2f}, managed {result['managed_cpu_s']:.2f}"
    )


async def run(size_mb: int, memory_mb: int, rounds: int) -> None:
    """Print one line per transport."""
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="bench-files-"))
    print(
        f"files: raw clients receive to disk (no hash, no fsync); managed = SHA-256 in the "
        f"writing thread, .part, rename, index; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    try:
        bambu = await bench_bambu(work / "bambu", size_mb * MIB, memory_mb * MIB, rounds)
        print(_line("bambu ftps", size_mb, bambu))
        print(
            f"bambu ftps   {memory_mb} MiB file: {bambu['memory_mib_s']:.0f} MiB/s, peak RSS "
            f"growth {bambu['rss_growth_mib']:.1f} MiB (flat: independent of the file size)"
        )
        for family in ("buddy", "pi"):
            prusa = await bench_prusa(work, size_mb * MIB, rounds, family)
            print(_line(f"prusa {family}", size_mb, prusa))
        # A printer's link is far slower than loopback; at such speeds hashing is free.
        link = LINK_MIB_S * MIB
        size = LINK_FILE_MIB * MIB
        bambu = await bench_bambu(work / "bambu-link", size, 0, 2, link)
        prusa = await bench_prusa(work, size, 2, "buddy", link)
        for name, result in (("bambu ftps", bambu), ("prusa buddy", prusa)):
            print(
                f"{name:<12} {LINK_FILE_MIB} MiB over a {LINK_MIB_S} MiB/s link: raw "
                f"{result['raw_mib_s']:.1f} MiB/s, managed {result['managed_mib_s']:.1f} MiB/s, "
                f"ratio {result['ratio']:.2f}"
            )
    finally:
        await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    asyncio.run(run(args.size_mb, args.memory_mb, args.rounds))


if __name__ == "__main__":
    main()
