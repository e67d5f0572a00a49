"""paho-mqtt driven by the asyncio event loop instead of a thread.

Like Home Assistant's own MQTT client, the socket is watched with `add_reader`/`add_writer` so
every paho callback runs on the loop; only the blocking connect (TCP + TLS handshake) runs in an
executor. Reconnects back off exponentially; a rejected login or a changed certificate ends the
retries, since repeating them cannot succeed.
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
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"printernizer-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(username, password)
        client.tls_set_context(ssl_context)
        client.connect_timeout = CONNECT_TIMEOUT
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
        self._stopping = False
        self._fatal: AdapterError | None = None
        self.connected = False

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
            self._connack = None
        self._schedule_misc()

    def publish(self, payload: str, *, qos: int = 0) -> None:
        """Send to the printer's request topic; raises when not connected."""
        if not self.connected:
            raise PrinterOfflineError("Not connected to the printer")
        info = self._client.publish(self._topic.replace("/report", "/request"), payload, qos=qos)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PrinterOfflineError(f"Publishing failed: {mqtt.error_string(info.rc)}")

    async def stop(self) -> None:
        """Disconnect and cancel every timer and task this connection started."""
        self._stopping = True
        if self._misc_timer:
            self._misc_timer.cancel()
            self._misc_timer = None
        if self._reconnect_task:
            self._reconnect_task.cancel()
            await asyncio.gather(self._reconnect_task, return_exceptions=True)
            self._reconnect_task = None
        if self.connected:
            # Sends DISCONNECT and closes the socket once it is written.
            self._client.disconnect()
            self._client.loop_write()
        self._close_socket()
        self.connected = False

    async def _open(self, connect: Callable[..., Any], *args: Any) -> None:
        """Run paho's blocking connect in an executor and map its failures."""
        try:
            await self._loop.run_in_executor(None, connect, *args)
        except ssl.SSLCertVerificationError as err:
            raise CertificateMismatchError(
                "The printer presented a different certificate than the one trusted when it "
                "was added"
            ) from err
        except (OSError, ssl.SSLError) as err:
            raise PrinterOfflineError(
                f"Cannot connect to {self._host}:{self._port}: {err}"
            ) from err

    def _call_in_loop(self, func: Callable[..., object], *args: Any) -> None:
        """Run func on the loop: paho calls socket hooks from the connecting executor thread too."""
        if threading.get_ident() == self._loop_thread:
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._watch, sock.fileno())

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # The socket is closed right after this hook, so only its number travels to the loop.
        self._call_in_loop(self._unwatch, sock.fileno())

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._loop.add_writer, sock.fileno(), self._client.loop_write)

    def _on_socket_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._loop.remove_writer, sock.fileno())

    def _watch(self, fd: int) -> None:
        self._loop.add_reader(fd, self._read)

    def _read(self) -> None:
        """Drain every complete packet: TLS may hold decrypted bytes the selector cannot see."""
        self._client.loop_read(MAX_PACKETS_PER_READ)
        sock = self._client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            self._loop.call_soon(self._read)

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
        self._client.loop_misc()
        self._schedule_misc()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: Any,
        properties: Any,
    ) -> None:
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
        self._on_connect_cb()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._on_message_cb(message.payload)

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
        self._on_disconnect_cb(self._fatal)
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
                    self._connack = None
                return
        finally:
            self._reconnect_task = None
