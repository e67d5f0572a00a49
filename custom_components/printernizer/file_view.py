"""Serving local copies to a signed-in user: the file itself, or the thumbnail it carries.

Local copies live in `<root>/<serial>/<YYYY-MM>/<name>` (see `files.local`). A request names
those three parts; each is checked on its own (one plain component, no dot files, no partial
downloads), then the real path must be exactly that place inside the real root and a regular
file: `..`, separators, NUL, symlinks (of the file or of a folder on the way) and anything else
outside the files root are a 404, whatever the URL says. Views need a bearer token or a signed
path (the media browser signs the URLs it resolves), as HA's own media views do.

An AVI timelapse (which browsers cannot play) is served as a download; its MP4 (made by
`files.transcode`, hidden beside it) has a view of its own, named by the AVI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import mimetypes
import os
from pathlib import Path
import re
import stat
from typing import Final
from urllib.parse import quote

from aiohttp import hdrs, web
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView

from .const import LOGGER
from .files.transcode import playable
from .printers.bambu.threemf import parse_3mf
from .printers.errors import ProtocolError

FILES_URL: Final = "/api/printernizer/files"
THUMBNAILS_URL: Final = "/api/printernizer/file_thumbnails"
PLAYABLE_URL: Final = "/api/printernizer/playable_files"
MONTH: Final = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])")
_MAX_COMPONENT: Final = 255
_NOT_NAME: Final = re.compile("[\x00-\x1f\x7f/\\\\\ud800-\udfff]")
_PART_SUFFIX: Final = ".part"
# What a browser can show or play; everything else is offered as a download.
_INLINE: Final = ("image/", "video/mp4", "video/webm")
IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".gif")
VIDEO_SUFFIXES: Final = (".mp4", ".avi", ".mkv", ".mov")
THUMBNAIL_SUFFIXES: Final = (".3mf", *IMAGE_SUFFIXES, *VIDEO_SUFFIXES)
_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_MAX_IMAGE_BYTES: Final = 8 * 1024 * 1024
_EXTRA_TYPES: Final = {
    ".3mf": "model/3mf",
    ".gcode": "text/x.gcode",
    ".bgcode": "application/octet-stream",
    ".avi": "video/x-msvideo",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
}


def plain_component(name: str) -> bool:
    """One visible file or folder name of ours: no separator, dot file, partial or control."""
    return (
        0 < len(name) <= _MAX_COMPONENT
        and not name.startswith(".")
        and not name.endswith(_PART_SUFFIX)
        and not _NOT_NAME.search(name)
    )


def mime_type(name: str) -> str:
    """The content type a local copy is served with."""
    suffix = os.path.splitext(name)[1].lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """A checked local copy: its parts and its path inside the root."""

    serial: str
    month: str
    name: str
    path: Path

    @property
    def url(self) -> str:
        """The view's path for this file (percent-encoded parts)."""
        return f"{FILES_URL}/{_parts(self.serial, self.month, self.name)}"

    @property
    def playable_url(self) -> str:
        """The view's path for the MP4 of this (AVI) copy."""
        return f"{PLAYABLE_URL}/{_parts(self.serial, self.month, self.name)}"

    @property
    def thumbnail_url(self) -> str | None:
        """The thumbnail view's path, when the kind of file can carry one."""
        if not self.name.lower().endswith(THUMBNAIL_SUFFIXES):
            return None
        return f"{THUMBNAILS_URL}/{_parts(self.serial, self.month, self.name)}"


def _parts(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


def local_copy(root: Path, serial: str, month: str, name: str) -> LocalCopy | None:
    """The local copy these parts name, if it is one; blocking (lstat, realpath).

    None for anything that is not a regular file right at `<root>/<serial>/<month>/<name>`,
    with no symlink on the way.
    """
    if not (plain_component(serial) and MONTH.fullmatch(month) and plain_component(name)):
        return None
    path = root / serial / month / name
    try:
        info = os.lstat(path)
        real_root = os.path.realpath(root)
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or real != os.path.join(real_root, serial, month, name):
        return None
    return LocalCopy(serial, month, name, path)


def thumbnail(copy: LocalCopy) -> tuple[bytes, str] | None:
    """The picture a local copy carries (a 3MF's plate image, an image itself); blocking.

    A timelapse carries none: its cover is the printer's (see `LocalThumbnailsView`).
    """
    lowered = copy.name.lower()
    try:
        if lowered.endswith(".3mf"):
            png = parse_3mf(copy.path).thumbnail_png
            return None if png is None else (png, "image/png")
        if lowered.endswith(IMAGE_SUFFIXES) and copy.path.stat().st_size <= _MAX_IMAGE_BYTES:
            return copy.path.read_bytes(), mime_type(copy.name)
    except (OSError, ProtocolError) as err:
        LOGGER.debug("No thumbnail for %s: %s", copy.name, err)
    return None


def picture_type(data: bytes) -> str | None:
    """The content type of a JPEG or PNG by its first bytes; None for anything else."""
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    return None


# Looks up the printer's cover of a local copy (a timelapse's JPEG), None when it has none.
type CoverLookup = Callable[[LocalCopy], Awaitable[bytes | None]]


class _LocalFilesView(HomeAssistantView):
    requires_auth = True

    def __init__(self, root: Path, covers: CoverLookup | None = None) -> None:
        """Serve from this files root; covers come from the printers, if given."""
        self.root = root
        self.covers = covers

    async def _copy(self, request: web.Request, serial: str, month: str, name: str) -> LocalCopy:
        hass = request.app[KEY_HASS]
        copy = await hass.async_add_executor_job(local_copy, self.root, serial, month, name)
        if copy is None:
            raise web.HTTPNotFound
        return copy


def _file_response(path: Path, content_type: str, disposition: str, title: str) -> web.FileResponse:
    """The file streamed by aiohttp (ranges for video seeking), named `title` (any characters)."""
    return web.FileResponse(
        path,
        headers={
            hdrs.CONTENT_TYPE: content_type,
            hdrs.CONTENT_DISPOSITION: f"{disposition}; filename*=UTF-8''{quote(title)}",
        },
    )


class LocalFilesView(_LocalFilesView):
    """A local copy: shown inline if a browser can show it, else as a download."""

    url = FILES_URL + "/{serial}/{month}/{name}"
    name = "api:printernizer:files"

    async def get(
        self, request: web.Request, serial: str, month: str, name: str
    ) -> web.StreamResponse:
        """The file, streamed by aiohttp (ranges for video seeking included)."""
        copy = await self._copy(request, serial, month, name)
        content_type = mime_type(copy.name)
        disposition = "inline" if content_type.startswith(_INLINE) else "attachment"
        return _file_response(copy.path, content_type, disposition, copy.name)


class PlayableFilesView(_LocalFilesView):
    """The MP4 made of an AVI local copy, or 404 while there is none."""

    url = PLAYABLE_URL + "/{serial}/{month}/{name}"
    name = "api:printernizer:playable_files"

    async def get(
        self, request: web.Request, serial: str, month: str, name: str
    ) -> web.StreamResponse:
        """The MP4 (a regular file beside the checked copy, never a symlink), inline."""
        copy = await self._copy(request, serial, month, name)
        hass = request.app[KEY_HASS]
        path = await hass.async_add_executor_job(playable, copy.path)
        if path is None:
            raise web.HTTPNotFound
        title = f"{os.path.splitext(copy.name)[0]}.mp4"
        return _file_response(path, "video/mp4", "inline", title)


class LocalThumbnailsView(_LocalFilesView):
    """The thumbnail of a local copy, or 404 when it carries none."""

    url = THUMBNAILS_URL + "/{serial}/{month}/{name}"
    name = "api:printernizer:file_thumbnails"

    async def get(self, request: web.Request, serial: str, month: str, name: str) -> web.Response:
        """The picture, read (bounded) in the executor; a timelapse's cover from its printer."""
        copy = await self._copy(request, serial, month, name)
        if copy.name.lower().endswith(VIDEO_SUFFIXES):
            cover = None if self.covers is None else await self.covers(copy)
            content_type = None if cover is None else picture_type(cover)
            if cover is None or content_type is None:
                raise web.HTTPNotFound
            found: tuple[bytes, str] | None = (cover, content_type)
        else:
            hass = request.app[KEY_HASS]
            found = await hass.async_add_executor_job(thumbnail, copy)
        if found is None:
            raise web.HTTPNotFound
        body, content_type = found
        return web.Response(
            body=body, content_type=content_type, headers={hdrs.CACHE_CONTROL: "private"}
        )
