"""The local copies in HA's media browser: Printernizer -> printer -> month -> file.

Timelapses (video) and pictures play; print files are listed with their plate thumbnail
where they carry one. An AVI timelapse (P1/A1) plays as the MP4 made of it in the background
(`files.transcode`); until then, or without ffmpeg, it is listed but not playable (browsers
cannot play Motion-JPEG AVI) and resolves to the AVI itself, for players that can.

Identifiers are `<serial>/<YYYY-MM>/<name>` below the files root and are checked like a
request to the file view (`file_view.local_copy`): nothing outside the root, no partial
download, no symlink is ever listed or resolved. Reading folders blocks, so it runs in the
executor.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from pathlib import Path
import stat

from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .file_view import MONTH, LocalCopy, local_copy, mime_type, plain_component
from .files.transcode import needs_playable, playable
from .printer_files import DATA_FILES, files_root

_PLAYABLE = ("video/", "image/")


async def async_get_media_source(hass: HomeAssistant) -> MediaSource:
    """The Printernizer media source (HA calls this once media_source is set up)."""
    return PrinternizerMediaSource(hass)


def _folders(path: Path, *, months: bool) -> list[str]:
    """The plain (or month) sub-folders of `path`, symlinks left out; blocking."""
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    wanted = MONTH.fullmatch if months else plain_component
    return sorted(
        (
            entry.name
            for entry in entries
            if wanted(entry.name) and entry.is_dir(follow_symlinks=False)
        ),
        reverse=months,
    )


def _printer_folders(root: Path) -> list[str]:
    return _folders(root, months=False)


def _months(root: Path, serial: str) -> list[str] | None:
    """The month folders of a printer; None when the printer has no folder of its own."""
    if not plain_component(serial):
        return None
    try:
        info = os.lstat(root / serial)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    return _folders(root / serial, months=True)


def _files(root: Path, serial: str, month: str) -> list[tuple[LocalCopy, bool]] | None:
    """The local copies of one month, newest first, each with whether it has an MP4.

    None when there is no such month.
    """
    if not (plain_component(serial) and MONTH.fullmatch(month)):
        return None
    folder = root / serial / month
    try:
        # Neither the printer's nor the month's folder may be a symlink (lstat does not follow).
        if not all(stat.S_ISDIR(os.lstat(path).st_mode) for path in (root / serial, folder)):
            return None
        entries = list(os.scandir(folder))
    except (OSError, ValueError):
        return None
    found: list[tuple[float, LocalCopy]] = []
    for entry in entries:
        copy = local_copy(root, serial, month, entry.name)
        if copy is not None:
            found.append((entry.stat(follow_symlinks=False).st_mtime, copy))
    found.sort(key=lambda item: (-item[0], item[1].name))
    return [
        (copy, needs_playable(copy.name) and playable(copy.path) is not None) for _, copy in found
    ]


def _resolved(root: Path, serial: str, month: str, name: str) -> PlayMedia | None:
    """What a local copy plays as: its MP4 when it has one, else itself; blocking."""
    copy = local_copy(root, serial, month, name)
    if copy is None:
        return None
    if needs_playable(copy.name) and playable(copy.path) is not None:
        return PlayMedia(copy.playable_url, "video/mp4")
    return PlayMedia(copy.url, mime_type(copy.name))


class PrinternizerMediaSource(MediaSource):
    """Browses and resolves the local copies of every printer's files."""

    name = "Printernizer"

    def __init__(self, hass: HomeAssistant) -> None:
        """Read from this HA's files root."""
        super().__init__(DOMAIN)
        self.hass = hass
        self.root = files_root(hass)

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """The file view's URL of a local copy (signed by HA when handed to a browser)."""
        serial, month, name = _split(item.identifier)
        media = await self.hass.async_add_executor_job(_resolved, self.root, serial, month, name)
        if media is None:
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="media_not_found",
                translation_placeholders={"identifier": item.identifier[:80]},
            )
        return media

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """The printers, a printer's months, or a month's files."""
        identifier = item.identifier or ""
        parts = identifier.split("/") if identifier else []
        run = self.hass.async_add_executor_job
        if not parts:
            serials = await run(_printer_folders, self.root)
            return self._folder(
                None, self.name or DOMAIN, [self._printer(serial) for serial in serials]
            )
        if len(parts) == 1:
            months = await run(_months, self.root, parts[0])
            if months is not None:
                return self._folder(
                    parts[0],
                    self._printer_title(parts[0]),
                    [self._month(parts[0], month) for month in months],
                )
        elif len(parts) == 2:
            files = await run(_files, self.root, parts[0], parts[1])
            if files is not None:
                self._make_playable(copy for copy, has_mp4 in files if not has_mp4)
                return self._folder(
                    identifier,
                    f"{self._printer_title(parts[0])} {parts[1]}",
                    [self._file(copy, has_mp4) for copy, has_mp4 in files],
                )
        raise BrowseError(
            translation_domain=DOMAIN,
            translation_key="media_not_found",
            translation_placeholders={"identifier": identifier[:80]},
        )

    def _make_playable(self, copies: Iterable[LocalCopy]) -> None:
        """Have the MP4 made of AVI copies that lack one (older ones, or cut by a restart)."""
        files = self.hass.data.get(DATA_FILES)
        if files is not None:
            for copy in copies:
                files.request_playable(copy.path)

    def _printer_title(self, serial: str) -> str:
        device = dr.async_get(self.hass).async_get_device(identifiers={(DOMAIN, serial)})
        if device is None:
            return serial
        return device.name_by_user or device.name or serial

    def _folder(
        self, identifier: str | None, title: str, children: list[BrowseMediaSource]
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.APP if identifier is None else "",
            title=title,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=MediaClass.DIRECTORY
            if identifier is None or "/" not in identifier
            else None,
        )

    def _printer(self, serial: str) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=serial,
            media_class=MediaClass.DIRECTORY,
            media_content_type="",
            title=self._printer_title(serial),
            can_play=False,
            can_expand=True,
        )

    def _month(self, serial: str, month: str) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=f"{serial}/{month}",
            media_class=MediaClass.DIRECTORY,
            media_content_type="",
            title=month,
            can_play=False,
            can_expand=True,
        )

    def _file(self, copy: LocalCopy, has_mp4: bool) -> BrowseMediaSource:
        content_type = "video/mp4" if has_mp4 else mime_type(copy.name)
        can_play = content_type.startswith(_PLAYABLE) and (has_mp4 or not needs_playable(copy.name))
        if content_type.startswith("video/"):
            media_class = MediaClass.VIDEO
        elif content_type.startswith("image/"):
            media_class = MediaClass.IMAGE
        else:
            media_class = MediaClass.URL
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=f"{copy.serial}/{copy.month}/{copy.name}",
            media_class=media_class,
            media_content_type=content_type,
            title=copy.name,
            can_play=can_play,
            can_expand=False,
            thumbnail=copy.thumbnail_url,
        )


def _split(identifier: str) -> tuple[str, str, str]:
    """Serial, month and name of a file's identifier (checked by `local_copy`)."""
    parts = identifier.split("/")
    if len(parts) != 3:
        return "", "", ""
    return parts[0], parts[1], parts[2]
