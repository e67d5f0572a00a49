"""A private mosquitto on a loopback port: real MQTT, authentication and ACLs, no broker of ours.

Clients never reach it directly; the TLS front (front.py) relays to it. The simulator's firmware
side logs in as an internal user that may read and write the printer's topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
import pwd
import shutil
import socket

_STARTUP_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# A free port can be taken (by any socket's ephemeral port) before mosquitto binds it.
_PORT_TRIES = 3


class BrokerExitedError(RuntimeError):
    """mosquitto ended while starting (its log says why)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _executable(name: str, fallback: str) -> str:
    return shutil.which(name) or fallback


class Mosquitto:
    """A mosquitto subprocess configured like a printer's broker; restarts keep its port."""

    def __init__(
        self, directory: Path, *, serial: str, access_code: str, internal_user: str, password: str
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self._serial = serial
        self._users = {"bblp": access_code, internal_user: password}
        self._internal_user = internal_user
        self._process: asyncio.subprocess.Process | None = None

    @property
    def log_file(self) -> Path:
        """Where mosquitto logs, for debugging a failing test."""
        return self.directory / "mosquitto.log"

    async def start(self) -> None:
        """Write config, password and ACL files, then run mosquitto until its port accepts."""
        config = await asyncio.to_thread(self._write_files)
        tool = _executable("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
        passwd = str(self.directory / "passwd")
        for user, password in self._users.items():
            await _run(tool, "-b", passwd, user, password)
        for tries_left in reversed(range(_PORT_TRIES)):
            try:
                await self._spawn(config)
            except BrokerExitedError:
                if not tries_left:
                    raise
                self.port = free_port()
                config = await asyncio.to_thread(self._write_config)
            else:
                return

    async def restart(self) -> None:
        """Stop and start again on the same port, dropping every session like a reboot."""
        await self.stop()
        await self._spawn(self.directory / "mosquitto.conf")

    async def stop(self) -> None:
        """Terminate mosquitto and reap it."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    def _write_files(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "passwd").write_text("")
        report, request = f"device/{self._serial}/report", f"device/{self._serial}/request"
        (self.directory / "acl").write_text(
            f"user bblp\ntopic read {report}\ntopic write {request}\n\n"
            f"user {self._internal_user}\ntopic readwrite device/{self._serial}/#\n"
        )
        return self._write_config()

    def _write_config(self) -> Path:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {self.directory / 'passwd'}\n"
            f"acl_file {self.directory / 'acl'}\n"
            "persistence false\n"
            # As root mosquitto would switch to user "mosquitto", who cannot read our temp files.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
            f"log_dest file {self.log_file}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        return config

    async def _spawn(self, config: Path) -> None:
        self._process = await asyncio.create_subprocess_exec(
            _executable("mosquitto", "/usr/sbin/mosquitto"),
            "-c",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(_STARTUP_TIMEOUT):
            while True:
                if self._process.returncode is not None:
                    raise BrokerExitedError(f"mosquitto exited, see {self.log_file}")
                if await asyncio.to_thread(_listens, self._process.pid, self.port):
                    with contextlib.suppress(OSError):
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        writer.close()
                        await writer.wait_closed()
                        return
                await asyncio.sleep(0.02)


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on `port`, not someone else (Linux)."""
    if not os.path.isdir("/proc/self"):
        return True  # no /proc (not Linux): the connect alone decides
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # it ended (the caller sees its return code next)
    inodes = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                return True
    return False


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"{command[0]} failed: {stderr.decode(errors='replace').strip()}")
