"""The simulated Bambu printer, seen from the outside through TLS, mosquitto and a paho client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import json
from pathlib import Path
import ssl
import struct
import subprocess
import sys
from typing import Any
import zipfile

import pytest

from simulator.bambu.mqtt import CONNACK, encode_string, packet, read_packet
from simulator.bambu.printer import BambuSimulator
from simulator.bambu.replay import load_replay
from simulator.bambu.scenarios import GARBAGE_KINDS, garbage

from .bambu_client import TIMEOUT, ReportClient, client_context

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "bambu" / "p1s_print.jsonl"
LOCKDOWN_HMS = {"attr": 0x05000500, "code": 0x00010007}
RUNOUT_HMS = {"attr": 0x07000200, "code": 0x00020001}

MakeSim = Callable[..., Awaitable[BambuSimulator]]
Connect = Callable[..., Awaitable[ReportClient]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    sims: list[BambuSimulator] = []

    async def make(**kwargs: Any) -> BambuSimulator:
        sim = BambuSimulator(**({"speed": 600.0} | kwargs))
        sims.append(sim)
        await sim.start()
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def connect(make_sim: MakeSim) -> AsyncIterator[Connect]:
    clients: list[ReportClient] = []

    async def make(sim: BambuSimulator, **kwargs: Any) -> ReportClient:
        client = ReportClient(sim, **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield make
    for client in clients:
        client.close()


def ack_for(sequence_id: str) -> Callable[[dict[str, Any]], bool]:
    """Matches a command ACK (any category) echoing this sequence_id."""
    return lambda m: any(
        isinstance(body, dict) and body.get("sequence_id") == sequence_id and "result" in body
        for body in m.values()
    )


async def until(condition: Callable[[], bool]) -> None:
    """Poll a simulator-side condition that no message announces (connection counts)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("model", "board", "project", "product", "ams"),
    [
        ("P1S", "esp32", "C12", "Bambu Lab P1S", "ams/0"),
        ("A1", "esp32", "N2S", "", "ams_f1/0"),
        ("X1C", "rv1126", "", "", "ams/0"),
    ],
)
async def test_version_and_full_report(
    make_sim: MakeSim, connect: Connect, model: str, board: str, project: str, product: str,
    ams: str,
) -> None:  # fmt: skip
    sim = await make_sim(model=model)
    client = await connect(sim)
    version_seq = client.request("info", "get_version")
    client.request("pushing", "pushall", version=1, push_target=1)

    info = (await client.next_json(lambda m: "info" in m))["info"]
    assert info["sequence_id"] == version_seq
    assert info["result"] == "success"
    modules = {module["name"]: module for module in info["module"]}
    assert modules["ota"]["project_name"] == project
    assert modules["ota"]["product_name"] == product
    assert modules["ota"]["sw_ver"].startswith("01.0")
    assert modules[board]["hw_ver"] == "AP05"
    assert modules[board]["project_name"] == project
    assert ams in modules

    full = (await client.next_json(lambda m: m.get("print", {}).get("msg") == 0))["print"]
    assert full["command"] == "push_status"
    assert full["gcode_state"] == "IDLE"
    assert len(full["ams"]["ams"][0]["tray"]) == 4
    assert full["vt_tray"]["id"] == "254"
    assert full["lights_report"][0]["node"] == "chamber_light"
    assert full["wifi_signal"].endswith("dBm")
    assert isinstance(full["cooling_fan_speed"], str)
    assert full["nozzle_diameter"] == "0.4"
    assert not int(full["fun"], 16) & 0x20000000
    assert full["stg_cur"] == {"P1S": 255, "A1": 0, "X1C": -1}[model]
    await sim.wait_for_request("pushall")
    assert [next(iter(r)) for r in sim.requests] == ["info", "pushing"]


async def test_wrong_access_code_gets_connack_5(make_sim: MakeSim) -> None:
    sim = await make_sim()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", sim.mqtt_port, ssl=client_context(sim.ca_pem)
    )
    login = b"".join(
        [encode_string("MQTT"), bytes([4, 0xC2]), struct.pack("!H", 30),
         encode_string("wrong-code"), encode_string("bblp"), encode_string("87654321")]
    )  # fmt: skip
    writer.write(packet(0x10, login))
    header, body = await asyncio.wait_for(read_packet(reader), TIMEOUT)
    writer.transport.abort()
    assert header[0] >> 4 == CONNACK
    assert body[1] == 5


async def test_subscribing_to_another_serial_drops_the_connection(make_sim: MakeSim) -> None:
    sim = await make_sim()
    client = ReportClient(sim, topic_serial="01P00A999999999")
    client.start()
    try:
        async with asyncio.timeout(TIMEOUT):
            await client.disconnected.wait()
        assert not client.subscribed.is_set()
    finally:
        client.close()
    await until(lambda: sim.connected_clients() == 0)


async def test_delta_model_sends_small_msg_1_deltas(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(model="P1S")
    client = await connect(sim)
    client.request("pushing", "pushall")
    await client.next_json(lambda m: m.get("print", {}).get("msg") == 0)

    def deltas() -> list[dict[str, Any]]:
        bodies = [json.loads(raw).get("print", {}) for raw in client.messages]
        return [body for body in bodies if body.get("msg") == 1]

    await client.wait_for(lambda: len(deltas()) >= 5)
    for delta in deltas():
        assert {"command", "msg", "sequence_id"} <= delta.keys()
        assert len(delta) <= 8
    assert any("nozzle_temper" in delta or "bed_temper" in delta for delta in deltas())


async def test_full_model_sends_the_complete_object(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(model="X1C")
    client = await connect(sim)
    await client.wait_for(lambda: len(client.messages) >= 3)
    for raw in client.messages[:3]:
        body = json.loads(raw)["print"]
        assert body["msg"] == 0
        assert body.keys() >= sim.report.keys()
        assert body["t_utc"] > 0


async def test_pause_resume_stop_are_acked_and_change_state(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim()
    client = await connect(sim)
    sim.start_print(minutes=600)
    await client.until_state(gcode_state="RUNNING")

    seq = client.request("print", "pause", qos=1, param="")
    ack = (await client.next_json(ack_for(seq)))["print"]
    assert ack == {
        "command": "pause", "sequence_id": seq, "param": "", "result": "success", "reason": "",
    }  # fmt: skip
    await client.until_state(gcode_state="PAUSE", stg_cur=16, mc_print_stage="3")

    seq = client.request("print", "resume", param="")
    assert (await client.next_json(ack_for(seq)))["print"]["result"] == "success"
    await client.until_state(gcode_state="RUNNING", stg_cur=0, mc_print_stage="2")

    seq = client.request("print", "stop", qos=1, param="")
    assert (await client.next_json(ack_for(seq)))["print"]["result"] == "success"
    await client.until_state(gcode_state="FAILED", print_error=0x0300400C)
    await client.until_state(gcode_state="FAILED", print_error=0)
    assert sim.report["nozzle_target_temper"] == 0


async def test_speed_and_gcode_commands(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(jitter=False)
    client = await connect(sim)
    seq = client.request("print", "print_speed", param="4")
    assert (await client.next_json(ack_for(seq)))["print"]["result"] == "success"
    await client.until_state(spd_lvl=4, spd_mag=166)

    seq = client.request("print", "print_speed", param="9")
    assert (await client.next_json(ack_for(seq)))["print"]["result"] == "failed"

    seq = client.request("print", "gcode_line", param="M140 S60\nM104 S200\n")
    assert (await client.next_json(ack_for(seq)))["print"]["param"] == "M140 S60\nM104 S200\n"
    await client.until_state(bed_target_temper=60.0, nozzle_target_temper=200.0)
    await client.wait_for(lambda: client.state.get("heatbreak_fan_speed") == "15")


async def test_lockdown_refuses_control_but_not_reads_or_light(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim(lockdown=True, jitter=False)
    client = await connect(sim)
    client.request("pushing", "pushall")
    await client.wait_for(lambda: "fun" in client.state)
    assert int(client.state["fun"], 16) & 0x20000000

    seq = client.request("print", "pause", param="")
    assert (await client.next_json(ack_for(seq)))["print"] == {
        "command": "pause", "sequence_id": seq, "param": "", "result": "failed",
        "reason": "mqtt message verify failed", "err_code": 84033543,
    }  # fmt: skip
    await client.wait_for(lambda: LOCKDOWN_HMS in client.state.get("hms", []))

    seq = client.request(
        "system", "ledctrl", led_node="chamber_light", led_mode="off", led_on_time=500,
        led_off_time=500, loop_times=0, interval_time=0,
    )  # fmt: skip
    assert (await client.next_json(ack_for(seq)))["system"]["result"] == "success"
    await client.until_state(lights_report=[{"node": "chamber_light", "mode": "off"}])

    seq = client.request("info", "get_version")
    assert (await client.next_json(ack_for(seq)))["info"]["result"] == "success"

    sim.set_lockdown(False)
    await client.wait_for(lambda: not int(client.state["fun"], 16) & 0x20000000)
    assert client.state["hms"] == []
    seq = client.request("print", "gcode_line", param="M104 S0")
    assert (await client.next_json(ack_for(seq)))["print"]["result"] == "success"


@pytest.mark.parametrize(
    ("model", "gcode_file"),
    [("P1S", "Cube.gcode.3mf"), ("X1C", "/data/Metadata/plate_1.gcode")],
)
async def test_print_runs_prepare_running_finish(
    make_sim: MakeSim, connect: Connect, model: str, gcode_file: str
) -> None:
    sim = await make_sim(model=model, speed=3000.0)
    client = await connect(sim)
    states: list[Any] = []
    stages: list[Any] = []

    def watch() -> bool:
        for key, seen in (("gcode_state", states), ("stg_cur", stages)):
            if not seen or seen[-1] != client.state.get(key):
                seen.append(client.state.get(key))
        return client.state.get("gcode_state") == "FINISH"

    task = sim.start_print("Cube", total_layers=20, minutes=30)
    await client.wait_for(watch)
    await asyncio.wait_for(task, TIMEOUT)
    assert [s for s in states if s not in (None, "IDLE")] == ["PREPARE", "RUNNING", "FINISH"]
    assert [s for s in stages if s in (0, 1, 2, 7, 14)] == [2, 14, 1, 7, 0]
    assert client.state["layer_num"] == 20
    assert client.state["mc_percent"] == 100
    assert client.state["gcode_file"] == gcode_file
    assert client.state["subtask_name"] == "Cube"
    assert client.state["gcode_file_prepare_percent"] == "100"
    job_file = sim.sdcard / "cache" / "Cube.gcode.3mf"
    assert zipfile.is_zipfile(job_file)
    # Cooling down after FINISH: targets off, temperatures heading back to ambient.
    hot = float(client.state["nozzle_temper"])
    await client.wait_for(lambda: float(client.state["nozzle_temper"]) < hot - 20)


async def test_filament_runout_pauses_with_error_and_hms(
    make_sim: MakeSim, connect: Connect
) -> None:
    sim = await make_sim()
    client = await connect(sim)
    sim.start_print(minutes=600)
    await client.until_state(gcode_state="RUNNING")
    await sim.filament_runout()
    await client.until_state(gcode_state="PAUSE", stg_cur=6, print_error=50364437)
    assert RUNOUT_HMS in client.state["hms"]
    assert client.state["mc_print_stage"] == "3"

    client.request("print", "resume", param="")
    await client.until_state(gcode_state="RUNNING", stg_cur=0, print_error=0, hms=[])


async def test_user_pause_and_cancel_at_the_printer(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim()
    client = await connect(sim)
    task = sim.start_print(minutes=600)
    await client.until_state(gcode_state="RUNNING")
    await sim.pause()
    await client.until_state(gcode_state="PAUSE", stg_cur=16)
    await sim.cancel()
    assert task.cancelled()
    await client.until_state(gcode_state="FAILED", print_error=50348044)
    await client.until_state(print_error=0)


async def test_silence_keeps_the_connection(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim()
    client = await connect(sim)
    await client.wait_for(lambda: len(client.messages) >= 2)
    sim.go_silent()
    client.request("pushing", "pushall")
    await sim.wait_for_request("pushall")
    count = len(client.messages)
    await asyncio.sleep(0.3)  # ~60 idle ticks at this speed would each have sent a delta
    assert len(client.messages) == count
    assert sim.connected_clients() == 1
    assert not client.disconnected.is_set()

    sim.wake()
    await client.wait_for(lambda: len(client.messages) > count)


async def test_drop_connections_and_reconnect(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim()
    client = await connect(sim)
    assert sim.connected_clients() == 1
    client.subscribed.clear()
    await sim.drop_connections()
    async with asyncio.timeout(TIMEOUT):
        await client.disconnected.wait()
        await client.subscribed.wait()  # paho came back on its own
    client.close()
    await until(lambda: sim.connected_clients() == 0)


async def test_restart_broker_keeps_the_port(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(jitter=False)
    client = await connect(sim)
    port = sim.mqtt_port
    client.subscribed.clear()
    await sim.restart_broker()
    assert sim.mqtt_port == port
    async with asyncio.timeout(TIMEOUT):
        await client.disconnected.wait()
        await client.subscribed.wait()
    client.messages.clear()
    client.request("pushing", "pushall")
    await client.next_json(lambda m: m.get("print", {}).get("msg") == 0)


async def test_rotate_certificate_presents_a_new_leaf(make_sim: MakeSim) -> None:
    sim = await make_sim()
    old_fingerprint, port, ftps_port = sim.cert_fingerprint, sim.mqtt_port, sim.ftps_port
    assert ftps_port is not None
    await sim.rotate_certificate()
    assert sim.cert_fingerprint != old_fingerprint
    assert (sim.mqtt_port, sim.ftps_port) == (port, ftps_port)
    for served_port in (port, ftps_port):
        served = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", served_port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(sim.cert_pem)


async def test_a_workdir_keeps_the_certificate_across_restarts(tmp_path: Path) -> None:
    """A pinned certificate stays valid when the printer (the demo) starts again."""
    async with BambuSimulator(workdir=tmp_path, speed=600.0) as sim:
        first, ca_pem = sim.cert_fingerprint, sim.ca_pem
    async with BambuSimulator(workdir=tmp_path, speed=600.0) as sim:
        assert (sim.cert_fingerprint, sim.ca_pem) == (first, ca_pem)
        served = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", sim.mqtt_port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(sim.cert_pem)
    async with BambuSimulator(workdir=tmp_path, serial="01P00A000000009", speed=600.0) as sim:
        assert sim.cert_fingerprint != first  # another printer's leaf is not reused


async def test_garbage_reaches_clients(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(jitter=False)
    client = await connect(sim)
    for kind in GARBAGE_KINDS:
        await sim.publish_garbage(kind)
    await client.wait_for(lambda: any(len(raw) > 1_000_000 for raw in client.messages))
    unparsable = wrong_types = wrong_shape = 0
    for raw in client.messages:
        try:
            body = json.loads(raw)["print"]
        except ValueError:
            unparsable += 1
            continue
        wrong_types += isinstance(body, dict) and body.get("nozzle_temper") == "219.5"
        wrong_shape += isinstance(body, list)
    assert (unparsable, wrong_types, wrong_shape) == (2, 1, 1)
    with pytest.raises(ValueError, match="unknown garbage"):
        garbage("nonsense", {}, "1")


async def test_publish_report_and_raw(make_sim: MakeSim, connect: Connect) -> None:
    sim = await make_sim(jitter=False)
    client = await connect(sim)
    await sim.publish_report({"mc_percent": "37", "layer_num": None})
    await sim.publish_raw(b"\x00\xffnot json")
    await client.wait_for(lambda: b"\x00\xffnot json" in client.messages)
    assert client.state["mc_percent"] == "37"
    assert client.state["msg"] == 1
    assert sim.report["layer_num"] is None


async def test_replay_publishes_in_order(
    make_sim: MakeSim, connect: Connect, tmp_path: Path
) -> None:
    capture = tmp_path / "capture.jsonl"
    capture.write_text(
        '{"print": {"command": "push_status", "msg": 0, "sequence_id": "1", "mc_percent": 1}}\n'
        '{"delay": 2.5, "payload": {"print": {"command": "push_status", "msg": 1,'
        ' "sequence_id": "2", "mc_percent": 5}}}\n'
        "\n"
        "not json at all\n"
    )
    sim = await make_sim(jitter=False)
    client = await connect(sim)
    assert await sim.replay(capture) == 3
    await client.wait_for(lambda: b"not json at all" in client.messages)
    assert client.state["mc_percent"] == 5
    assert sim.report["mc_percent"] == 5


async def test_record_then_replay(make_sim: MakeSim, connect: Connect, tmp_path: Path) -> None:
    capture = tmp_path / "print.jsonl"
    recorder = await make_sim(speed=5000.0, record=capture)
    await asyncio.wait_for(recorder.start_print(minutes=5, total_layers=5), TIMEOUT)
    await recorder.stop()
    items = load_replay(capture)
    assert items[0].message["print"]["msg"] == 0
    states = [i.message["print"].get("gcode_state") for i in items[1:]]
    assert [s for s in states if s] == ["PREPARE", "RUNNING", "FINISH"]

    player = await make_sim(speed=1e6, jitter=False)
    client = await connect(player)
    assert await player.replay(capture) == len(items)
    await client.until_state(gcode_state="FINISH")


def test_fixture_is_a_full_p1s_print_as_deltas() -> None:
    assert FIXTURE.stat().st_size < 1_000_000
    items = load_replay(FIXTURE)
    assert len(items) >= 2000
    bodies = [item.message["print"] for item in items]
    assert bodies[0]["msg"] == 0
    assert bodies[0]["gcode_state"] == "IDLE"
    assert all(body["msg"] == 1 for body in bodies[1:])
    states = [body["gcode_state"] for body in bodies if "gcode_state" in body]
    assert states == ["IDLE", "PREPARE", "RUNNING", "FINISH"]
    assert sum(item.delay for item in items) > 30 * 60


def test_cli_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "bambu", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "--access-code" in result.stdout
    assert "--replay" in result.stdout


def test_cli_runs_a_print_once_and_records(tmp_path: Path) -> None:
    capture = tmp_path / "cli.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "bambu", "--model", "A1", "--scenario", "print",
         "--once", "--speed", "20000", "--minutes", "2", "--no-jitter", "--record", str(capture),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "MQTT (TLS)   127.0.0.1:" in result.stdout
    assert str(tmp_path / "work" / "certs" / "ca.pem") in result.stdout
    states = [i.message["print"].get("gcode_state") for i in load_replay(capture)]
    assert [s for s in states if s][-1] == "FINISH"
    assert (tmp_path / "work" / "sdcard" / "cache" / "Benchy.gcode.3mf").exists()
