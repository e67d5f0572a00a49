"""The simulated printer's implicit FTPS server (port 990 on real printers).

Behaves like the firmware where clients trip: TLS from the first byte, `bblp` + access code,
passive mode only, Unix-style LIST, 550 for missing files, and data connections that must
resume the control connection's TLS session (X1 firmware refuses the others).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import datetime as dt
import hmac
import logging
import os
import pathlib
import posixpath
import ssl
import stat
from typing import BinaryIO

from simulator.servers import close_server, closed_server

_LOGGER = logging.getLogger(__name__)

USER = "bblp"
SD_DIRECTORIES = ("cache", "model", "timelapse")
_CHUNK = 64 * 1024
_DATA_TIMEOUT = 10.0  # to connect and finish the TLS handshake
_TLS_SHUTDOWN_TIMEOUT = 5.0
_MAX_COMMAND = 4096
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RECENT = dt.timedelta(days=180)
_NO_LOGIN_NEEDED = frozenset({"USER", "PASS", "QUIT", "FEAT", "SYST", "NOOP", "PBSZ", "PROT"})
_FIXED_REPLIES = {
    "PBSZ": "200 PBSZ=0",
    "SYST": "215 UNIX Type: L8",
    "NOOP": "200 NOOP ok.",
    "FEAT": "211-Features:\r\n EPSV\r\n MDTM\r\n PASV\r\n PBSZ\r\n PROT\r\n SIZE\r\n211 End",
}

_DataAction = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(slots=True)
class FtpsFaults:
    """Misbehaviour on demand, and counters so tests can tell a client hammers the printer.

    `refuse` makes LIST, NLST, RETR and SIZE answer 550, as firmware does while printing (a
    callable is asked each time, so it can follow the print state). `rate` slows RETR down to
    that many bytes per second. The next `drops` RETRs send `drop_after` bytes, then cut the
    data connection and answer 426. `phantoms` adds LIST lines for files that are not there
    (hostile names; files that vanish before they are fetched): folder -> [(name, size)].
    """

    refuse: bool | Callable[[], bool] = False
    no_resume: bool = False  # REST answers 502, as a firmware without resume would
    restarts: list[int] = field(default_factory=list)  # REST offsets taken, in order
    rate: float | None = None
    drop_after: int = 0
    drops: int = 0
    phantoms: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)  # LIST/NLST arguments, in order
    fetched: list[str] = field(default_factory=list)  # RETR arguments, in order

    def refusing(self) -> bool:
        """Whether file access is refused right now."""
        return self.refuse() if callable(self.refuse) else self.refuse


class BambuFtpsServer:
    """Implicit FTPS over asyncio; `root` is the simulated SD card."""

    def __init__(
        self,
        *,
        root: pathlib.Path,
        access_code: str,
        ssl_context: ssl.SSLContext,
        require_session_reuse: bool = True,
    ) -> None:
        self.root = root
        self.access_code = access_code
        self.ssl_context = ssl_context
        self.require_session_reuse = require_session_reuse
        self.faults = FtpsFaults()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()

    @property
    def port(self) -> int:
        """The bound control port (useful after starting on port 0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Create the SD card layout and listen."""
        await asyncio.to_thread(self._create_layout)
        # TLS is started per connection, so a client rejecting our certificate is a quiet
        # end of its session rather than an asyncio "error on transport creation".
        self._server = await asyncio.start_server(self._serve, host, port, limit=_MAX_COMMAND)

    async def stop(self) -> None:
        """Stop listening and drop every control and data connection."""
        server, self._server = self._server, None
        if server is None:
            return
        await closed_server(server)
        sessions = list(self._sessions)
        for session in sessions:
            session.task.cancel()
        await asyncio.gather(*(session.task for session in sessions), return_exceptions=True)
        server.abort_clients()
        await server.wait_closed()

    def _create_layout(self) -> None:
        for name in SD_DIRECTORIES:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)


class _Passive:
    """One PASV/EPSV listener that hands over exactly one TLS data connection."""

    def __init__(self) -> None:
        self.connection: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )
        self._server: asyncio.Server | None = None

    async def listen(self, host: str) -> int:
        # Plain TCP: TLS starts only after the 150 reply, when clients begin their handshake.
        self._server = await asyncio.start_server(self._accept, host, 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connection.done():
            writer.close()
        else:
            self.connection.set_result((reader, writer))

    def stop_listening(self) -> None:
        if self._server is not None:
            close_server(self._server)

    def abort(self) -> None:
        """Tear down the listener and any connection it accepted."""
        if self._server is not None:
            close_server(self._server, abort_clients=True)
        self.connection.cancel()


class _Session:
    """One control connection."""

    def __init__(
        self, server: BambuFtpsServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self._server = server
        self._reader = reader
        self._writer = writer
        # The address the client reached: read now, since a transport that is closing (the
        # client left mid-command) no longer has it.
        self._host: str = writer.get_extra_info("sockname")[0]
        self._user: str | None = None
        self._logged_in = False
        self._protected = False
        self._cwd = "/"
        self._passive: _Passive | None = None
        self._transfer: _Passive | None = None
        self._rest = 0
        self._quit = False

    async def run(self) -> None:
        try:
            await self._writer.start_tls(
                self._server.ssl_context, ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT
            )
            await self._reply(220, "Bambu Lab FTPS simulator ready")
            while not self._quit:
                line = await self._reader.readline()
                if not line.endswith(b"\n"):
                    break
                await self._dispatch(line)
        except (OSError, ValueError):  # a failed handshake, a vanished client, a huge line
            pass
        finally:
            for passive in (self._passive, self._transfer):
                if passive is not None:
                    passive.abort()
            self._writer.close()

    async def _dispatch(self, line: bytes) -> None:
        try:
            text = line.decode().rstrip("\r\n")
        except UnicodeDecodeError:
            await self._reply(501, "Command is not valid UTF-8.")
            return
        verb, _, arg = text.partition(" ")
        verb = verb.upper()
        _LOGGER.debug("FTPS <- %s", "PASS ****" if verb == "PASS" else text)
        fixed = _FIXED_REPLIES.get(verb)
        handler: Callable[[str], Awaitable[None]] | None = (
            getattr(self, f"_cmd_{verb.lower()}", None) if verb.isalpha() else None
        )
        if not self._logged_in and verb not in _NO_LOGIN_NEEDED:
            await self._reply(530, "Please login with USER and PASS.")
        elif fixed is not None:
            self._writer.write(f"{fixed}\r\n".encode())
            await self._writer.drain()
        elif handler is not None:
            await handler(arg)
        else:
            await self._reply(502, f"{verb} not implemented.")

    async def _reply(self, code: int, text: str) -> None:
        self._writer.write(f"{code} {text}\r\n".encode())
        await self._writer.drain()

    def _resolve(self, arg: str) -> tuple[str, pathlib.Path] | None:
        """Virtual and real path, or None for names that try to leave the SD card."""
        if "\0" in arg or "\\" in arg:
            return None
        parts = [p for p in posixpath.join(self._cwd, arg).split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        return "/" + "/".join(parts), self._server.root.joinpath(*parts)

    async def _stat(
        self, arg: str, kind: Callable[[int], bool]
    ) -> tuple[str, pathlib.Path, os.stat_result] | None:
        """Virtual path, real path and stat of an entry of that kind, else None."""
        resolved = self._resolve(arg)
        if resolved is None:
            return None
        try:
            info = await asyncio.to_thread(resolved[1].stat)
        except OSError:
            return None
        return (*resolved, info) if kind(info.st_mode) else None

    # --- login and session settings

    async def _cmd_user(self, arg: str) -> None:
        self._user, self._logged_in = arg, False
        await self._reply(331, "Please specify the password.")

    async def _cmd_pass(self, arg: str) -> None:
        if self._user is None:
            await self._reply(503, "Login with USER first.")
            return
        good = self._user == USER and hmac.compare_digest(
            arg.encode(), self._server.access_code.encode()
        )
        self._user, self._logged_in = None, good
        await self._reply(*((230, "Login successful.") if good else (530, "Login incorrect.")))

    async def _cmd_prot(self, arg: str) -> None:
        if arg.upper() == "P":
            self._protected = True
            await self._reply(200, "PROT now Private.")
        else:
            await self._reply(536, "Only PROT P is supported.")

    async def _cmd_type(self, arg: str) -> None:
        if arg.upper() in ("A", "A N", "I", "L 8"):
            await self._reply(200, "Switching to Binary mode.")
        else:
            await self._reply(504, "Unsupported type.")

    async def _cmd_rest(self, arg: str) -> None:
        faults = self._server.faults
        if faults.no_resume:
            await self._reply(502, "REST not implemented.")
        elif not arg.isdigit():
            await self._reply(501, "Bad REST offset.")
        else:
            self._rest = int(arg)
            faults.restarts.append(self._rest)
            await self._reply(350, f"Restart position accepted ({self._rest}).")

    async def _cmd_quit(self, arg: str) -> None:
        self._quit = True
        await self._reply(221, "Goodbye.")

    # --- directories and file facts

    async def _cmd_pwd(self, arg: str) -> None:
        await self._reply(257, f'"{self._cwd}" is the current directory')

    async def _cmd_cwd(self, arg: str) -> None:
        found = await self._stat(arg, stat.S_ISDIR)
        if found is None:
            await self._reply(550, "Failed to change directory.")
            return
        self._cwd = found[0]
        await self._reply(250, "Directory successfully changed.")

    async def _cmd_cdup(self, arg: str) -> None:
        self._cwd = posixpath.dirname(self._cwd)
        await self._reply(250, "Directory successfully changed.")

    async def _cmd_size(self, arg: str) -> None:
        found = None if self._server.faults.refusing() else await self._stat(arg, stat.S_ISREG)
        if found is None:
            await self._reply(550, "Could not get file size.")
        else:
            await self._reply(213, str(found[2].st_size))

    async def _cmd_mdtm(self, arg: str) -> None:
        found = await self._stat(arg, stat.S_ISREG)
        if found is None:
            await self._reply(550, "Could not get file modification time.")
        else:
            when = dt.datetime.fromtimestamp(found[2].st_mtime, dt.UTC)
            await self._reply(213, when.strftime("%Y%m%d%H%M%S"))

    async def _cmd_dele(self, arg: str) -> None:
        await self._filesystem_change(arg, pathlib.Path.unlink, 250, "Delete operation successful.")

    async def _cmd_rmd(self, arg: str) -> None:
        await self._filesystem_change(
            arg, pathlib.Path.rmdir, 250, "Remove directory operation ok."
        )

    async def _cmd_mkd(self, arg: str) -> None:
        resolved = self._resolve(arg)
        text = f'"{resolved[0]}" created' if resolved else ""
        await self._filesystem_change(arg, pathlib.Path.mkdir, 257, text)

    async def _filesystem_change(
        self, arg: str, change: Callable[[pathlib.Path], None], code: int, text: str
    ) -> None:
        resolved = self._resolve(arg)
        if resolved is None or resolved[0] == "/":
            await self._reply(550, "Permission denied.")
            return
        try:
            await asyncio.to_thread(change, resolved[1])
        except OSError:
            await self._reply(550, "Requested action not taken.")
        else:
            await self._reply(code, text)

    # --- data connections

    async def _cmd_pasv(self, arg: str) -> None:
        port = await self._listen()
        numbers = ",".join([*self._host.split("."), str(port >> 8), str(port & 0xFF)])
        await self._reply(227, f"Entering Passive Mode ({numbers}).")

    async def _cmd_epsv(self, arg: str) -> None:
        port = await self._listen()
        await self._reply(229, f"Entering Extended Passive Mode (|||{port}|)")

    async def _listen(self) -> int:
        if self._passive is not None:
            self._passive.abort()
        self._passive = _Passive()
        return await self._passive.listen(self._host)

    async def _cmd_list(self, arg: str) -> None:
        await self._cmd_nlst(arg, long=True)

    async def _cmd_nlst(self, arg: str, *, long: bool = False) -> None:
        target = " ".join(word for word in arg.split(" ") if not word.startswith("-"))
        faults = self._server.faults
        faults.listed.append(target)
        resolved = self._resolve(target)
        lines = await asyncio.to_thread(_list, resolved[1], long) if resolved else None
        if lines is None or faults.refusing():
            await self._reply(550, "No such file or directory.")
            return
        assert resolved is not None
        now = dt.datetime.now(dt.UTC)
        for name, size in faults.phantoms.get(resolved[0], ()):
            lines.append(_phantom_line(name, size, now) if long else name)
        payload = "".join(f"{line}\r\n" for line in lines).encode()

        async def send(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(payload)
            await writer.drain()

        await self._data_transfer("Here comes the directory listing.", send)

    async def _cmd_retr(self, arg: str) -> None:
        faults = self._server.faults
        faults.fetched.append(arg)
        found = None if faults.refusing() else await self._stat(arg, stat.S_ISREG)
        if found is None:
            await self._reply(550, "Failed to open file.")
            return
        path = found[1]
        cut = faults.drop_after if faults.drops > 0 else None
        if cut is not None:
            faults.drops -= 1
        rate = faults.rate
        start, self._rest = self._rest, 0

        async def send(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            file = await asyncio.to_thread(path.open, "rb")
            await asyncio.to_thread(file.seek, start)
            sent = 0
            try:
                while chunk := await asyncio.to_thread(file.read, _CHUNK):
                    if cut is not None and sent + len(chunk) > cut:
                        writer.write(chunk[: cut - sent])
                        await writer.drain()
                        writer.transport.abort()
                        raise ConnectionResetError("transfer cut (fault injected)")
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
                    if rate:
                        await asyncio.sleep(len(chunk) / rate)
            finally:
                await asyncio.to_thread(file.close)

        await self._data_transfer(f"Opening BINARY mode data connection for {arg}.", send)

    async def _cmd_stor(self, arg: str) -> None:
        resolved = self._resolve(arg)
        parent = (
            await self._stat(posixpath.dirname(resolved[0]), stat.S_ISDIR) if resolved else None
        )
        if resolved is None or parent is None or await self._stat(arg, stat.S_ISDIR):
            await self._reply(553, "Could not create file.")
            return
        path = resolved[1]

        async def receive(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
            # Written in place, as printers do: a reader may see a growing file.
            file: BinaryIO = await asyncio.to_thread(path.open, "wb")
            try:
                while chunk := await reader.read(_CHUNK):
                    await asyncio.to_thread(file.write, chunk)
            finally:
                await asyncio.to_thread(file.close)

        await self._data_transfer("Ok to send data.", receive)

    async def _data_transfer(self, opening: str, action: _DataAction) -> None:
        """Run one transfer over the pending passive connection, then report how it went.

        If the session is torn down midway, `self._transfer` stays set so `run` aborts it.
        """
        if self._passive is None:
            await self._reply(425, "Use PASV or EPSV first.")
            return
        if not self._protected:
            await self._reply(522, "Data connections must be encrypted (PROT P).")
            return
        transfer = self._transfer = self._passive
        self._passive = None
        await self._reply(150, opening)
        try:
            async with asyncio.timeout(_DATA_TIMEOUT):
                reader, writer = await transfer.connection
                transfer.stop_listening()
                await writer.start_tls(
                    self._server.ssl_context, ssl_shutdown_timeout=_TLS_SHUTDOWN_TIMEOUT
                )
        except OSError:  # includes TimeoutError and failed handshakes
            transfer.abort()
            self._transfer = None
            await self._reply(425, "Failed to establish connection.")
            return
        code, text = 226, "Transfer complete."
        try:
            if self._server.require_session_reuse and not _session_reused(writer):
                code, text = 522, "Data connections must reuse the TLS session."
            else:
                await action(reader, writer)
        except OSError:  # the peer vanished, or the SD card failed us
            code, text = 426, "Failure reading network stream."
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        self._transfer = None
        await self._reply(code, text)


def _session_reused(writer: asyncio.StreamWriter) -> bool:
    ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
    return ssl_object.session_reused


def _list(path: pathlib.Path, long: bool) -> list[str] | None:
    """Listing lines for a directory or a single file, None when it does not exist."""
    try:
        info = path.stat()
        if not stat.S_ISDIR(info.st_mode):
            entries = [(path.name, info)]
        else:
            with os.scandir(path) as scan:
                entries = sorted(
                    ((entry.name, entry.stat()) for entry in scan), key=lambda item: item[0]
                )
    except OSError:
        return None
    if not long:
        return [name for name, _ in entries]
    now = dt.datetime.now(dt.UTC)
    return [_list_line(name, info, now) for name, info in entries]


def _phantom_line(name: str, size: int, now: dt.datetime) -> str:
    """A LIST line for a file that does not exist (its name may be anything but a newline)."""
    return f"-rw-r--r-- 1 1000 1000 {size:>8} {_MONTHS[now.month - 1]} {now.day:>2} 00:00 {name}"


def _list_line(name: str, info: os.stat_result, now: dt.datetime) -> str:
    """`-rw-r--r-- 1 1000 1000 1632221 Jun 18 00:27 name`; a year replaces old times."""
    mode = "drwxr-xr-x" if stat.S_ISDIR(info.st_mode) else "-rw-r--r--"
    when = dt.datetime.fromtimestamp(info.st_mtime, dt.UTC)
    clock = f"{when:%H:%M}" if abs(now - when) < _RECENT else f" {when.year}"
    date = f"{_MONTHS[when.month - 1]} {when.day:>2} {clock}"
    return f"{mode} 1 1000 1000 {info.st_size:>8} {date} {name}"
