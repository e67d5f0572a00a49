"""Peak memory of the job file readers on the worst files a printer could hand them.

Each case runs in a fresh interpreter: it imports the readers, loads its input, notes its peak
resident set, reads, and reports how far that high-water mark rose (C allocations included,
which tracemalloc misses), then again under tracemalloc for the peak of Python allocations, and
the wall time. The mark is VmHWM, not `ru_maxrss`: Linux carries the parent's `ru_maxrss` into
a child across fork and exec, which hid everything below this process's own size.

The hostile files are built here, a MiB at a time: 400 MiB bzip2, deflate and lzma bombs whose
headers declare 1,000 bytes, a 1,000,000-entry ZIP64, 4 MiB of XML elements, one tag of 300,000
attributes, a bgcode metadata block declaring size 0 over 400 MiB of deflate, and G-code tails
of 40,000 short lines or one endless line. A sliced 3MF as the simulator writes it is the yardstick.

`python -m bench.file_readers --tree PATH` measures another checkout of the integration (for
example the commit before the readers were bounded) against the same files.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import io
import json
from pathlib import Path
import struct
import subprocess
import sys
import tempfile
from typing import Any
import zipfile
import zlib

from simulator.bambu.threemf import SlicedFilament, build_3mf
from tests.printers.hostile_files import bomb, many_entries, raw_zip, stored

ROOT = Path(__file__).resolve().parent.parent
BOMB_MIB = 400
SLICE_INFO = "Metadata/slice_info.config"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)

# Runs in the child: the readers of `tree`, one case, one JSON line out.
_WORKER = """
import json, re, sys, time, tracemalloc, types
from pathlib import Path
tree, kind, path, mode = sys.argv[1:5]
sys.path.insert(0, tree)
# The readers only, without the integration's package (and Home Assistant) around them.
package = types.ModuleType("custom_components.printernizer")
package.__path__ = [f"{tree}/custom_components/printernizer"]
sys.modules[package.__name__] = package
from custom_components.printernizer.printers.bambu.threemf import parse_3mf
from custom_components.printernizer.printers.prusa.metadata import (
    BgcodeReader, metadata_from_values, parse_gcode_tail,
)
def high_water():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
data = b"" if kind == "3mf" else Path(path).read_bytes()
base = high_water()
if mode == "tracemalloc":
    tracemalloc.start()
start = time.perf_counter()
try:
    if kind == "3mf":
        metadata = parse_3mf(Path(path))
    elif kind == "bgcode":
        reader = BgcodeReader()
        for offset in range(0, len(data), 65536):
            if reader.feed(data[offset : offset + 65536]):
                break
        metadata = reader.result()
    else:
        metadata = metadata_from_values(parse_gcode_tail(data, whole_file=True))
    outcome = f"{len(metadata.filaments)} filaments"
except Exception as err:
    outcome = type(err).__name__
seconds = time.perf_counter() - start
if mode == "tracemalloc":
    peak = tracemalloc.get_traced_memory()[1] // 1024
else:
    peak = high_water() - base
print(json.dumps({"peak_kib": peak, "seconds": seconds, "outcome": outcome}))
"""


def _real_3mf() -> bytes:
    filaments = [SlicedFilament(material="PLA", color="#FF0000", grams=12.5, meters=4)]
    return build_3mf(subtask="Benchy", filaments=filaments, prediction_seconds=3600, total_layers=9)


def _zip_bomb(method: int) -> bytes:
    member = bomb(SLICE_INFO, method, BOMB_MIB, declared=1000)
    return raw_zip([member, stored("Metadata/plate_1.png", PNG)])


def _xml_elements() -> bytes:
    filament = b'<filament id="1" type="PLA" used_g="1"/>'
    body = filament * ((4 * 1024 * 1024 - 200) // len(filament))
    return _with_slice_info(
        b'<config><plate><metadata key="index" value="1"/>' + body + b"</plate></config>"
    )


def _attributes() -> bytes:
    attributes = " ".join(f"a{index:x}=''" for index in range(300_000)).encode()
    return _with_slice_info(b"<config><plate><filament " + attributes + b"/></plate></config>")


def _with_slice_info(document: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SLICE_INFO, document)
    return buffer.getvalue()


def _bgcode_bomb() -> bytes:
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    payload = b"".join(compressor.compress(chunk) for _ in range(BOMB_MIB)) + compressor.flush()
    ini = struct.pack("<H", 0)
    blocks = struct.pack("<HHII", 4, 1, 0, len(payload)) + ini + payload  # size 0: "unknown"
    blocks += struct.pack("<HHI", 1, 0, 6) + ini + b"G1 X1\n"
    return b"GCDE" + struct.pack("<IH", 1, 0) + blocks


def _key_lines(count: int) -> bytes:
    return b"".join(b"; key%d = %d\n" % (index, index) for index in range(count))


def _bgcode_lines() -> bytes:
    lines = _key_lines(40_000)
    ini = struct.pack("<H", 0)
    block = struct.pack("<HHI", 4, 0, len(lines)) + ini + lines
    return b"GCDE" + struct.pack("<IH", 1, 0) + block + struct.pack("<HHI", 1, 0, 0)


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "3MF as sliced (yardstick)": ("3mf", _real_3mf),
    "3MF bzip2 bomb 400 MiB": ("3mf", lambda: _zip_bomb(zipfile.ZIP_BZIP2)),
    "3MF deflate bomb 400 MiB": ("3mf", lambda: _zip_bomb(zipfile.ZIP_DEFLATED)),
    "3MF lzma bomb 400 MiB": ("3mf", lambda: _zip_bomb(zipfile.ZIP_LZMA)),
    "3MF 1,000,000 entries": ("3mf", lambda: many_entries(1_000_000)),
    "3MF 4 MiB of XML elements": ("3mf", _xml_elements),
    "3MF tag of 300,000 attributes": ("3mf", _attributes),
    "bgcode deflate bomb 400 MiB": ("bgcode", _bgcode_bomb),
    "bgcode 40,000 metadata lines": ("bgcode", _bgcode_lines),
    "G-code tail 40,000 lines": ("gcode", lambda: _key_lines(40_000)),
    "G-code tail, 1 MiB, no newline": ("gcode", lambda: b";" * (1 << 20)),
}


def measure(tree: Path, kind: str, path: Path, mode: str) -> dict[str, Any]:
    """Run one case in a fresh interpreter against the readers of `tree`.

    `mode` "rss": growth of the high-water mark (everything, C included); "tracemalloc": peak of
    Python allocations, which small cases show better since freed import memory hides them.
    """
    child = subprocess.run(
        [sys.executable, "-c", _WORKER, str(tree), kind, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def run(tree: Path = ROOT) -> None:
    """Build every case once, measure each, print a table."""
    print(f"file readers: peak memory per case, fresh process each ({tree})")
    print(
        f"  {'case':32} {'file':>14}  {'RSS growth':>12}  {'tracemalloc':>12}  {'time':>7}  result"
    )
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as directory:
        for name, (kind, build) in CASES.items():
            path = Path(directory) / "case"
            data = build()
            path.write_bytes(data)
            del data
            rss = measure(tree, kind, path, "rss")
            traced = measure(tree, kind, path, "tracemalloc")
            size = path.stat().st_size
            print(
                f"  {name:32} {size / 1024:10,.0f} KiB  {rss['peak_kib'] / 1024:8,.1f} MiB  "
                f"{traced['peak_kib'] / 1024:8,.1f} MiB  {rss['seconds']:5.2f} s  {rss['outcome']}"
            )


def main() -> None:
    """Measure this checkout, or the one given with --tree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tree", type=Path, default=ROOT)
    run(parser.parse_args(sys.argv[1:] if __name__ == "__main__" else []).tree.resolve())


if __name__ == "__main__":
    main()
