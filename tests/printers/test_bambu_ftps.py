"""The FTPS client against the simulated printer's FTPS server, over real TLS on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import datetime as dt
import ftplib
import logging
import os
from pathlib import Path
import socket
import ssl
from typing import Any

import pytest

from custom_components.printernizer.printers.bambu.ftps import (
    BambuFtpsClient,
    RemoteEntry,
    RemoteFileNotFoundError,
    _ImplicitFtpTls,
    _parse_list_line,
    _Sockets,
)
from custom_components.printernizer.printers.bambu.threemf import parse_3mf
from custom_components.printernizer.printers.errors import (
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    ProtocolError,
)
from simulator.bambu.certs import CertificateAuthority, PrinterCertificate
from simulator.bambu.ftps import BambuFtpsServer
from simulator.bambu.threemf import SlicedFilament, build_3mf

ACCESS_CODE = "12345678"
SERIAL = "01P00A000000001"


def pinned_context(leaf: PrinterCertificate) -> ssl.SSLContext:
    """The context the integration builds: the printer's leaf pinned, no hostname check."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags = ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=leaf.cert_pem)
    return context


@pytest.fixture
def leaf() -> PrinterCertificate:
    return CertificateAuthority.create().issue(SERIAL)


@pytest.fixture
def sd_card(tmp_path: Path) -> Path:
    root = tmp_path / "sd"
    root.mkdir()
    return root


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    directory = tmp_path / "downloads"
    directory.mkdir()
    return directory


@pytest.fixture
async def server(
    tmp_path: Path, sd_card: Path, leaf: PrinterCertificate
) -> AsyncIterator[BambuFtpsServer]:
    server = BambuFtpsServer(
        root=sd_card, access_code=ACCESS_CODE, ssl_context=leaf.server_context(tmp_path)
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def client(server: BambuFtpsServer, leaf: PrinterCertificate) -> BambuFtpsClient:
    return BambuFtpsClient(
        "127.0.0.1", ACCESS_CODE, port=server.port, ssl_context=pinned_context(leaf), timeout=5
    )


async def run[T](function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Blocking client calls leave the loop free for the server running on it."""
    return await asyncio.to_thread(function, *args, **kwargs)


def sliced_job() -> bytes:
    return build_3mf(
        subtask="Benchy",
        filaments=[
            SlicedFilament(material="PLA", color="#FF0000", grams=12.34, meters=4.1),
            SlicedFilament(material="PETG", color="#00AE42", grams=3.5, meters=1.2),
        ],
        prediction_seconds=5025,
        total_layers=40,
    )


async def test_lists_the_sd_card_layout(client: BambuFtpsClient) -> None:
    entries = await run(client.list_dir, "/")
    assert {(e.name, e.path, e.is_dir) for e in entries} >= {
        ("cache", "/cache", True),
        ("model", "/model", True),
        ("timelapse", "/timelapse", True),
    }


async def test_list_dates_recent_and_old(client: BambuFtpsClient, sd_card: Path) -> None:
    (sd_card / "timelapse" / "recent.mp4").write_bytes(b"x" * 10)
    old = sd_card / "timelapse" / "old video.mp4"
    old.write_bytes(b"")
    stamp = dt.datetime(2024, 6, 18, 0, 27, tzinfo=dt.UTC).timestamp()
    os.utime(old, (stamp, stamp))

    entries = {e.name: e for e in await run(client.list_dir, "/timelapse")}

    assert entries["old video.mp4"].modified == dt.datetime(2024, 6, 18)
    assert entries["old video.mp4"].path == "/timelapse/old video.mp4"
    recent = entries["recent.mp4"]
    assert (recent.size, recent.is_dir) == (10, False)
    assert recent.modified is not None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs(now - recent.modified) < dt.timedelta(minutes=2)


def entry(
    name: str, size: int, modified: dt.datetime | None, *, is_dir: bool = False
) -> RemoteEntry:
    return RemoteEntry(
        name=name, path=f"/timelapse/{name}", size=size, is_dir=is_dir, modified=modified
    )


JANUARY = dt.datetime(2026, 1, 5, 12, 0)


@pytest.mark.parametrize(
    ("line", "now", "expected"),
    [
        (
            "-rw-r--r-- 1 1000 1000 1632221 Jun 18 00:27 video 1.mp4",
            dt.datetime(2026, 6, 20),
            entry("video 1.mp4", 1632221, dt.datetime(2026, 6, 18, 0, 27)),
        ),
        (  # "Dec 31" cannot lie in the future of a January clock: last year
            "-rw-r--r--    1 0        0             12 Dec 31 23:59 b.3mf",
            JANUARY,
            entry("b.3mf", 12, dt.datetime(2025, 12, 31, 23, 59)),
        ),
        (
            "drwxr-xr-x 2 1000 1000 4096 Jan  3  2024 thumbnail",
            JANUARY,
            entry("thumbnail", 4096, dt.datetime(2024, 1, 3), is_dir=True),
        ),
        (
            "lrwxrwxrwx 1 0 0 11 Feb 29 12:00 sdcard -> /mnt/sdcard",
            JANUARY,
            entry("sdcard", 11, None),
        ),
        ("-rw-r--r-- 1 0 0 5 Foo 18 00:27 x", JANUARY, entry("x", 5, None)),
        ("total 12", JANUARY, None),
        ("drwxr-xr-x 2 0 0 4096 Jan  3 10:00 ..", JANUARY, None),
    ],
)
def test_list_lines_from_printers(
    line: str, now: dt.datetime, expected: RemoteEntry | None
) -> None:
    assert _parse_list_line("/timelapse", line, now) == expected


@pytest.mark.parametrize(
    ("line", "now", "expected"),
    [
        ("-rw-r--r-- 1 0 0 " + "9" * 5000 + " Jun 18 00:27 huge", JANUARY, None),
        ("-rw-r--r-- 1 0 0 " + str(10**30) + " Jun 18 00:27 huge", JANUARY, None),
        ("-rw-r--r-- 1 0 0 7 Jan  1  0000 year0", JANUARY, entry("year0", 7, None)),
        ("-rw-r--r-- 1 0 0 7 Feb 30  2024 feb30", JANUARY, entry("feb30", 7, None)),
        ("-rw-r--r-- 1 0 0 7 Dec 31 99:99 late", JANUARY, entry("late", 7, None)),
        ("-rw-r--r-- 1 0 0 7 Jan 99 10:00 day99", JANUARY, entry("day99", 7, None)),
        # A clock at the end of time: "this year" plus slack would overflow.
        ("-rw-r--r-- 1 0 0 7 Dec 31 23:59 end", dt.datetime.max, entry("end", 7, None)),
        # A clock in year 1: the previous year does not exist.
        ("-rw-r--r-- 1 0 0 7 Dec 31 23:59 start", dt.datetime(1, 1, 5), entry("start", 7, None)),
    ],
)
def test_absurd_list_lines_never_raise(
    line: str, now: dt.datetime, expected: RemoteEntry | None
) -> None:
    assert _parse_list_line("/timelapse", line, now) == expected


async def test_wrong_access_code_is_an_authentication_error(
    server: BambuFtpsServer, leaf: PrinterCertificate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = BambuFtpsClient(
        "127.0.0.1", "87654321", port=server.port, ssl_context=pinned_context(leaf), timeout=5
    )
    with pytest.raises(AuthenticationError) as caught:
        await run(client.list_dir, "/")
    assert "87654321" not in str(caught.value)
    assert "87654321" not in caplog.text
    assert ACCESS_CODE not in caplog.text


async def test_download_and_parse_a_sliced_job(
    client: BambuFtpsClient, sd_card: Path, downloads: Path
) -> None:
    job = sliced_job()
    (sd_card / "cache" / "Benchy.gcode.3mf").write_bytes(job)
    dest = downloads / "job.3mf"

    [entry] = await run(client.list_dir, "/cache")
    size = await run(client.download, entry.path, dest)

    assert size == entry.size == len(job) == await run(client.size, entry.path)
    assert dest.read_bytes() == job
    assert list(dest.parent.iterdir()) == [dest]  # the temporary file was renamed
    metadata = parse_3mf(dest)
    assert [(f.material, f.color, f.grams) for f in metadata.filaments] == [
        ("PLA", "#FF0000", 12.34),
        ("PETG", "#00AE42", 3.5),
    ]
    assert metadata.predicted_seconds == 5025
    assert metadata.total_grams == pytest.approx(15.84)
    assert metadata.thumbnail_png is not None
    assert metadata.thumbnail_png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_missing_file(client: BambuFtpsClient, downloads: Path) -> None:
    with pytest.raises(RemoteFileNotFoundError, match="550"):
        await run(client.download, "/cache/nothing.3mf", downloads / "job.3mf")
    assert list(downloads.iterdir()) == []  # no dest, no temporary left
    assert await run(client.size, "/cache/nothing.3mf") is None
    with pytest.raises(RemoteFileNotFoundError):
        await run(client.list_dir, "/nowhere")


async def test_download_larger_than_allowed_keeps_the_old_file(
    client: BambuFtpsClient, sd_card: Path, downloads: Path
) -> None:
    (sd_card / "big.3mf").write_bytes(b"x" * 300_000)
    dest = downloads / "job.3mf"
    dest.write_bytes(b"old")
    with pytest.raises(ProtocolError, match="exceeded"):
        await run(client.download, "/big.3mf", dest, max_bytes=100_000)
    assert dest.read_bytes() == b"old"
    assert list(downloads.iterdir()) == [dest]


async def test_upload_is_confirmed_by_size(
    client: BambuFtpsClient, sd_card: Path, tmp_path: Path
) -> None:
    source = tmp_path / "Benchy.gcode.3mf"
    source.write_bytes(os.urandom(1_000_000))

    assert await run(client.upload, source, "/Benchy.gcode.3mf") == 1_000_000
    assert (sd_card / "Benchy.gcode.3mf").read_bytes() == source.read_bytes()
    assert await run(client.size, "/Benchy.gcode.3mf") == 1_000_000


async def test_upload_into_a_missing_directory_is_refused(
    client: BambuFtpsClient, tmp_path: Path
) -> None:
    source = tmp_path / "a.3mf"
    source.write_bytes(b"data")
    with pytest.raises(ProtocolError, match="553"):
        await run(client.upload, source, "/nowhere/a.3mf")


async def test_hostile_paths_stay_inside_the_sd_card(
    client: BambuFtpsClient, sd_card: Path, downloads: Path
) -> None:
    (sd_card.parent / "secret.txt").write_text("outside")
    source = downloads / "evil.txt"
    source.write_text("evil")

    with pytest.raises(RemoteFileNotFoundError):
        await run(client.download, "/../secret.txt", downloads / "stolen.txt")
    with pytest.raises(RemoteFileNotFoundError):
        await run(client.list_dir, "/cache/../..")
    with pytest.raises(ProtocolError, match="553"):
        await run(client.upload, source, "../evil.txt")
    with pytest.raises(ProtocolError, match="control characters"):
        await run(client.size, "/a\r\nDELE /cache")
    assert not (downloads / "stolen.txt").exists()
    assert not (sd_card.parent / "evil.txt").exists()


class _NoSessionReuse(ftplib.FTP_TLS):
    """What plain ftplib does once TLS is on: every data connection negotiates a new session."""

    def connect(self, host: str = "", port: int = 0, *_: Any) -> str:
        self.host = host
        self.sock = self.context.wrap_socket(
            socket.create_connection((host, port), 5), server_hostname=host
        )
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        return self.getresp()


def _list_without_session_reuse(port: int, context: ssl.SSLContext) -> list[str]:
    ftp = _NoSessionReuse(context=context, timeout=5)
    try:
        ftp.connect("127.0.0.1", port)
        ftp.login("bblp", ACCESS_CODE)
        ftp.prot_p()
        return ftp.nlst("/")
    finally:
        ftp.close()


async def test_data_connection_without_session_reuse_is_refused(
    server: BambuFtpsServer, leaf: PrinterCertificate
) -> None:
    with pytest.raises(ftplib.error_perm, match="522 Data connections must reuse the TLS"):
        await run(_list_without_session_reuse, server.port, pinned_context(leaf))


async def test_session_reuse_can_be_relaxed(
    tmp_path: Path, sd_card: Path, leaf: PrinterCertificate
) -> None:
    lenient = BambuFtpsServer(
        root=sd_card,
        access_code=ACCESS_CODE,
        ssl_context=leaf.server_context(tmp_path),
        require_session_reuse=False,
    )
    await lenient.start()
    try:
        names = await run(_list_without_session_reuse, lenient.port, pinned_context(leaf))
    finally:
        await lenient.stop()
    assert sorted(names) == ["cache", "model", "timelapse"]


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["TLSv1.2", "TLSv1.3"]
)
async def test_data_connections_resume_the_control_session(
    server: BambuFtpsServer, leaf: PrinterCertificate, version: ssl.TLSVersion
) -> None:
    """TLS 1.3 tickets arrive after the handshake; reading the session lazily still finds them."""
    context = pinned_context(leaf)
    context.minimum_version = context.maximum_version = version

    def transfers() -> list[bool | None]:
        ftp = _ImplicitFtpTls(_Sockets(), context=context, timeout=5)
        try:
            ftp.connect("127.0.0.1", server.port)
            ftp.login("bblp", ACCESS_CODE)
            ftp.prot_p()
            reused = []
            for _ in range(3):
                with ftp.transfercmd("NLST /") as conn:
                    assert isinstance(conn, ssl.SSLSocket)
                    reused.append(conn.session_reused)
                    while conn.recv(1024):
                        pass
                    conn.unwrap()
                ftp.voidresp()
            return reused
        finally:
            ftp.close()

    assert await run(transfers) == [True, True, True]


async def test_unreachable_printer_is_offline(leaf: PrinterCertificate) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = BambuFtpsClient(
        "127.0.0.1", ACCESS_CODE, port=port, ssl_context=pinned_context(leaf), timeout=5
    )
    with pytest.raises(PrinterOfflineError):
        await run(client.list_dir, "/")


async def test_silent_printer_times_out(leaf: PrinterCertificate) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    client = BambuFtpsClient(
        "127.0.0.1",
        ACCESS_CODE,
        port=silent.sockets[0].getsockname()[1],
        ssl_context=pinned_context(leaf),
        timeout=0.3,
    )
    try:
        with pytest.raises(PrinterOfflineError, match="timed out"):
            await run(client.list_dir, "/")
    finally:
        silent.close()
        await silent.wait_closed()


async def test_other_certificate_is_a_mismatch(server: BambuFtpsServer) -> None:
    impostor = CertificateAuthority.create().issue(SERIAL)
    client = BambuFtpsClient(
        "127.0.0.1", ACCESS_CODE, port=server.port, ssl_context=pinned_context(impostor), timeout=5
    )
    with pytest.raises(CertificateMismatchError):
        await run(client.list_dir, "/")


async def test_stop_drops_connections_and_leaves_no_task(
    server: BambuFtpsServer, leaf: PrinterCertificate
) -> None:
    ftp = _ImplicitFtpTls(_Sockets(), context=pinned_context(leaf), timeout=5)
    await run(ftp.connect, "127.0.0.1", server.port)
    await run(ftp.login, "bblp", ACCESS_CODE)
    await run(ftp.sendcmd, "PASV")  # a pending data listener must go too

    await server.stop()

    assert asyncio.all_tasks() == {asyncio.current_task()}
    with pytest.raises((EOFError, OSError)):
        await run(ftp.voidcmd, "NOOP")
    ftp.close()


async def test_close_interrupts_a_stalled_session_and_refuses_new_ones(
    leaf: PrinterCertificate,
) -> None:
    """Unloading must not leave a thread talking to the printer for the whole timeout."""
    accepted = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # never answers the TLS handshake
        writer.close()

    silent = await asyncio.start_server(stall, "127.0.0.1", 0)
    client = BambuFtpsClient(
        "127.0.0.1",
        ACCESS_CODE,
        port=silent.sockets[0].getsockname()[1],
        ssl_context=pinned_context(leaf),
        timeout=60,
    )
    try:
        listing = asyncio.create_task(run(client.list_dir, "/"))
        await asyncio.wait_for(accepted.wait(), 10)
        client.close()
        async with asyncio.timeout(10):  # far below the client's own 60 s timeout
            with pytest.raises(PrinterOfflineError):
                await listing
        with pytest.raises(PrinterOfflineError, match="closed"):
            await run(client.size, "/cache/x.3mf")
    finally:
        silent.close()
        await silent.wait_closed()
