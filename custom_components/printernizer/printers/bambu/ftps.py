"""Blocking FTPS client for the printer's SD card (implicit TLS, port 990).

Three things plain ftplib gets wrong against Bambu firmware: TLS must start on connect (no
AUTH TLS), data connections must resume the control connection's TLS session (X1 refuses
others), and after STOR the printer never answers close_notify, so we must not wait for it.
Every call opens its own connection, so one client object is safe to share between threads;
call the methods from an executor, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass
import datetime as dt
import ftplib
import os
from pathlib import Path
import posixpath
import re
import socket
import ssl
import tempfile
import threading

from ..errors import (
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
    ProtocolError,
)
from ..values import integer

USER = "bblp"
DEFAULT_PORT = 990
_CHUNK = 64 * 1024
_MAX_LISTING_BYTES = 4 * 1024 * 1024
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_LIST_LINE = re.compile(
    r"(?P<mode>[-dl])[-rwxsStT]{9}\S*\s+\d+\s+\S+\s+\S+\s+(?P<size>\d+)\s+"
    r"(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?:(?P<hour>\d{1,2}):(?P<minute>\d{2})|"
    r"(?P<year>\d{4}))\s(?P<name>.+)"
)
# Printer clocks run in UTC, UTC+8 or local time; this much "future" still means this year.
_CLOCK_SLACK = dt.timedelta(days=2)


class RemoteFileNotFoundError(ProtocolError):
    """The printer answered 550: no such file or directory."""


class ResumeRefusedError(ProtocolError):
    """The printer refused REST: a transfer cannot continue where it stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteEntry:
    """One LIST line.

    `modified` is the printer's wall clock without a time zone (firmware is inconsistent);
    good for ordering files, not for absolute times. None when the line carries no valid date.
    """

    name: str
    path: str
    size: int
    is_dir: bool
    modified: dt.datetime | None


class _Sockets:
    """The sockets of running sessions, so `close()` can end them from another thread.

    A tracker with a `parent` (one transfer's) hands its sockets to the parent too, so closing
    the client still ends every transfer while closing the transfer ends only its own.
    """

    def __init__(self, parent: _Sockets | None = None) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._parent = parent
        self.closed = False

    def add(self, sock: socket.socket) -> None:
        """Track `sock`; once closed, close it at once instead (no session starts after stop)."""
        with self._lock:
            if not self.closed:
                self._open.add(sock)
                added = True
            else:
                added = False
        if added and self._parent is not None:
            try:
                self._parent.add(sock)
            except PrinterOfflineError:
                self.discard(sock)
                raise
        if added:
            return
        sock.close()
        raise PrinterOfflineError("FTPS client closed")

    def discard(self, sock: socket.socket) -> None:
        """Stop tracking a socket its session has closed."""
        with self._lock:
            self._open.discard(sock)
        if self._parent is not None:
            self._parent.discard(sock)

    def close(self) -> None:
        """Refuse new sockets and shut the open ones down, which ends any blocking call on them."""
        with self._lock:
            self.closed = True
            running = list(self._open)
        for sock in running:
            # The plain socket's shutdown: SSLSocket.shutdown drops its SSL object, which
            # a thread blocked in a read or handshake is still using.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class FtpsTransfer:
    """One transfer's sockets: `close()` (from any thread) ends just that transfer."""

    def __init__(self, sockets: _Sockets) -> None:
        self.sockets = sockets

    def close(self) -> None:
        """Shut the transfer's sockets down; its blocking call then fails promptly."""
        self.sockets.close()


class _ImplicitFtpTls(ftplib.FTP_TLS):
    """FTP_TLS speaking TLS from the first byte and resuming its TLS session on data channels."""

    def __init__(
        self, sockets: _Sockets | None = None, *, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(context=context, timeout=timeout)
        self._sockets = sockets or _Sockets()
        self._mine: list[socket.socket] = []

    def _wrap(
        self, raw: socket.socket, *, server_hostname: str, session: ssl.SSLSession | None = None
    ) -> ssl.SSLSocket:
        """TLS over `raw`, tracked before the handshake so `close()` can interrupt that too."""
        try:
            sock = self.context.wrap_socket(
                raw, server_hostname=server_hostname, session=session, do_handshake_on_connect=False
            )
        except BaseException:
            raw.close()
            raise
        self._sockets.add(sock)
        self._mine.append(sock)
        sock.do_handshake()
        return sock

    def close(self) -> None:
        """Close as ftplib does and forget this session's sockets."""
        try:
            super().close()
        finally:
            for sock in self._mine:
                self._sockets.discard(sock)
                sock.close()
            self._mine.clear()

    def connect(
        self,
        host: str = "",
        port: int = 0,
        timeout: float = -999,
        source_address: tuple[str, int] | None = None,
    ) -> str:
        """Connect and handshake before reading the greeting.

        The signature is ftplib's; the constructor's timeout applies.
        """
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self._wrap(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        """Open a data connection that resumes the control connection's TLS session.

        The session is read here, not right after connecting: with TLS 1.3 the ticket comes
        after the handshake and is only processed as we read, so `sock.session` has no
        ticket until the greeting has been read.
        """
        # Skip FTP_TLS's own wrapping, which would start a fresh TLS session.
        conn, size = super(ftplib.FTP_TLS, self).ntransfercmd(cmd, rest)
        session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
        return self._wrap(conn, server_hostname=self.host, session=session), size


class BambuFtpsClient:
    """The printer's FTPS file access; methods block and map failures to adapter errors.

    `ssl_context` is the caller's (normally pinned to the printer's certificate). Network and
    protocol failures raise AdapterError subclasses; local file errors stay OSError.
    """

    def __init__(
        self,
        host: str,
        access_code: str,
        *,
        port: int = DEFAULT_PORT,
        ssl_context: ssl.SSLContext,
        timeout: float = 15,
    ) -> None:
        self._host = host
        self._access_code = access_code
        self._port = port
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._sockets = _Sockets()

    def close(self) -> None:
        """End running transfers and refuse new ones; safe from any thread, e.g. on unload."""
        self._sockets.close()

    def transfer(self) -> FtpsTransfer:
        """A handle that can end one `retrieve` (cancel) without closing the client."""
        return FtpsTransfer(_Sockets(self._sockets))

    def retrieve(
        self,
        remote_path: str,
        sink: Callable[[bytes], object],
        *,
        transfer: FtpsTransfer | None = None,
        max_bytes: int | None = None,
        offset: int = 0,
    ) -> int:
        """Stream a remote file into `sink` chunk by chunk; returns the byte count.

        With `offset`, the printer is asked (REST) to start there; ResumeRefusedError if not.

        Whatever `sink` raises ends the transfer (the session is closed) and propagates.
        `transfer.close()` from another thread ends it with an adapter error. A missing file
        (or one the printer will not hand out now) raises RemoteFileNotFoundError.
        """
        _check_path(remote_path)
        sockets = transfer.sockets if transfer is not None else None
        with self._session(sockets) as ftp:
            return _retrieve(ftp, f"RETR {remote_path}", sink, max_bytes, offset)

    def delete(self, remote_path: str) -> None:
        """Delete a remote file; RemoteFileNotFoundError when it is not there."""
        _check_path(remote_path)
        with self._session() as ftp:
            ftp.delete(remote_path)

    def list_dir(self, path: str = "/") -> list[RemoteEntry]:
        """Entries of a remote directory, without "." and ".."."""
        _check_path(path)
        chunks: list[bytes] = []
        with self._session() as ftp:
            _retrieve(ftp, f"LIST {path}", chunks.append, _MAX_LISTING_BYTES)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lines = b"".join(chunks).decode(errors="replace").splitlines()
        return [entry for line in lines if (entry := _parse_list_line(path, line, now))]

    def size(self, path: str) -> int | None:
        """Size of a remote file in bytes, or None when it does not exist."""
        _check_path(path)
        with self._session() as ftp:
            ftp.voidcmd("TYPE I")
            try:
                return ftp.size(path)
            except ftplib.error_perm as err:
                if str(err).startswith("550"):
                    return None
                raise

    def download(self, remote_path: str, dest: Path, *, max_bytes: int | None = None) -> int:
        """Stream a remote file into `dest` and return its size.

        Written to a temporary file next to `dest` and renamed, so `dest` is either the old
        file or the complete new one. Raises RemoteFileNotFoundError for a missing file and
        ProtocolError when the file exceeds `max_bytes`.
        """
        _check_path(remote_path)
        fd, temporary = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, self._session() as ftp:
                written = _retrieve(ftp, f"RETR {remote_path}", out.write, max_bytes)
            Path(temporary).replace(dest)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return written

    def upload(self, source: Path, remote_path: str) -> int:
        """Upload a local file and return its size, confirmed by SIZE.

        Printers drop the data connection instead of closing TLS cleanly and may then answer
        426; the transfer is judged by the size the printer reports afterwards.
        """
        _check_path(remote_path)
        with source.open("rb") as data, self._session() as ftp:
            ftp.voidcmd("TYPE I")
            conn, _ = ftp.ntransfercmd(f"STOR {remote_path}")
            with conn:
                while chunk := data.read(_CHUNK):
                    conn.sendall(chunk)
                # No unwrap(): printers never answer close_notify. A TCP half-close ends the
                # upload instead; draining until the printer closes matters because a close()
                # with unread TLS 1.3 tickets sends a reset, which can truncate the upload.
                conn.shutdown(socket.SHUT_WR)
                with contextlib.suppress(OSError):
                    while conn.recv(_CHUNK):
                        pass
            try:
                ftp.voidresp()
            except ftplib.error_temp as err:
                if not str(err).startswith("426"):
                    raise
            sent = data.tell()
            stored = ftp.size(remote_path)
        if stored != sent:
            raise ProtocolError(f"upload of {remote_path} incomplete: {stored} of {sent} bytes")
        return sent

    @contextlib.contextmanager
    def _session(self, sockets: _Sockets | None = None) -> Iterator[_ImplicitFtpTls]:
        """A logged-in connection with protected data channels."""
        sockets = sockets or self._sockets
        if self._sockets.closed or sockets.closed:
            raise PrinterOfflineError("FTPS client closed")
        ftp = _ImplicitFtpTls(sockets, context=self._ssl_context, timeout=self._timeout)
        try:
            with _mapped_errors(connecting=True):
                ftp.connect(self._host, self._port)
                ftp.login(USER, self._access_code)
                ftp.prot_p()
            with _mapped_errors(connecting=False):
                yield ftp
                with contextlib.suppress(*ftplib.all_errors):
                    ftp.quit()
        finally:
            ftp.close()


@contextlib.contextmanager
def _mapped_errors(*, connecting: bool) -> Iterator[None]:
    """Translate ftplib, socket and TLS failures into adapter errors.

    While connecting every OSError means the printer is unreachable; later only network
    errors do, so a full local disk is not reported as an offline printer, and a stall
    mid-session is a PrinterTimeoutError.
    """
    network: tuple[type[BaseException], ...] = (
        (OSError, EOFError) if connecting else (ConnectionError, ssl.SSLError, EOFError)
    )
    try:
        yield
    except TimeoutError as err:
        error = PrinterOfflineError if connecting else PrinterTimeoutError
        raise error(f"FTPS timed out: {err!r}") from err
    except ssl.SSLCertVerificationError as err:
        raise CertificateMismatchError(
            f"printer certificate rejected: {err.verify_message}"
        ) from err
    except network as err:
        raise PrinterOfflineError(f"FTPS connection failed: {err!r}") from err
    except ftplib.error_perm as err:
        reply = str(err)
        if reply.startswith("530"):
            raise AuthenticationError("FTPS login refused") from err
        if reply.startswith("550"):
            raise RemoteFileNotFoundError(f"FTPS: {reply}") from err
        raise ProtocolError(f"FTPS: {reply}") from err
    except ftplib.error_temp as err:
        if str(err).startswith("421"):
            raise PrinterOfflineError(f"FTPS: {err}") from err
        raise ProtocolError(f"FTPS: {err}") from err
    except (ftplib.error_reply, ftplib.error_proto) as err:
        raise ProtocolError(f"FTPS: unexpected reply {err}") from err


def _retrieve(
    ftp: _ImplicitFtpTls,
    command: str,
    sink: Callable[[bytes], object],
    limit: int | None,
    offset: int = 0,
) -> int:
    """Stream a RETR/LIST data connection into `sink`; returns the byte count."""
    ftp.voidcmd("TYPE I")
    total = 0
    if offset:
        try:
            reply = ftp.sendcmd(f"REST {offset}")
        except ftplib.error_perm as err:
            raise ResumeRefusedError(f"FTPS: REST refused: {err}") from err
        if not reply.startswith("350"):
            raise ResumeRefusedError(f"FTPS: REST refused: {reply}")
    with ftp.transfercmd(command) as conn:
        while chunk := conn.recv(_CHUNK):
            total += len(chunk)
            if limit is not None and total > limit:
                raise ProtocolError(f"{command.split(' ', 1)[0]} exceeded {limit} bytes")
            sink(chunk)
        if isinstance(conn, ssl.SSLSocket):
            # The printer closed TLS first, so this returns at once; a rude close is harmless.
            with contextlib.suppress(OSError):
                conn.unwrap()
    ftp.voidresp()
    return total


def _check_path(path: str) -> None:
    """Refuse paths that would smuggle a second FTP command (names can come from the printer)."""
    if any(char in path for char in "\r\n\0"):
        raise ProtocolError("remote path contains control characters")


def _parse_list_line(directory: str, line: str, now: dt.datetime) -> RemoteEntry | None:
    """One entry, or None for a line that is not one (or claims an impossible size)."""
    match = _LIST_LINE.fullmatch(line)
    if match is None:
        return None
    size = integer(match["size"])
    if size is None:
        return None
    name = match["name"]
    if match["mode"] == "l":
        name = name.split(" -> ", 1)[0]
    if name in (".", ".."):
        return None
    return RemoteEntry(
        name=name,
        path=posixpath.join(directory, name),
        size=size,
        is_dir=match["mode"] == "d",
        modified=_list_time(match, now),
    )


def _list_time(match: re.Match[str], now: dt.datetime) -> dt.datetime | None:
    """LIST gives "Jun 18 00:27" for recent files (year implied) and "Jun 18  2024" otherwise."""
    month = _MONTHS.get(match["month"])
    if month is None:
        return None
    day = int(match["day"])
    try:
        if match["year"] is not None:
            return dt.datetime(int(match["year"]), month, day)
        hour, minute = int(match["hour"]), int(match["minute"])
        when = dt.datetime(now.year, month, day, hour, minute)
        if when > now + _CLOCK_SLACK:
            when = when.replace(year=now.year - 1)
    except (ValueError, OverflowError):  # 29 Feb in the wrong year, minute 61, year 0 and the like
        return None
    return when
