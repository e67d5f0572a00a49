"""paho-mqtt driven by the asyncio event loop instead of a thread.

Like Home Assistant's own MQTT client, the socket is watched with `add_reader`/`add_writer` so
every paho callback runs on the loop; only the blocking connect (TCP + TLS handshake) runs in an
executor. Reconnects back off exponentially; a rejected login or a changed certificate ends the
retries, since repeating them cannot succeed.

Nothing raises into paho: an exception escaping a callback would leave paho's packet buffer
unreset, so the same packet would be replayed on every read. And `stop` ends a connect still
blocked in the executor by shutting its socket down, so no connection outlives the adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import socket
import ssl
import threading
from typing import Any
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ..errors import (
    AdapterError,
    AuthenticationError,
    CertificateMismatchError,
    PrinterOfflineError,
    PrinterTimeoutError,
)

_LOGGER = logging.getLogger(__name__)

KEEPALIVE = 30
MISC_INTERVAL = 5.0
CONNECT_TIMEOUT = 10.0
BACKOFF_START = 1.0
BACKOFF_CAP = 60.0
MAX_PACKETS_PER_READ = 500
# CONNACK "bad user name or password" and "not authorized" (MQTT 3.1.1 codes 4 and 5).
_AUTH_FAILURES = frozenset({134, 135})


class _Client(mqtt.Client):
    """paho's client with a connect that another thread can abort.

    paho's blocking connect (TCP, then a TLS handshake bounded only by the keepalive) gives no
    handle to its socket until it is done. A duplicate of the socket's descriptor is kept while
    connecting: shutting it down makes the blocked connect or handshake fail at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._abort_lock = threading.Lock()
        self._aborted = False
        self._connecting: socket.socket | None = None

    def arm(self) -> None:
        """Allow connecting again; called on the loop before each connect is handed over."""
        with self._abort_lock:
            self._aborted = False

    def interruptible(self, connect: Callable[..., Any], *args: Any) -> None:
        """Run paho's connect or reconnect (in an executor) so that `abort` can end it."""
        try:
            connect(*args)
        finally:
            with self._abort_lock:
                connecting, self._connecting = self._connecting, None
            if connecting is not None:
                connecting.close()

    def abort(self) -> None:
        """End a connect in progress in another thread; later ones in it fail at once."""
        with self._abort_lock:
            self._aborted = True
            if self._connecting is not None:
                with contextlib.suppress(OSError):
                    self._connecting.shutdown(socket.SHUT_RDWR)

    def _create_socket_connection(self) -> socket.socket:
        """Paho's TCP connect, one address at a time, each socket abortable."""
        error = OSError(f"No address for {self._host}")
        for family, kind, proto, _, address in socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            with self._abort_lock:
                if self._aborted:
                    sock.close()
                    raise OSError("Connecting was stopped")
                if self._connecting is not None:
                    self._connecting.close()
                self._connecting = sock.dup()
            try:
                sock.settimeout(self._connect_timeout)
                sock.connect(address)
            except OSError as err:
                sock.close()
                error = err
            else:
                return sock
        raise error


class MqttConnection:
    """One MQTT session to one printer, reconnecting until stopped."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        ssl_context: ssl.SSLContext,
        topic: str,
        on_connect: Callable[[], None],
        on_message: Callable[[bytes], None],
        on_disconnect: Callable[[AdapterError | None], None],
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        """Prepare the client; nothing connects until `connect`."""
        self._host = host
        self._port = port
        self._topic = topic
        self._on_connect_cb = on_connect
        self._on_message_cb = on_message
        self._on_disconnect_cb = on_disconnect
        self._backoff_cap = backoff_cap
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"printernizer-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(username, password)
        client.tls_set_context(ssl_context)
        client.connect_timeout = CONNECT_TIMEOUT
        # Belt and braces: every callback below is guarded already.
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._client = client
        self._connack: asyncio.Future[None] | None = None
        self._misc_timer: asyncio.TimerHandle | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._stopping = False
        self._fatal: AdapterError | None = None
        self.connected = False
        self.callback_errors = 0

    async def connect(self) -> None:
        """Connect and wait for the broker's answer; raises a typed error on failure."""
        self._stopping = False
        self._fatal = None
        self._connack = self._loop.create_future()
        try:
            await self._open(self._client.connect, self._host, self._port, KEEPALIVE)
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._connack
        except TimeoutError as err:
            self._close_socket()
            raise PrinterTimeoutError("The printer did not answer the MQTT login") from err
        finally:
            self._forget_connack()
        if self._stopping:
            raise PrinterOfflineError("The connection was stopped")
        self._schedule_misc()

    def publish(self, payload: str, *, qos: int = 0) -> None:
        """Send to the printer's request topic; raises when not connected."""
        if not self.connected:
            raise PrinterOfflineError("Not connected to the printer")
        info = self._client.publish(self._topic.replace("/report", "/request"), payload, qos=qos)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PrinterOfflineError(f"Publishing failed: {mqtt.error_string(info.rc)}")

    async def stop(self) -> None:
        """Disconnect and cancel every timer, task, socket and connect this connection started.

        A connect blocked in the executor is aborted and waited for, so when this returns no
        socket, reader, writer or callback of this connection is left.
        """
        self._stopping = True
        if self._misc_timer:
            self._misc_timer.cancel()
            self._misc_timer = None
        if self._connack and not self._connack.done():
            self._connack.set_exception(PrinterOfflineError("The connection was stopped"))
        if self._reconnect_task:
            self._reconnect_task.cancel()
            await asyncio.gather(self._reconnect_task, return_exceptions=True)
            self._reconnect_task = None
        if self._connecting is not None:
            self._client.abort()
            # Aborted, it ends at once; only a name lookup cannot be interrupted.
            done, _ = await asyncio.wait([self._connecting], timeout=CONNECT_TIMEOUT)
            if not done:
                self._connecting.add_done_callback(lambda _: self._close_socket())
            self._connecting = None
        if self.connected:
            # Sends DISCONNECT and closes the socket once it is written.
            self._client.disconnect()
            self._client.loop_write()
        self._close_socket()
        self.connected = False

    async def _open(self, connect: Callable[..., Any], *args: Any) -> None:
        """Run paho's blocking connect in an executor and map its failures.

        Cancelling the caller cannot stop the thread, so the connect is shielded and kept in
        `_connecting` for `stop` to abort and wait for.
        """
        self._client.arm()
        connecting = self._loop.run_in_executor(None, self._client.interruptible, connect, *args)
        # Its outcome reaches the caller through the shield; a caller that was cancelled meanwhile
        # no longer wants it, and that is not an error to log.
        connecting.add_done_callback(_retrieved)
        self._connecting = connecting
        try:
            await asyncio.shield(connecting)
        except ssl.SSLCertVerificationError as err:
            raise CertificateMismatchError(
                "The printer presented a different certificate than the one trusted when it "
                "was added"
            ) from err
        except (OSError, ssl.SSLError) as err:
            raise PrinterOfflineError(
                f"Cannot connect to {self._host}:{self._port}: {err}"
            ) from err
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    def _forget_connack(self) -> None:
        """Drop the login future; an outcome nobody waits for any more is not an error to log."""
        connack, self._connack = self._connack, None
        if connack is not None and connack.done() and not connack.cancelled():
            connack.exception()

    def _call_in_loop(self, func: Callable[..., object], *args: Any) -> None:
        """Run func on the loop: paho calls socket hooks from the connecting executor thread too."""
        if threading.get_ident() == self._loop_thread:
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch, sock)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # The socket is closed right after this hook, so only its number travels to the loop.
        self._call_in_loop(self._unwatch, sock.fileno())

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch_write, sock)

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._loop.remove_writer, sock.fileno())

    def _watch(self, sock: Any) -> None:
        # Queued from the connecting thread: by now the adapter may be stopped or the socket gone.
        if not self._stopping and self._client.socket() is sock:
            self._loop.add_reader(sock.fileno(), self._read)

    def _watch_write(self, sock: Any) -> None:
        if not self._stopping and self._client.socket() is sock:
            self._loop.add_writer(sock.fileno(), self._write)

    def _read(self) -> None:
        """Drain every complete packet: TLS may hold decrypted bytes the selector cannot see."""
        try:
            self._client.loop_read(MAX_PACKETS_PER_READ)
        except Exception:
            self._failed("reading")
        sock = self._client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._loop.call_soon(self._read)

    def _write(self) -> None:
        try:
            self._client.loop_write()
        except Exception:
            self._failed("writing")

    def _failed(self, where: str) -> None:
        """Count a failure that would otherwise escape into paho or the loop; log the first."""
        self.callback_errors += 1
        if self.callback_errors == 1:
            _LOGGER.exception(
                "Error while %s MQTT from %s; later ones are only counted", where, self._host
            )

    def _unwatch(self, fd: int) -> None:
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)

    def _close_socket(self) -> None:
        """Make paho close its socket, also when the broker never answered."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._client.loop_read()

    def _schedule_misc(self) -> None:
        self._misc_timer = self._loop.call_later(MISC_INTERVAL, self._misc)

    def _misc(self) -> None:
        """Keepalive pings and paho's housekeeping."""
        try:
            self._client.loop_misc()
        except Exception:
            self._failed("maintaining")
        self._schedule_misc()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any,
    ) -> None:
        if self._stopping:
            return
        if reason_code.is_failure:
            if reason_code.value in _AUTH_FAILURES:
                error: AdapterError = AuthenticationError("The printer rejected the access code")
            else:
                error = PrinterOfflineError(f"The printer refused the connection: {reason_code}")
            self._fatal = error if isinstance(error, AuthenticationError) else None
            if self._connack and not self._connack.done():
                self._connack.set_exception(error)
            return
        self.connected = True
        client.subscribe(self._topic, qos=0)
        if self._connack and not self._connack.done():
            self._connack.set_result(None)
        try:
            self._on_connect_cb()
        except Exception:
            self._failed("greeting")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._stopping:
            return
        try:
            self._on_message_cb(message.payload)
        except Exception:
            self._failed("handling")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any,
    ) -> None:
        was_connected, self.connected = self.connected, False
        if self._stopping:
            return
        if self._connack and not self._connack.done():
            self._connack.set_exception(PrinterOfflineError("The printer closed the connection"))
            return
        if was_connected:
            _LOGGER.debug("Disconnected from %s: %s", self._host, reason_code)
        try:
            self._on_disconnect_cb(self._fatal)
        except Exception:
            self._failed("closing")
        if self._fatal is None and self._reconnect_task is None:
            self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Retry with capped exponential backoff until connected, stopped or refused for good."""
        delay = BACKOFF_START
        try:
            while not self._stopping:
                await asyncio.sleep(delay)
                self._connack = self._loop.create_future()
                try:
                    await self._open(self._client.reconnect)
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        await self._connack
                except AuthenticationError as err:
                    self._on_disconnect_cb(err)
                    return
                except CertificateMismatchError as err:
                    self._fatal = err
                    self._on_disconnect_cb(err)
                    return
                except (PrinterOfflineError, TimeoutError):
                    self._close_socket()
                    delay = min(delay * 2, self._backoff_cap)
                    continue
                finally:
                    self._forget_connack()
                return
        finally:
            self._reconnect_task = None


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
