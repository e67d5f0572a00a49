"""The simulated printer's FTPS server, command by command, driven by ftplib over real TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import ftplib
from pathlib import Path
import re
import ssl

import pytest

from custom_components.printernizer.printers.bambu.ftps import _ImplicitFtpTls
from simulator.bambu.certs import CertificateAuthority
from simulator.bambu.ftps import BambuFtpsServer

ACCESS_CODE = "12345678"


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[BambuFtpsServer, ssl.SSLContext, Path]]:
    leaf = CertificateAuthority.create().issue("01P00A000000001")
    root = tmp_path / "sd"
    server = BambuFtpsServer(
        root=root, access_code=ACCESS_CODE, ssl_context=leaf.server_context(tmp_path)
    )
    await server.start()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags = ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=leaf.cert_pem)
    yield server, context, root
    await server.stop()


async def session(
    setup: tuple[BambuFtpsServer, ssl.SSLContext, Path],
    script: Callable[[_ImplicitFtpTls], None],
    *,
    login: bool = True,
) -> None:
    """Run a blocking ftplib script in a thread while the server runs on this loop."""
    server, context, _ = setup

    def run() -> None:
        ftp = _ImplicitFtpTls(context=context, timeout=5)
        try:
            ftp.connect("127.0.0.1", server.port)
            if login:
                ftp.login("bblp", ACCESS_CODE)
                ftp.prot_p()
            script(ftp)
        finally:
            ftp.close()

    await asyncio.to_thread(run)


async def test_creates_the_sd_card_layout(setup: tuple[BambuFtpsServer, ssl.SSLContext, Path]):
    root = setup[2]
    assert sorted(p.name for p in root.iterdir()) == ["cache", "model", "timelapse"]


async def test_commands_need_a_login(setup: tuple[BambuFtpsServer, ssl.SSLContext, Path]):
    def script(ftp: _ImplicitFtpTls) -> None:
        assert ftp.getwelcome().startswith("220")
        assert ftp.sendcmd("SYST") == "215 UNIX Type: L8"
        assert "PROT" in ftp.sendcmd("FEAT")
        with pytest.raises(ftplib.error_perm, match="530 Please login"):
            ftp.sendcmd("PWD")
        with pytest.raises(ftplib.error_perm, match="503"):
            ftp.sendcmd("PASS " + ACCESS_CODE)
        with pytest.raises(ftplib.error_perm, match="530 Login incorrect"):
            ftp.login("root", ACCESS_CODE)
        assert ftp.login("bblp", ACCESS_CODE).startswith("230")
        assert ftp.quit().startswith("221")

    await session(setup, script, login=False)


async def test_directories(setup: tuple[BambuFtpsServer, ssl.SSLContext, Path]):
    root = setup[2]

    def script(ftp: _ImplicitFtpTls) -> None:
        assert ftp.pwd() == "/"
        ftp.cwd("cache")
        assert ftp.pwd() == "/cache"
        assert ftp.mkd("jobs") == "/cache/jobs"
        ftp.cwd("..")  # ftplib sends CDUP
        assert ftp.pwd() == "/"
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.cwd("missing")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.cwd("/cache/../..")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.mkd("cache")  # exists
        (root / "cache" / "jobs" / "a.3mf").write_bytes(b"abc")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.rmd("/cache/jobs")  # not empty
        assert ftp.nlst("/cache/jobs") == ["a.3mf"]
        assert re.fullmatch(r"213 \d{14}", ftp.sendcmd("MDTM /cache/jobs/a.3mf"))
        assert ftp.delete("/cache/jobs/a.3mf").startswith("250")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.delete("/cache/jobs/a.3mf")
        ftp.rmd("/cache/jobs")
        with pytest.raises(ftplib.error_perm, match="550"):
            ftp.rmd("/")

    await session(setup, script)
    assert not (root / "cache" / "jobs").exists()


async def test_list_lines_look_like_the_printers(
    setup: tuple[BambuFtpsServer, ssl.SSLContext, Path],
):
    (setup[2] / "timelapse" / "video_1.mp4").write_bytes(b"v" * 1632)
    lines: list[str] = []

    def script(ftp: _ImplicitFtpTls) -> None:
        ftp.retrlines("LIST /timelapse", lines.append)
        ftp.retrlines("LIST -la /", lines.append)

    await session(setup, script)
    assert re.fullmatch(
        r"-rw-r--r-- 1 1000 1000 +1632 [A-Z][a-z]{2} [ \d]\d \d\d:\d\d video_1.mp4",
        lines[0],
    )
    assert [line.split()[-1] for line in lines[1:]] == ["cache", "model", "timelapse"]
    assert all(line.startswith("drwxr-xr-x") for line in lines[1:])


async def test_data_connection_rules(setup: tuple[BambuFtpsServer, ssl.SSLContext, Path]):
    def script(ftp: _ImplicitFtpTls) -> None:
        with pytest.raises(ftplib.error_temp, match="425 Use PASV"):
            ftp.sendcmd("NLST /")
        with pytest.raises(ftplib.error_perm, match="536"):
            ftp.sendcmd("PROT C")
        assert ftp.sendcmd("EPSV").startswith("229")
        with pytest.raises(ftplib.error_perm, match="522 Data connections must be encrypted"):
            ftp.sendcmd("NLST /")  # this session never sent PROT P
        with pytest.raises(ftplib.error_perm, match="502"):
            ftp.sendcmd("SITE CHMOD 777 /")
        with pytest.raises(ftplib.error_perm, match="504"):
            ftp.sendcmd("TYPE E")

    def login_without_prot(ftp: _ImplicitFtpTls) -> None:
        ftp.login("bblp", ACCESS_CODE)
        script(ftp)

    await session(setup, login_without_prot, login=False)


async def test_overlong_command_drops_the_connection(
    setup: tuple[BambuFtpsServer, ssl.SSLContext, Path],
):
    def script(ftp: _ImplicitFtpTls) -> None:
        sock = ftp.sock
        assert sock is not None

        def send_overlong_command() -> None:
            sock.sendall(b"NOOP " + b"x" * 100_000 + b"\r\n")
            ftp.voidresp()

        # The server may cut us off while we are still sending, or when we read the answer.
        with pytest.raises((EOFError, OSError)):
            send_overlong_command()

    await session(setup, script)
