"""The private mosquitto starts on a port of its own, even when its first choice was taken."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simulator.bambu import broker
from simulator.bambu.broker import Mosquitto


async def test_a_taken_port_is_not_mistaken_for_the_broker(
    socket_enabled: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else listens on the chosen port: mosquitto fails to bind and tries another."""
    squatter = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    taken = squatter.sockets[0].getsockname()[1]
    ports, free_port = iter([taken]), broker.free_port
    monkeypatch.setattr(broker, "free_port", lambda: next(ports, None) or free_port())
    mosquitto = Mosquitto(
        tmp_path, serial="01P00A000000001", access_code="12345678", internal_user="fw", password="p"
    )
    assert mosquitto.port == taken
    try:
        await mosquitto.start()
        assert mosquitto.port != taken
        process = mosquitto._process
        assert process is not None
        assert await asyncio.to_thread(broker._listens, process.pid, mosquitto.port)
    finally:
        await mosquitto.stop()
        squatter.close()
        await squatter.wait_closed()
