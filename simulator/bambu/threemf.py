"""Builds sliced `.gcode.3mf` job files shaped like Bambu Studio's, for the simulated SD card.

Only the parts printers and ha-bambulab-style clients read are filled in: `slice_info.config`,
the plate cover PNG and the plate G-code with its MD5. The model itself is an empty mesh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import hashlib
import io
import re
import struct
import zipfile
import zlib

_COLOR = re.compile(r"#[0-9A-F]{6}")
_PLATE = re.compile(r"plate_([1-9][0-9]*)")
_ZIP_DATE = (2024, 1, 1, 0, 0, 0)  # fixed, so equal inputs build byte-identical files
_THUMBNAIL_SIZE = 64

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
 <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
 <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
 <Default Extension="png" ContentType="image/png"/>
 <Default Extension="gcode" ContentType="text/x.gcode"/>
</Types>
"""

_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
 <Relationship Target="/3D/3dmodel.model" Id="rel-1"
  Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlicedFilament:
    """One filament of a sliced plate.

    `color` is "#RRGGBB" in upper case, exactly as Bambu Studio writes it into slice_info.config.
    """

    material: str
    color: str
    grams: float
    meters: float
    tray_info_idx: str = "GFA00"

    def __post_init__(self) -> None:
        """Reject colours the real slicer would never write, so tests fail at the source."""
        if not _COLOR.fullmatch(self.color):
            raise ValueError(f"color must be '#RRGGBB' in upper case, got {self.color!r}")


def build_3mf(
    *,
    plate_name: str = "plate_1",
    subtask: str,
    filaments: Sequence[SlicedFilament],
    prediction_seconds: int,
    total_layers: int,
) -> bytes:
    """A complete sliced 3MF for one plate; `plate_name` is "plate_<N>"."""
    match = _PLATE.fullmatch(plate_name)
    if match is None:
        raise ValueError(f"plate_name must look like 'plate_1', got {plate_name!r}")
    gcode = _gcode(subtask, filaments, prediction_seconds, total_layers)
    color = filaments[0].color if filaments else "#808080"
    members = {
        "[Content_Types].xml": _CONTENT_TYPES.encode(),
        "_rels/.rels": _RELS.encode(),
        "3D/3dmodel.model": _model(subtask).encode(),
        "Metadata/slice_info.config": _slice_info(
            int(match.group(1)), filaments, prediction_seconds
        ).encode(),
        f"Metadata/{plate_name}.png": _png(color),
        f"Metadata/{plate_name}.gcode": gcode,
        f"Metadata/{plate_name}.gcode.md5": hashlib.md5(gcode, usedforsecurity=False)
        .hexdigest()
        .upper()
        .encode(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, _ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _slice_info(index: int, filaments: Sequence[SlicedFilament], prediction: int) -> str:
    weight = sum(f.grams for f in filaments)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<config>",
        "  <header>",
        '    <header_item key="X-BBL-Client-Type" value="slicer"/>',
        '    <header_item key="X-BBL-Client-Version" value="01.10.02.76"/>',
        "  </header>",
        "  <plate>",
        f'    <metadata key="index" value="{index}"/>',
        '    <metadata key="printer_model_id" value="C12"/>',
        '    <metadata key="nozzle_diameters" value="0.4"/>',
        f'    <metadata key="prediction" value="{prediction}"/>',
        f'    <metadata key="weight" value="{weight:.2f}"/>',
        '    <metadata key="outside" value="false"/>',
        '    <metadata key="support_used" value="false"/>',
        '    <metadata key="label_object_enabled" value="true"/>',
        '    <object identify_id="101" name="model" skipped="false"/>',
    ]
    lines.extend(
        f'    <filament id="{number}" tray_info_idx="{_attr(f.tray_info_idx)}"'
        f' type="{_attr(f.material)}" color="{f.color}" used_m="{f.meters:.2f}"'
        f' used_g="{f.grams:.2f}"/>'
        for number, f in enumerate(filaments, start=1)
    )
    lines += ["  </plate>", "</config>", ""]
    return "\n".join(lines)


def _attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _model(subtask: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<model unit="millimeter" xml:lang="en-US"'
        ' xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">\n'
        f' <metadata name="Title">{_attr(subtask)}</metadata>\n'
        ' <metadata name="Application">BambuStudio-01.10.02.76</metadata>\n'
        " <resources/>\n"
        " <build/>\n"
        "</model>\n"
    )


def _gcode(
    subtask: str, filaments: Sequence[SlicedFilament], prediction: int, total_layers: int
) -> bytes:
    hours, rest = divmod(prediction, 3600)
    minutes, seconds = divmod(rest, 60)
    lines = [
        "; HEADER_BLOCK_START",
        "; BambuStudio 01.10.02.76",
        f"; model printing time: {hours}h {minutes}m {seconds}s;"
        f" total estimated time: {hours}h {minutes}m {seconds}s",
        f"; total layer number: {total_layers}",
        f"; total filament length [mm] : {', '.join(f'{f.meters * 1000:.2f}' for f in filaments)}",
        f"; total filament weight [g] : {', '.join(f'{f.grams:.2f}' for f in filaments)}",
        f"; filament_type = {';'.join(f.material for f in filaments)}",
        f"; filament_colour = {';'.join(f.color for f in filaments)}",
        f"; subtask: {subtask}",
        "; HEADER_BLOCK_END",
        "M73 P0 R" + str(prediction // 60),
        "M140 S60",
        "M104 S220",
        "G28",
        "M190 S60",
        "M109 S220",
    ]
    for layer in range(1, total_layers + 1):
        lines += [
            "; CHANGE_LAYER",
            f"; Z_HEIGHT: {layer * 0.2:.2f}",
            f"M73 L{layer}",
            f"G1 Z{layer * 0.2:.2f} F600",
            "G1 X120 Y120 E0.5 F3000",
        ]
    lines += ["M104 S0", "M140 S0", "M84", ""]
    return "\n".join(lines).encode()


def _png(color: str) -> bytes:
    """A small RGB cover: the first filament's colour with a lighter diagonal stripe."""
    base = bytes.fromhex(color[1:])
    light = bytes(min(255, c + 80) for c in base)
    rows = b"".join(
        b"\x00" + b"".join(light if abs(x - y) < 6 else base for x in range(_THUMBNAIL_SIZE))
        for y in range(_THUMBNAIL_SIZE)
    )
    header = struct.pack(">IIBBBBB", _THUMBNAIL_SIZE, _THUMBNAIL_SIZE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
