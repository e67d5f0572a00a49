"""A simulated Prusa printer speaking PrusaLink over HTTP, as Buddy firmware or a Pi does.

```python
async with PrusaSimulator(family="buddy", speed=600) as sim:   # or family="pi"
    sim.base_url                  # http://127.0.0.1:<free port>; credentials: maker/password
    task = sim.start_print(minutes=30)  # IDLE -> PRINTING -> FINISHED (persists until clear())
    await sim.pause(); await sim.resume(); await sim.attention(); await sim.stop_print()
    await sim.error(); await sim.busy(); await sim.clear()
    sim.state, sim.job, sim.transfer            # "PRINTING", Job(id, progress, ...), Transfer
    sim.go_offline(); sim.go_offline(hang=True); sim.go_online()
    sim.inject(latency=0.2, status_503=2, hang=1, truncate=1, non_json=1)  # inject() clears
    sim.serve("/api/v1/status", {"printer": {"temp_bed": float("inf")}}, times=2)  # any body
    sim.serve("/api/v1/job", b"[" * 20_000)     # bytes go out verbatim; inject() clears both
    sim.expire_nonces()
    sim.printer_connected = False               # Pi: 503 before auth
    sim.print_minutes = 1.0                     # prints started over HTTP (default: file estimate)
    sim.requests, sim.max_in_flight, sim.max_connections_open; sim.reset_stats()
    sim.files["usb"].add_file("Part.gcode", data)   # storages: usb | local, sdcard
```

Constructor extras beyond the brief: firmware, capacity (bytes; uploads beyond it get 507 on
Buddy, 413 on the Pi), max_connections (served at once; more wait in the backlog), hang_seconds
(how long a never-answered request holds its connection).

Modules: printer (state machine and scenarios), server (routes, auth gate, request recording),
auth (digest and API keys per family), errors (error bodies per family), payloads (JSON shapes),
files (storages, 8.3 names), gcode (G-code and .bgcode writer/reader), faults, listener.
"""

from .files import Storage, Transfer, VirtualFile, VirtualFolder
from .printer import Job, PrusaSimulator
from .server import RecordedRequest

__all__ = [
    "Job",
    "PrusaSimulator",
    "RecordedRequest",
    "Storage",
    "Transfer",
    "VirtualFile",
    "VirtualFolder",
]
