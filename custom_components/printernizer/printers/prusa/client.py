"""PrusaLink over HTTP: one request at a time, preemptive digest, typed errors.

Printers are small web servers (Buddy serves a handful of connections from a microcontroller),
so every request of one printer goes through a lock: never two in flight. A file transfer
takes minutes at Buddy's few hundred KB/s, so transfers have a lock (and digest state) of
their own: polls go on beside at most one transfer, two connections at most. Errors become the
adapter errors; credentials never appear in a message or log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
import logging
from typing import Any, Final

import aiohttp
from yarl import URL

from ..errors import AuthenticationError, PrinterOfflineError, PrinterTimeoutError, ProtocolError
from ..values import loads, text
from .digest import DigestAuth, UnsupportedChallengeError, digest_challenge
from .values import Fields

_LOGGER = logging.getLogger(__name__)

MAX_JSON_BYTES: Final = 1 << 20
MAX_ERROR_BYTES: Final = 4096
_OFFLINE_STATUSES: Final = frozenset({502, 503, 504})
_IDEMPOTENT: Final = frozenset({"GET", "HEAD"})
_ETAG_ENTRIES: Final = 32


class TooLargeError(ProtocolError):
    """A reply bigger than the caller's limit; the body was not read."""


class HttpStatusError(ProtocolError):
    """An HTTP status the caller did not expect; `message` is the printer's own explanation."""

    def __init__(self, method: str, path: str, status: int, message: str | None) -> None:
        super().__init__(f"{method} {path}: HTTP {status}" + (f" ({message})" if message else ""))
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete response: status, headers and the (size-capped) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def base_url(host: str, port: int = 80) -> str:
    """`http://host:port` from what the user typed: a name, an IP, `host:port`, or a URL."""
    host = host.strip()
    scheme = "http"
    for prefix in ("http://", "https://"):
        if host.lower().startswith(prefix):
            scheme = prefix[:-3]
            host = host[len(prefix) :]
    host = host.split("/", 1)[0]
    if host.count(":") > 1 and not host.startswith("["):
        return str(URL.build(scheme=scheme, host=host, port=port))  # a bare IPv6 address
    try:
        parsed = URL(f"{scheme}://{host}")
    except ValueError as err:
        raise ValueError(f"Invalid printer address {host!r}") from err
    if not parsed.host:
        raise ValueError(f"Invalid printer address {host!r}")
    return str(URL.build(scheme=scheme, host=parsed.host, port=parsed.explicit_port or port))


def request_path(path: str) -> str:
    """A path (or URL) as the exact, percent-encoded request target we send and hash."""
    url = URL(path)
    return url.raw_path_qs if url.raw_path else "/"


def error_message(body: bytes) -> str | None:
    """The printer's explanation from an error body: JSON `message`, or the text after the title."""
    content = body[:MAX_ERROR_BYTES].decode("utf-8", "replace").strip()
    if not content:
        return None
    try:
        data = loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return text(data.get("message"), limit=200) or text(data.get("title"), limit=200)
    parts = [part.strip() for part in content.split("\n\n") if part.strip()]
    return text(parts[-1], limit=200) if parts else None


@contextmanager
def _mapped_errors(method: str, path: str) -> Iterator[None]:
    """Map aiohttp and socket failures to adapter errors (URLs carry no credentials)."""
    try:
        yield
    except TimeoutError as err:
        raise PrinterTimeoutError(f"{method} {path}: no answer in time") from err
    except aiohttp.ClientPayloadError as err:
        raise ProtocolError(f"{method} {path}: incomplete response") from err
    except aiohttp.ClientResponseError as err:
        raise ProtocolError(f"{method} {path}: malformed response ({err.message})") from err
    except (aiohttp.ClientError, OSError) as err:
        raise PrinterOfflineError(f"{method} {path}: {err or type(err).__name__}") from err


class Download:
    """A response body being streamed; the caller stops reading whenever it has enough."""

    def __init__(self, response: aiohttp.ClientResponse, path: str) -> None:
        """Wrap an open response; the owning `stream` context closes it."""
        self._response = response
        self._path = path
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self.length = response.content_length

    async def chunks(self, size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The body in chunks, with transport failures as adapter errors."""
        with _mapped_errors("GET", self._path):
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk


class PrusaClient:
    """HTTP access to one PrusaLink printer through a session owned by the caller."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        username: str,
        password: str,
        api_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Nothing is sent until the first request."""
        self._session = session
        self._base = url.rstrip("/")
        self._api_key = api_key
        self._auth = DigestAuth(username, password)
        # Transfers count their own nonce uses (nc), apart from the requests running beside them.
        self._transfer_auth = DigestAuth(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._stream_timeout = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
        self._etags: dict[str, tuple[str, dict[str, Any]]] = {}
        # One request at a time per printer; every method below holds it for the whole exchange.
        self.lock = asyncio.Lock()
        # One `transfer` at a time per printer, beside the requests.
        self.transfer_lock = asyncio.Lock()
        self.request_count = 0

    def __repr__(self) -> str:
        """Never show credentials."""
        return f"PrusaClient({self._base})"

    @property
    def realm(self) -> str | None:
        """The digest realm offered: "Printer API" on Buddy, "Administrator" on a Pi."""
        return self._auth.challenge.realm if self._auth.challenge else None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        limit: int = MAX_JSON_BYTES,
        payload: bytes | None = None,
    ) -> Reply:
        """Send one request and read the reply; non-2xx/304 statuses raise typed errors.

        A reply body over `limit` bytes raises TooLargeError. `payload` is sent as it is (a
        digest retry sends it again), with the caller's Content-Type in `headers`.
        """
        target = request_path(path)
        async with self.lock:
            with _mapped_errors(method, target):
                response = await self._send(method, target, headers, self._timeout, payload=payload)
                try:
                    body = await self._read(response, method, target, limit)
                finally:
                    response.release()
        reply = Reply(response.status, response.headers, body)
        self._check(method, target, reply)
        return reply

    async def get_json(self, path: str, *, fields: Fields | None = None) -> dict[str, Any] | None:
        """A JSON object from a GET; None for 204 No Content.

        `fields` notes `NaN`/`Infinity` literals, which read as null.
        """
        reply = await self.request("GET", path)
        if reply.status == 204:
            return None
        return self._decode(path, reply.body, fields)

    async def get_cached_json(self, path: str, *, fields: Fields | None = None) -> dict[str, Any]:
        """A JSON object that the printer tags with an ETag (listings): 304 reuses the last one."""
        target = request_path(path)
        cached = self._etags.get(target)
        headers = {"If-None-Match": cached[0]} if cached else None
        reply = await self.request("GET", target, headers=headers)
        if reply.status == 304 and cached:
            return cached[1]
        data = self._decode(target, reply.body, fields) if reply.status != 204 else {}
        if etag := reply.headers.get("ETag"):
            self._etags.pop(target, None)
            if len(self._etags) >= _ETAG_ENTRIES:
                self._etags.pop(next(iter(self._etags)))
            self._etags[target] = (etag, data)
        return data

    async def get_bytes(self, path: str, limit: int) -> bytes | None:
        """A small binary (a thumbnail): None when the printer has none (404) or it is too big.

        Bigger ones are not read at all.
        """
        try:
            reply = await self.request("GET", path, headers={"Accept": "*/*"}, limit=limit)
        except TooLargeError:
            return None
        except HttpStatusError as err:
            if err.status == 404:
                return None
            raise
        return reply.body if reply.status == 200 else None

    @asynccontextmanager
    async def stream(
        self, path: str, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[Download]:
        """Stream a file; leaving the block early drops the connection, ending the transfer.

        Holds the request lock until the block ends, so keep the body short-lived.
        """
        async with (
            self.lock,
            self._streamed(path, headers, self._auth) as download,
        ):
            yield download

    @asynccontextmanager
    async def transfer(
        self, path: str, *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[Download]:
        """Stream a whole file beside the requests (a download): polling goes on meanwhile.

        Holds the transfer lock until the block ends; a second transfer waits for it.
        """
        async with (
            self.transfer_lock,
            self._streamed(path, headers, self._transfer_auth) as download,
        ):
            yield download

    @asynccontextmanager
    async def _streamed(
        self, path: str, headers: Mapping[str, str] | None, auth: DigestAuth
    ) -> AsyncIterator[Download]:
        """The streamed GET itself; the caller holds the lock that goes with `auth`."""
        target = request_path(path)
        with _mapped_errors("GET", target):
            response = await self._send(
                "GET",
                target,
                {"Accept": "*/*", **(headers or {})},
                self._stream_timeout,
                auth=auth,
            )
        try:
            if response.status not in (200, 206):
                with _mapped_errors("GET", target):
                    body = await self._read(response, "GET", target, MAX_ERROR_BYTES)
                self._check("GET", target, Reply(response.status, response.headers, body))
                raise HttpStatusError("GET", target, response.status, None)
            yield Download(response, target)
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _send(
        self,
        method: str,
        target: str,
        extra: Mapping[str, str] | None,
        limits: aiohttp.ClientTimeout,
        *,
        payload: bytes | None = None,
        auth: DigestAuth | None = None,
    ) -> aiohttp.ClientResponse:
        """Send with credentials; answer one digest challenge (first contact or a stale nonce).

        The Pi marks an expired nonce stale even when the password is wrong, so only a 401 on
        the retry means bad credentials. A connection the printer closed while idle in the pool
        is retried once for reads (Buddy closes after every error reply to a PUT).
        """
        auth = auth or self._auth
        url = URL(self._base + target, encoded=True)
        reconnected = False
        retried = False
        while True:
            headers = {"Accept": "application/json", **(extra or {})}
            sent_nonce: str | None = None
            if self._api_key is not None:
                headers["X-Api-Key"] = self._api_key
            else:
                try:
                    authorization = auth.header(method, target)
                except UnsupportedChallengeError as err:
                    raise ProtocolError(f"The printer asks for {err}") from err
                if authorization is not None:
                    headers["Authorization"] = authorization
                    sent_nonce = auth.challenge.nonce if auth.challenge else None
            self.request_count += 1
            try:
                response = await self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=payload,
                    timeout=limits,
                    allow_redirects=False,
                )
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                if (
                    reconnected
                    or method not in _IDEMPOTENT
                    or isinstance(err, aiohttp.ClientConnectorError)
                ):
                    raise
                reconnected = True
                _LOGGER.debug("%s %s: connection dropped, retrying once", method, target)
                continue
            if response.status != 401 or self._api_key is not None:
                return response
            try:
                # Reading the short 401 body keeps the connection reusable for the retry.
                await self._read(response, method, target, MAX_ERROR_BYTES)
            except ProtocolError:
                pass
            finally:
                response.release()
            try:
                challenge = digest_challenge(response.headers.getall("WWW-Authenticate", ()))
            except UnsupportedChallengeError as err:
                raise ProtocolError(f"The printer asks for {err}") from err
            if challenge is None:
                raise AuthenticationError(f"{method} {target}: the printer refused the request")
            fresh = sent_nonce is None or challenge.stale or challenge.nonce != sent_nonce
            auth.learn(challenge)
            if retried or not fresh:
                raise AuthenticationError(f"{method} {target}: the printer rejected the password")
            retried = True
            _LOGGER.debug(
                "%s %s: new digest nonce (stale=%s), retrying", method, target, challenge.stale
            )

    @staticmethod
    async def _read(
        response: aiohttp.ClientResponse, method: str, target: str, limit: int = MAX_JSON_BYTES
    ) -> bytes:
        """The body, refusing more than `limit` bytes (a confused printer must not eat memory)."""
        if response.content_length is not None and response.content_length > limit:
            raise TooLargeError(f"{method} {target}: {response.content_length} bytes is too large")
        body = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > limit:
                raise TooLargeError(f"{method} {target}: response too large")
        return bytes(body)

    @staticmethod
    def _check(method: str, target: str, reply: Reply) -> None:
        status = reply.status
        if 200 <= status < 300 or status == 304:
            return
        message = error_message(reply.body)
        if status in (401, 403):
            raise AuthenticationError(f"{method} {target}: the printer refused the credentials")
        if status == 408:
            raise PrinterTimeoutError(f"{method} {target}: the printer timed out (HTTP 408)")
        if status in _OFFLINE_STATUSES:
            raise PrinterOfflineError(
                f"{method} {target}: HTTP {status}" + (f" ({message})" if message else "")
            )
        raise HttpStatusError(method, target, status, message)

    @staticmethod
    def _decode(target: str, body: bytes, fields: Fields | None) -> dict[str, Any]:
        """A JSON object, depth-limited before parsing; `Infinity`/`NaN` read as null."""
        constants: list[str] = []
        try:
            data = loads(body, constants=constants)
        except ValueError as err:
            raise ProtocolError(f"GET {target}: not usable JSON ({len(body)} bytes)") from err
        if constants and fields is not None:
            fields.rejected.extend(constants)
        if not isinstance(data, dict):
            raise ProtocolError(f"GET {target}: not a JSON object")
        return data
