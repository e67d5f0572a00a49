"""Timelapses in the media browser: X1/H2 write MP4 (plays as is), P1/A1 write Motion-JPEG AVI,
which no browser plays, so HA's ffmpeg makes an MP4 of it in the background.

ffmpeg here is the static binary of the `imageio-ffmpeg` test dependency, found as `ffmpeg` on
the path (what HA's ffmpeg integration runs by default) or named in its configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import importlib.util
import logging
import os
from pathlib import Path
import shutil
import subprocess
from typing import Any

from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.printernizer.const import DOMAIN
from custom_components.printernizer.files import local
from custom_components.printernizer.printer_files import printer_files
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.timelapse import ffmpeg_binary, frames, mjpeg_avi, write_timelapse

MONTH = "2026-12"
NAME = "video_2026-12-01_10-00-00.avi"


def probe(path: Path) -> str:
    """What ffmpeg reads in a file (its stream lines), blocking."""
    result = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    return result.stderr.decode(errors="replace")


async def until(hass: HomeAssistant, check: Callable[[], bool], seconds: float = 60) -> None:
    """Wait (bounded) until a blocking check holds."""
    async with asyncio.timeout(seconds):
        while not await hass.async_add_executor_job(check):
            await asyncio.sleep(0.05)


async def listing(hass: HomeAssistant, folder: Path) -> list[str]:
    return sorted(await hass.async_add_executor_job(os.listdir, folder))


@pytest.fixture
def ffmpeg_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ffmpeg` on the path is the test dependency's static binary."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ffmpeg").symlink_to(ffmpeg_binary())
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def no_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ffmpeg anywhere on the path."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
async def month(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator, tmp_path: Path
) -> AsyncIterator[Path]:
    """The P1S loaded with media_source; its month folder holds an AVI timelapse copy."""
    hass.config.config_dir = str(tmp_path / "config")
    assert await async_setup_component(hass, "media_source", {})
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    folder = Path(hass.config.path(DOMAIN, "files", bambu_sim.serial, MONTH))
    avi = mjpeg_avi(await hass.async_add_executor_job(frames, 8))

    def lay_out() -> None:
        folder.mkdir(parents=True)
        (folder / NAME).write_bytes(avi)

    await hass.async_add_executor_job(lay_out)
    yield folder
    assert await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


async def shown(hass: HomeAssistant, serial: str, name: str = NAME) -> Any:
    browsed = await media_source.async_browse_media(
        hass, f"media-source://{DOMAIN}/{serial}/{MONTH}"
    )
    return next(child for child in browsed.children if child.title == name)


async def test_an_avi_timelapse_plays_as_the_mp4_made_of_it(
    hass: HomeAssistant,
    ffmpeg_on_path: None,
    month: Path,
    bambu_sim: BambuSimulator,
    hass_client: ClientSessionGenerator,
) -> None:
    serial = bambu_sim.serial
    before = await shown(hass, serial)
    # Not playable yet; browsing asked for its MP4.
    assert (before.can_play, before.media_content_type) == (False, "video/x-msvideo")
    mp4 = local.playable_path(month / NAME)
    await until(hass, mp4.exists)
    after = await shown(hass, serial)
    assert (after.can_play, after.media_class, after.media_content_type) == (
        True,
        "video",
        "video/mp4",
    )
    media = await media_source.async_resolve_media(hass, after.media_content_id, None)
    assert media.mime_type == "video/mp4"
    client = await hass_client()
    response = await client.get(media.url)
    assert response.status == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert "video_2026-12-01_10-00-00.mp4" in response.headers["Content-Disposition"]
    body = await response.read()
    assert body[4:8] == b"ftyp"
    streams = await hass.async_add_executor_job(probe, mp4)
    assert "Video: h264" in streams
    assert "yuv420p" in streams
    # The AVI stays as downloaded, offered as a file; the MP4 is not a local copy of its own.
    avi = await client.get(media.url.replace("/playable_files/", "/files/"))
    assert avi.status == 200
    assert avi.headers["Content-Disposition"].startswith("attachment")
    assert avi.headers["Content-Type"] == "video/x-msvideo"
    titles = [
        child.title
        for child in (
            await media_source.async_browse_media(hass, f"media-source://{DOMAIN}/{serial}/{MONTH}")
        ).children
    ]
    assert titles == [NAME]
    assert not [name for name in await listing(hass, month) if name.endswith(".part")]
    # Deleting the local copy takes its MP4 along.
    assert await hass.async_add_executor_job(local.remove, month / NAME)
    assert not await hass.async_add_executor_job(mp4.exists)
    assert (await client.get(media.url)).status == 404


async def test_without_ffmpeg_an_avi_is_an_honest_download(
    hass: HomeAssistant,
    no_ffmpeg: None,
    month: Path,
    bambu_sim: BambuSimulator,
    caplog: pytest.LogCaptureFixture,
    hass_client: ClientSessionGenerator,
) -> None:
    serial = bambu_sim.serial
    await hass.async_add_executor_job(shutil.copyfile, month / NAME, month / "other.avi")
    await shown(hass, serial)
    transcoder = printer_files(hass).transcoder
    assert transcoder is not None

    def tried() -> bool:
        return transcoder.available is False and not transcoder.pending(month / NAME)

    await until(hass, tried)
    for name in (NAME, "other.avi"):
        item = await shown(hass, serial, name)  # browsing again asks nothing more
        assert (item.can_play, item.media_content_type) == (False, "video/x-msvideo")
    assert caplog.text.count("Cannot run ffmpeg") == 1
    assert [r.levelno for r in caplog.records if "Cannot run ffmpeg" in r.message] == [
        logging.WARNING
    ]
    media = await media_source.async_resolve_media(hass, item.media_content_id, None)
    assert media.mime_type == "video/x-msvideo"  # players that can play AVI get the file
    response = await (await hass_client()).get(media.url)
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert await listing(hass, month) == sorted([NAME, "other.avi"])


async def test_an_avi_ffmpeg_cannot_read_stays_a_download_and_is_not_retried(
    hass: HomeAssistant,
    ffmpeg_on_path: None,
    month: Path,
    bambu_sim: BambuSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    serial = bambu_sim.serial
    broken = month / "broken.avi"
    await hass.async_add_executor_job(
        broken.write_bytes, b"RIFF\x00\x00\x00\x00AVI garbage" + os.urandom(2000)
    )
    await shown(hass, serial, "broken.avi")
    transcoder = printer_files(hass).transcoder
    assert transcoder is not None
    await until(
        hass, lambda: not transcoder.pending(broken) and not transcoder.pending(month / NAME)
    )
    assert "ffmpeg could not convert broken.avi" in caplog.text
    item = await shown(hass, serial, "broken.avi")
    assert item.can_play is False
    assert not transcoder.pending(broken)  # not asked again
    assert caplog.text.count("ffmpeg could not convert broken.avi") == 1
    leftovers = [name for name in await listing(hass, month) if name.startswith(".")]
    assert leftovers == [local.playable_path(month / NAME).name]  # the good one, no partials


async def test_a_p1s_timelapse_download_gets_its_mp4(
    hass: HomeAssistant, ffmpeg_on_path: None, month: Path, bambu_sim: BambuSimulator
) -> None:
    """After the download completes (no browsing), the MP4 is made."""
    video = await hass.async_add_executor_job(
        write_timelapse, bambu_sim.sdcard, "video_2026-12-02_08-00-00"
    )
    files = printer_files(hass)
    await files.manager.list_files(bambu_sim.serial, refresh=True)
    download_id = await files.manager.download(bambu_sim.serial, "/timelapse", video.name)

    def done() -> bool:
        return files.manager.download_status(download_id).state.finished

    await until(hass, done)
    local_path = files.manager.download_status(download_id).local_path
    assert local_path is not None
    await until(hass, local.playable_path(local_path).exists)
    assert "Video: h264" in await hass.async_add_executor_job(
        probe, local.playable_path(local_path)
    )


@pytest.mark.parametrize(
    ("model", "suffix"), [("P1S", ".avi"), ("A1", ".avi"), ("X1C", ".mp4"), ("H2D", ".mp4")]
)
def test_the_simulator_writes_the_models_container(tmp_path: Path, model: str, suffix: str) -> None:
    video = write_timelapse(tmp_path, "video_x", model=model)
    assert video.suffix == suffix
    assert (tmp_path / "timelapse" / "thumbnail" / "video_x.jpg").read_bytes()[
        :3
    ] == b"\xff\xd8\xff"
    streams = probe(video)
    if suffix == ".mp4":
        assert "Video: h264 (Constrained Baseline)" in streams
        assert "yuv420p(tv" in streams
        assert video.read_bytes()[4:8] == b"ftyp"
        assert video.read_bytes().find(b"moov") < video.read_bytes().find(b"mdat")  # streams
    else:
        assert "Video: mjpeg" in streams


@pytest.mark.skipif(
    importlib.util.find_spec("haffmpeg") is None,
    reason="HA's ffmpeg integration needs ha-ffmpeg (not in this venv)",
)
async def test_the_ffmpeg_integrations_binary_is_used(
    hass: HomeAssistant, no_ffmpeg: None, month: Path, bambu_sim: BambuSimulator
) -> None:
    """Configured as `ffmpeg: ffmpeg_bin: ...`, HA's ffmpeg is that one (none on the path)."""
    binary = await hass.async_add_executor_job(ffmpeg_binary)
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": binary}})
    await shown(hass, bambu_sim.serial)
    await until(hass, local.playable_path(month / NAME).exists)
    item = await shown(hass, bambu_sim.serial)
    assert (item.can_play, item.media_content_type) == (True, "video/mp4")
