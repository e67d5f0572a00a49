"""The printer camera through Home Assistant: frames from the simulated P1S's camera port reach
HA's camera proxy (still and MJPEG), connected only while someone watches; X1/H2 printers hand
HA's stream integration their RTSPS URL, which never shows up where a user or a log could see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import io
import logging
from pathlib import Path
import struct

from aiohttp import ClientResponse
from homeassistant.components.camera import (
    CameraEntityFeature,
    async_get_image,
    async_get_stream_source,
)
from homeassistant.const import ATTR_SUPPORTED_FEATURES, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.printernizer import camera as camera_platform
from custom_components.printernizer.const import CONF_CAMERA_PORT, DOMAIN
from custom_components.printernizer.printers.bambu.camera import CameraTiming
from simulator.bambu.camera import CameraServer
from simulator.bambu.printer import BambuSimulator

from .conftest import bambu_entry_data
from .platform_printers import BAMBU_PRINTERS, entities_of, platform_printer

LINGER = 1.0  # long enough that a loaded machine does not split one viewing in two
BOUND = 10  # seconds any wait here may take


@pytest.fixture(autouse=True)
def _short_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users keep the connection 10 s after the last viewer; tests cannot wait that long."""
    monkeypatch.setattr(
        camera_platform, "CAMERA_TIMING", CameraTiming(linger=LINGER, retry_delay=0.05)
    )


@pytest.fixture
def bambu_entry(hass: HomeAssistant, bambu_sim: BambuSimulator) -> MockConfigEntry:
    """The P1S entry, pointed at the simulator's camera port."""
    assert bambu_sim.camera is not None
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=bambu_sim.serial,
        title=f"{bambu_sim.model} {bambu_sim.serial}",
        data=bambu_entry_data(bambu_sim) | {CONF_CAMERA_PORT: bambu_sim.camera.port},
    )
    entry.add_to_hass(hass)
    return entry


def camera_id(hass: HomeAssistant, serial: str) -> str | None:
    return er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{serial}_camera")


def server(sim: BambuSimulator) -> CameraServer:
    assert sim.camera is not None
    return sim.camera


async def wait_until_hung_up(sim: BambuSimulator) -> None:
    """The linger is over and the printer's camera has no client left."""
    async with asyncio.timeout(BOUND):
        while server(sim).client_count:
            await asyncio.sleep(0.02)


async def read_parts(response: ClientResponse, count: int) -> list[bytes]:
    """The first `count` JPEGs of an MJPEG (multipart/x-mixed-replace) response."""
    buffer, parts = b"", []
    async with asyncio.timeout(BOUND):
        while len(parts) < count:
            chunk = await response.content.readany()
            assert chunk, "the stream ended early"
            buffer += chunk
            while (end := buffer.find(b"\r\n\r\n")) != -1:
                head = buffer[:end].decode()
                length = int(head.split("Content-Length: ")[1].split("\r\n")[0])
                if len(buffer) < end + 4 + length:
                    break
                parts.append(buffer[end + 4 : end + 4 + length])
                buffer = buffer[end + 4 + length + 2 :]
    return parts


def assert_jpeg(data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == "JPEG"


async def test_a_still_comes_from_the_printer_and_the_connection_goes_after(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    entity_id = camera_id(hass, bambu_sim.serial)
    assert entity_id
    state = hass.states.get(entity_id)
    assert state
    assert state.state == "idle"
    assert state.attributes["friendly_name"] == f"{loaded_entry.title} Camera"
    assert server(bambu_sim).connections == 0  # nobody watched: never connected

    image = await async_get_image(hass, entity_id)

    assert image.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (320, 180)
    second = await async_get_image(hass, entity_id)  # within the linger: same connection
    assert_jpeg(second.content)
    assert server(bambu_sim).connections == 1
    await wait_until_hung_up(bambu_sim)


async def test_the_camera_proxy_serves_stills_and_an_mjpeg_stream(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    entity_id = camera_id(hass, bambu_sim.serial)
    client = await hass_client()

    still = await client.get(f"/api/camera_proxy/{entity_id}")
    assert still.status == 200
    assert still.content_type == "image/jpeg"
    assert_jpeg(await still.read())

    first = await client.get(f"/api/camera_proxy_stream/{entity_id}")
    second = await client.get(f"/api/camera_proxy_stream/{entity_id}")
    try:
        assert first.status == 200
        assert first.content_type == "multipart/x-mixed-replace"
        frames = await read_parts(first, 5)
        assert len(set(frames[1:])) == 4  # new frames as the printer sends them
        for frame in frames:
            assert_jpeg(frame)
        assert_jpeg((await read_parts(second, 1))[0])
        # The still, then both viewers: one connection to the printer.
        assert server(bambu_sim).connections == 1
        assert server(bambu_sim).client_count == 1
    finally:
        first.close()
        second.close()
    await wait_until_hung_up(bambu_sim)


async def test_a_hostile_frame_ends_the_stream_with_a_warning(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entity_id = camera_id(hass, bambu_sim.serial)
    client = await hass_client()
    response = await client.get(f"/api/camera_proxy_stream/{entity_id}")
    try:
        await read_parts(response, 1)
        server(bambu_sim).inject(struct.pack("<IIII", 200 << 20, 0, 1, 0))  # 200 MB announced
        async with asyncio.timeout(BOUND):
            while await response.content.readany():
                pass  # the stream ends instead of waiting for 200 MB
    finally:
        response.close()
    assert server(bambu_sim).client_count == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("209715200 bytes announced" in message for message in warnings)


async def test_a_camera_that_cannot_be_reached_is_a_translated_error(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    entity_id = camera_id(hass, bambu_sim.serial)
    assert entity_id
    await server(bambu_sim).stop()

    with pytest.raises(HomeAssistantError) as raised:
        await async_get_image(hass, entity_id)
    assert raised.value.translation_key == "camera_unavailable"
    assert loaded_entry.title in str(raised.value)

    client = await hass_client()
    assert (await client.get(f"/api/camera_proxy/{entity_id}")).status == 500
    assert (await client.get(f"/api/camera_proxy_stream/{entity_id}")).status == 502


async def test_unloading_ends_an_open_stream_and_hangs_up(
    hass: HomeAssistant,
    bambu_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    client = await hass_client()
    response = await client.get(f"/api/camera_proxy_stream/{camera_id(hass, bambu_sim.serial)}")
    try:
        await read_parts(response, 1)
        assert await hass.config_entries.async_unload(bambu_entry.entry_id)
        async with asyncio.timeout(BOUND):
            while await response.content.readany():
                pass
    finally:
        response.close()
    await hass.async_block_till_done()
    assert server(bambu_sim).client_count == 0


async def test_home_assistant_stopping_ends_an_open_stream_and_hangs_up(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    client = await hass_client()
    response = await client.get(f"/api/camera_proxy_stream/{camera_id(hass, bambu_sim.serial)}")
    try:
        await read_parts(response, 1)
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        async with asyncio.timeout(BOUND):
            while await response.content.readany():
                pass
    finally:
        response.close()
    await wait_until_hung_up(bambu_sim)


@pytest.fixture
async def x1c_sim(socket_enabled: None, tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    async with BambuSimulator(
        model="X1C", serial="00M09A000000001", workdir=tmp_path / "x1c", speed=600, jitter=False
    ) as sim:
        yield sim


@pytest.fixture
async def h2d_sim(socket_enabled: None, tmp_path: Path) -> AsyncIterator[BambuSimulator]:
    async with BambuSimulator(
        model="H2D", serial="0948AD000000001", workdir=tmp_path / "h2d", speed=600, jitter=False
    ) as sim:
        yield sim


async def set_up(hass: HomeAssistant, sim: BambuSimulator) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=sim.serial, title=sim.model, data=bambu_entry_data(sim)
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_an_x1c_hands_its_rtsps_url_to_the_stream_integration_and_nowhere_else(
    hass: HomeAssistant, x1c_sim: BambuSimulator, hass_client: ClientSessionGenerator
) -> None:
    assert x1c_sim.camera is None  # X1 printers have no JPEG port
    entry = await set_up(hass, x1c_sim)
    entity_id = camera_id(hass, x1c_sim.serial)
    assert entity_id

    source = await async_get_stream_source(hass, entity_id)

    assert source == f"rtsps://bblp:{x1c_sim.access_code}@127.0.0.1:322/streaming/live/1"
    state = hass.states.get(entity_id)
    assert state
    assert state.attributes[ATTR_SUPPORTED_FEATURES] == CameraEntityFeature.STREAM
    assert x1c_sim.access_code not in repr(state.as_dict())
    entity = er.async_get(hass).async_get(entity_id)
    assert entity
    assert x1c_sim.access_code not in repr(entity)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert x1c_sim.access_code not in repr(diagnostics)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_h2d_with_lan_liveview_off_offers_no_stream(
    hass: HomeAssistant, h2d_sim: BambuSimulator
) -> None:
    entry = await set_up(hass, h2d_sim)
    entity_id = camera_id(hass, h2d_sim.serial)
    assert entity_id

    assert await async_get_stream_source(hass, entity_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_prusa_printer_has_no_camera(
    hass: HomeAssistant, loaded_prusa_entry: MockConfigEntry
) -> None:
    assert hass.states.async_entity_ids("sensor")  # the printer is there, with entities
    assert not hass.states.async_entity_ids("camera")


@pytest.mark.parametrize("printer", BAMBU_PRINTERS)
@pytest.mark.usefixtures("socket_enabled")
async def test_camera_entities(
    hass: HomeAssistant, tmp_path: Path, snapshot: SnapshotAssertion, printer: str
) -> None:
    async with platform_printer(hass, tmp_path, printer, Platform.CAMERA) as (entry, secrets):
        assert entities_of(hass, entry, secrets) == snapshot
