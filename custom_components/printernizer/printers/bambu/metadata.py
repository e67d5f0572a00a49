"""Finding and reading the running job's 3MF on the printer's SD card.

Where the file lies depends on how the job was sent (Studio/cloud jobs in `/cache`, LAN uploads
in `/`) and whether the name carries `.gcode`; these are the places ha-bambulab's users found.
Blocking: runs in an executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
import posixpath
import tempfile

from ..models import JobMetadata
from .ftps import BambuFtpsClient, RemoteFileNotFoundError
from .threemf import parse_3mf

_DIRECTORIES = ("/cache", "/")
# The 3MF of a job is rarely above a few MB; this bounds a hostile or broken printer.
MAX_3MF_BYTES = 256 * 1024 * 1024


def candidates(subtask: str | None, gcode_file: str | None) -> list[str]:
    """Paths to try, most likely first."""
    names: list[str] = []
    if subtask:
        names += [f"{subtask}.gcode.3mf", f"{subtask}.3mf"]
    if gcode_file and gcode_file.endswith(".3mf") and not gcode_file.startswith("/data/"):
        names.append(posixpath.basename(gcode_file))
    return [
        posixpath.join(directory, name)
        for name in dict.fromkeys(names)
        for directory in _DIRECTORIES
    ]


def fetch_job_metadata(
    client: BambuFtpsClient,
    subtask: str | None,
    gcode_file: str | None,
    slot_ids: Mapping[int, str],
) -> JobMetadata:
    """Find the job's 3MF, download it to a temporary file and parse it.

    Listing first keeps it to three connections whatever the name; P1 firmware is fragile.
    Raises RemoteFileNotFoundError while the file is not there (yet).
    """
    files = [
        entry
        for directory in _DIRECTORIES
        for entry in client.list_dir(directory)
        if not entry.is_dir and entry.name.endswith(".3mf")
    ]
    present = {entry.path for entry in files}
    path = next((path for path in candidates(subtask, gcode_file) if path in present), None)
    if path is None and not subtask and files:
        # After a printer reboot the job name is gone; the newest 3MF is the best guess.
        path = max(files, key=lambda entry: entry.modified or datetime.min).path
    if path is None:
        raise RemoteFileNotFoundError(f"No 3MF for job {subtask!r} on the printer")
    with tempfile.TemporaryDirectory(prefix="printernizer-") as directory:
        target = Path(directory) / "job.3mf"
        client.download(path, target, max_bytes=MAX_3MF_BYTES)
        return parse_3mf(target, slot_ids=slot_ids)
