"""The simulated PrusaLink printer, seen from the outside over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import json
import re
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from simulator.__main__ import build_parser
from simulator.prusa import PrusaSimulator

from .prusa_client import TIMEOUT, DigestClient, authorization

MakeSim = Callable[..., Awaitable[PrusaSimulator]]
BOTH = pytest.mark.parametrize("family", ["buddy", "pi"])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as client:
        yield client


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    sims: list[PrusaSimulator] = []

    async def make(**kwargs: Any) -> PrusaSimulator:
        sim = PrusaSimulator(**({"speed": 3000.0} | kwargs))
        sims.append(sim)
        await sim.start()
        return sim

    yield make
    for sim in sims:
        await sim.stop()


def key_headers(sim: PrusaSimulator) -> dict[str, str]:
    return {"X-Api-Key": sim.password if sim.family == "buddy" else sim.api_key}


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a simulator-side state that no reply announces (the print task's end)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.005)


# -- authentication ------------------------------------------------------------------------


async def test_buddy_challenge_and_401_bodies(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    reply = await client.raw("GET", "/api/v1/status")
    assert reply.status == 401
    header = reply.headers["WWW-Authenticate"]
    assert re.fullmatch(r'Digest realm="Printer API", nonce="[0-9a-f]{16}", stale=false', header)
    assert reply.body == b"401: Unauthorized\n\n\n"  # 20 bytes
    reply = await client.raw("GET", "/api/v1/status", headers={"Accept": "application/json"})
    assert reply.body == b'{"title": "401: Unauthorized","message":""}'  # 43 bytes
    assert len(reply.body) == 43


async def test_buddy_digest_uses_maker_whatever_the_username(
    make_sim: MakeSim, session: Any
) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    reply = await client.get("/api/v1/status")
    assert reply.status == 200
    assert client.sent == [401, 200]
    assert (await client.get("/api/v1/info")).status == 200
    assert client.sent == [401, 200, 200]  # preemptive: the nonce is reused, no qop/nc
    assert client.challenge is not None
    header = authorization(
        client.challenge, "GET", "/api/v1/info", username="maker", password=sim.password
    )
    renamed = header.replace('username="maker"', 'username="admin"')
    assert (
        await client.raw("GET", "/api/v1/info", headers={"Authorization": renamed})
    ).status == 200
    hashed_as_admin = authorization(
        client.challenge, "GET", "/api/v1/info", username="admin", password=sim.password
    )
    reply = await client.raw("GET", "/api/v1/info", headers={"Authorization": hashed_as_admin})
    assert reply.status == 401
    wrong = DigestClient(session, sim, password="nope")
    reply = await wrong.get("/api/v1/status")
    assert reply.status == 401
    assert reply.challenge["stale"] == "false"
    assert sim.requests[-1].auth is False


async def test_buddy_stale_nonce_only_with_the_right_digest(
    make_sim: MakeSim, session: Any
) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    assert (await client.get("/api/v1/status")).status == 200
    old = client.challenge
    assert old is not None
    sim.expire_nonces()
    header = authorization(old, "GET", "/api/v1/status", username="maker", password=sim.password)
    reply = await client.raw("GET", "/api/v1/status", headers={"Authorization": header})
    assert reply.status == 401
    assert reply.challenge["stale"] == "true"
    assert reply.challenge["nonce"] != old["nonce"]
    bad = authorization(old, "GET", "/api/v1/status", username="maker", password="wrong")
    reply = await client.raw("GET", "/api/v1/status", headers={"Authorization": bad})
    assert reply.challenge["stale"] == "false"
    assert (await client.get("/api/v1/status")).status == 200  # one retry with the new nonce


async def test_nonce_ttl_runs_on_real_time(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(nonce_ttl=0.05)
    client = DigestClient(session, sim)
    assert (await client.get("/api/v1/status")).status == 200
    await asyncio.sleep(0.06)  # longer than the TTL: the nonce is past its lifetime for sure
    assert (await client.get("/api/v1/status")).status == 200
    assert client.sent == [401, 200, 401, 200]


async def test_buddy_hashes_the_request_line_not_the_uri_field(
    make_sim: MakeSim, session: Any
) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    await client.get("/api/version")
    assert client.challenge is not None
    target = "/api/version?x=1"
    header = authorization(client.challenge, "GET", target, username="maker", password=sim.password)
    lying = header.replace(f'uri="{target}"', 'uri="/somewhere/else"')
    assert (await client.raw("GET", target, headers={"Authorization": lying})).status == 200
    no_query = authorization(
        client.challenge, "GET", "/api/version", username="maker", password=sim.password
    )
    assert (await client.raw("GET", target, headers={"Authorization": no_query})).status == 401


async def test_buddy_api_key_is_the_password(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    assert (
        await client.raw("GET", "/api/v1/info", headers={"X-Api-Key": sim.password})
    ).status == 200
    reply = await client.raw("GET", "/api/v1/info", headers={"X-Api-Key": "wrong"})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == 'ApiKey realm="Printer API"'


@pytest.mark.parametrize(
    "header",
    [
        "Basic bWFrZXI6c2VjcmV0cGFzczEy",
        'Digest username="maker", realm="Printer API", nonce="0", uri="/api/v1/info", '
        'response="0", algorithm=MD5',
    ],
    ids=["basic", "unquoted"],
)
async def test_buddy_never_answers_basic_or_unquoted_values(
    make_sim: MakeSim, session: Any, header: str
) -> None:
    sim = await make_sim(hang_seconds=30.0)
    short = aiohttp.ClientTimeout(total=0.3)
    with pytest.raises(TimeoutError):
        await session.get(
            sim.base_url + "/api/v1/info", headers={"Authorization": header}, timeout=short
        )
    assert sim.requests[-1].hung
    assert sim.requests[-1].status is None
    assert sim.requests[-1].auth is None
    assert sim.requests[-1].authorization == header
    # stop() (in the fixture) releases the hung handler at once instead of after 30 s


async def test_pi_challenge_md5_sess_with_qop(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi", username="admin")
    client = DigestClient(session, sim)
    reply = await client.get("/api/v1/status")
    assert reply.status == 200
    challenge = client.challenge
    assert challenge is not None
    assert challenge["realm"] == "Administrator"
    assert challenge["qop"] == "auth"
    assert challenge["algorithm"] == "MD5-sess"
    assert challenge["opaque"]
    assert "stale" not in challenge
    upper = authorization(
        challenge, "GET", "/api/v1/info", username="admin", password=sim.password,
        nc=5, algorithm="MD5-SESS",
    )  # fmt: skip
    reply = await client.raw("GET", "/api/v1/info", headers={"Authorization": upper})
    assert reply.status == 401  # PoorWSGI compares the algorithm case-sensitively
    assert "stale" not in reply.challenge
    other_user = DigestClient(session, sim, username="maker")
    assert (await other_user.get("/api/v1/info")).status == 401


async def test_pi_stale_even_with_a_wrong_password(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    assert (await client.get("/api/v1/status")).status == 200
    old = client.challenge
    assert old is not None
    sim.expire_nonces()
    wrong = authorization(old, "GET", "/api/v1/status", username="maker", password="wrong")
    reply = await client.raw("GET", "/api/v1/status", headers={"Authorization": wrong})
    assert reply.status == 401
    assert reply.challenge["stale"] == "true"
    # the retry with the fresh nonce is what tells a wrong password apart
    client.password = "wrong"
    reply = await client.get("/api/v1/status")
    assert reply.status == 401
    assert "stale" not in reply.challenge


async def test_pi_nonce_is_bound_to_the_user_agent(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    await client.get("/api/v1/status")
    assert client.challenge is not None
    header = authorization(
        client.challenge, "GET", "/api/v1/info", username="maker", password=sim.password
    )
    reply = await client.raw(
        "GET", "/api/v1/info", headers={"Authorization": header, "User-Agent": "other/2"}
    )
    assert reply.status == 401
    assert reply.challenge["stale"] == "true"


async def test_pi_api_key_is_separate(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    assert (
        await client.raw("GET", "/api/v1/info", headers={"X-Api-Key": sim.api_key})
    ).status == 200
    reply = await client.raw("GET", "/api/v1/info", headers={"X-Api-Key": sim.password})
    assert reply.status == 403
    assert reply.body == b"Bad X-Api-Key."


async def test_pi_disconnected_printer_is_503_before_auth(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    sim.printer_connected = False
    client = DigestClient(session, sim)
    reply = await client.raw("GET", "/api/v1/status", headers={"Accept": "application/json"})
    assert reply.status == 503
    assert reply.json()["title"] == "Printer Unavailable."
    assert reply.headers["Content-Location"].endswith("/error/printer-unavailable")
    assert sim.requests[-1].auth is None


# -- read-only endpoints -------------------------------------------------------------------


@BOTH
async def test_idle_printer(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    reply = await client.get("/api/v1/job")
    assert (reply.status, reply.body) == (204, b"")
    status = (await client.get("/api/v1/status")).json()
    assert "job" not in status
    assert status["printer"]["state"] == "IDLE"
    assert {"axis_x", "axis_y", "axis_z", "fan_hotend", "fan_print"} <= set(status["printer"])
    if family == "buddy":
        assert status["storage"] == {"path": "/usb/", "name": "usb", "read_only": False}
    else:
        assert [s["path"] for s in status["storage"]] == ["/local", "/sdcard"]
        assert "free_space" in status["storage"][0]
    assert (await client.get("/api/v1/transfer")).status == 204
    info = (await client.get("/api/v1/info")).json()
    assert info["serial"] == sim.serial
    version = (await client.get("/api/version")).json()
    assert version["api"] == "2.0.0"
    legacy = (await client.get("/api/printer")).json()
    assert legacy["telemetry"]["material"] == ("PLA" if family == "buddy" else " - ")


async def test_buddy_version_fields_follow_firmware(make_sim: MakeSim, session: Any) -> None:
    new = await make_sim(model="COREONE")
    old = await make_sim(model="MINI")
    assert (await DigestClient(session, new).get("/api/version")).json()["firmware"] == "6.5.3"
    assert "firmware" not in (await DigestClient(session, old).get("/api/version")).json()


async def test_pi_version_system_details(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    version = (await client.get("/api/version?system=1")).json()
    assert version["original"] == "PrusaLink I3MK3S"
    assert "system" in version


async def test_buddy_listing_short_names_and_etag(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    reply = await client.get("/api/v1/files/usb/")
    etag = reply.headers["ETag"]
    assert re.fullmatch(r'"\d+"', etag)
    listing = reply.json()
    assert listing["type"] == "FOLDER"
    names = {child["display_name"]: child for child in listing["children"]}
    benchy = names["Benchy.bgcode"]
    assert benchy["name"] == "BENCHY~1.BGC"
    assert benchy["ro"] is False
    assert "read_only" not in benchy
    assert benchy["refs"]["download"] == "/usb/BENCHY~1.BGC"
    not_modified = await client.get("/api/v1/files/usb/", headers={"If-None-Match": etag})
    assert (not_modified.status, not_modified.body) == (304, b"")
    sim.files["usb"].add_file("New part.gcode", b"G28\n")
    changed = await client.get("/api/v1/files/usb/", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    info = (await client.get("/api/v1/files/usb/BENCHY~1.BGC")).json()
    assert info["display_name"] == "Benchy.bgcode"
    assert "meta" not in info
    assert info["size"] > 0
    by_long_name = await client.get("/api/v1/files/usb/Benchy.bgcode")
    assert by_long_name.json()["name"] == "BENCHY~1.BGC"


async def test_pi_listing_read_only_and_meta(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    reply = await client.get("/api/v1/files/local")
    assert reply.headers["ETag"].startswith('W/"')
    children = reply.json()["children"]
    assert all("read_only" in child and "ro" not in child and "size" in child for child in children)
    again = await client.get(
        "/api/v1/files/local", headers={"If-None-Match": reply.headers["ETag"]}
    )
    assert again.status == 304
    info = (await client.get("/api/v1/files/local/Calibration%20cube.gcode")).json()
    assert info["meta"]["filament_type"] == "PETG"
    assert info["meta"]["filament used [g]"] == 4.62
    assert info["meta"]["estimated_print_time"] == 1954
    assert info["refs"]["icon"] is None
    sdcard = (await client.get("/api/v1/files/sdcard")).json()["children"]
    assert sdcard[0]["read_only"] is True
    assert sdcard[0]["refs"]["download"] is None


@BOTH
async def test_thumbnails_and_downloads(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    if family == "buddy":
        small = await client.get("/thumb/s/usb/BENCHY~1.BGC")
        large = await client.get("/thumb/l/usb/BENCHY~1.BGC")
        missing = await client.get("/thumb/l/usb/NOPREV~1.GCO")
        download = await client.get("/usb/CALIBR~1.GCO")
    else:
        small = await client.get("/api/thumbnails/local/Benchy.bgcode.orig.png")
        large = small
        missing = await client.get("/api/thumbnails/local/No%20preview.gcode.orig.png")
        download = await client.get("/api/files/local/Calibration%20cube.gcode/raw")
        assert (await client.get("/api/files/sdcard/OLDPART.GCO/raw")).status == 404
    assert small.body.startswith(b"\x89PNG")
    assert large.body.startswith(b"\x89PNG")
    if family == "buddy":
        assert len(small.body) < len(large.body)
        assert b"File doesn't contain preview" in missing.body
    assert missing.status == 404
    assert download.status == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert b"; filament_type = PETG" in download.body


# -- jobs ----------------------------------------------------------------------------------


@BOTH
async def test_print_reaches_finished_and_it_persists(
    make_sim: MakeSim, session: Any, family: str
) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    task = sim.start_print(minutes=30)
    status = (await client.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "PRINTING"
    assert status["printer"]["target_nozzle"] == 215.0
    assert set(status["job"]) >= {"id", "progress", "time_printing"}
    assert ("axis_x" in status["printer"]) is False
    job = (await client.get("/api/v1/job")).json()
    assert job["state"] == "PRINTING"
    first_id = job["id"]
    if family == "buddy":
        assert job["file"]["name"] == "BENCHY~1.BGC"
        assert job["file"]["path"] == "/usb"
        assert "meta" not in job["file"]
    else:
        assert job["file"]["meta"]["filament_type"] == "PLA"
        assert job["file"]["display_path"] == "/PrusaLink gcodes"
    await task
    status = (await client.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "FINISHED"
    assert "job" not in status
    assert (await client.get("/api/v1/job")).status == 204
    assert sim.temp_nozzle > 25.0  # still cooling down
    await sim.clear()
    assert sim.state == "IDLE"
    sim.start_print(minutes=30)
    assert (await client.get("/api/v1/job")).json()["id"] == first_id + 1


async def test_progress_and_time_remaining_move(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(speed=600.0)
    client = DigestClient(session, sim)
    sim.start_print(minutes=60, color_change=0.5)
    await until(lambda: sim.job is not None and not sim.job.heating and sim.job.progress > 1.0)
    await sim.pause()
    job = (await client.get("/api/v1/status")).json()["job"]
    assert 1.0 < job["progress"] < 100.0
    assert 0 < job["time_remaining"] < 3600
    assert job["time_printing"] > 0
    assert job["filament_change_in"] == pytest.approx(1800 - job["progress"] * 36, abs=2)


@BOTH
async def test_pause_resume_stop_over_the_api(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    accept_json = {"Accept": "application/json"}
    assert (await client.request("PUT", "/api/v1/job/1/pause")).status == 404  # no job yet
    sim.start_print(minutes=30)
    job_id = sim.job.id  # type: ignore[union-attr]
    assert (await client.request("PUT", f"/api/v1/job/{job_id + 1}/pause")).status == 404
    assert (await client.request("PUT", f"/api/v1/job/{job_id}/resume")).status == 409
    assert (await client.request("PUT", f"/api/v1/job/{job_id}/pause")).status == 204
    assert sim.state == "PAUSED"
    paused = (await client.get("/api/v1/status")).json()["printer"]
    assert ("axis_x" in paused) is (family == "pi")  # Buddy hides X/Y while paused too
    conflict = await client.request("PUT", f"/api/v1/job/{job_id}/pause", headers=accept_json)
    assert conflict.status == 409
    if family == "pi":
        assert conflict.json()["title"] == "Printer Is Not Printing"
    assert (await client.request("PUT", f"/api/v1/job/{job_id}/resume")).status == 204
    assert (await client.request("DELETE", f"/api/v1/job/{job_id}")).status == 204
    assert sim.state == "STOPPED"
    assert (await client.get("/api/v1/job")).status == 204
    assert (await client.request("DELETE", f"/api/v1/job/{job_id}")).status == 409
    continue_status = (await client.request("PUT", f"/api/v1/job/{job_id}/continue")).status
    assert continue_status == (400 if family == "buddy" else 204)
    if family == "buddy":
        assert (await client.request("PUT", "/api/v1/job/abc/pause")).status == 400


@BOTH
async def test_attention_on_filament_runout(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    sim.start_print(minutes=30)
    await sim.attention()
    status = (await client.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "ATTENTION"
    assert "job" in status
    assert (await client.get("/api/v1/job")).json()["state"] == "PAUSED"
    job_id = status["job"]["id"]
    assert (await client.request("PUT", f"/api/v1/job/{job_id}/resume")).status == 409
    stop = (await client.request("DELETE", f"/api/v1/job/{job_id}")).status
    assert stop == (204 if family == "buddy" else 409)  # Pi stops only PRINTING/PAUSED
    if family == "pi":
        await sim.resume()
        assert sim.state == "PRINTING"


async def test_error_state_persists_until_cleared(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    sim.start_print(minutes=30)
    await sim.error()
    status = (await client.get("/api/v1/status")).json()
    assert status["printer"]["state"] == "ERROR"
    assert status["printer"]["target_nozzle"] == 0.0
    legacy = (await client.get("/api/printer")).json()
    assert legacy["state"]["flags"]["error"] is True
    with pytest.raises(RuntimeError):
        sim.start_print()
    await sim.clear()
    assert sim.state == "IDLE"


@pytest.mark.parametrize(
    ("accept", "is_json"),
    [
        ("application/json", True),
        ("application/json, text/plain", True),
        ("text/plain, application/json", False),
        ("application/json; q=0.9", False),
        (None, False),
    ],
)
async def test_buddy_error_body_follows_the_first_accept_value(
    make_sim: MakeSim, session: Any, accept: str | None, is_json: bool
) -> None:
    sim = await make_sim()
    sim.start_print(minutes=30)
    client = DigestClient(session, sim)
    headers = {"Accept": accept} if accept else {}
    job_id = sim.job.id  # type: ignore[union-attr]
    reply = await client.request("PUT", f"/api/v1/job/{job_id}/resume", headers=headers)
    assert reply.status == 409
    if is_json:
        assert reply.body == b'{"title": "409: Conflict","message":""}'
    else:
        assert reply.body == b"409: Conflict\n\n\n"
        assert reply.headers["Content-Type"].startswith("text/plain")


async def test_pi_error_bodies(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    sim.start_print(minutes=30)
    reply = await client.request(
        "PUT", "/api/v1/job/99/pause", headers={"Accept": "application/json"}
    )
    assert reply.status == 404
    assert reply.json() == {"title": "Not Current Job", "message": "Not current job"}
    text = await client.request("PUT", "/api/v1/job/99/pause")
    assert text.body.decode().startswith("Not Current Job\n")


# -- files ---------------------------------------------------------------------------------


@BOTH
async def test_upload_start_delete(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    storage = sim.main_storage.name
    url = f"/api/v1/files/{storage}/My%20part.gcode"
    data = b"; thumbnail-less\nG28\n; filament_type = ASA\n"
    created = await client.request("PUT", url, data=data)
    assert created.status == 201
    if family == "buddy":
        assert created.json()["display_name"] == "My part.gcode"
        assert created.json()["name"] == "MYPART~1.GCO"
    assert (await client.request("PUT", url, data=data)).status == 409
    again = await client.request("PUT", url, data=b"G28\n", headers={"Overwrite": "?1"})
    assert again.status == 201
    head = await client.request("HEAD", url)
    printing_header = "Currently-Printing" if family == "buddy" else "Currently-Printed"
    assert (head.headers["Read-Only"], head.headers[printing_header]) == ("false", "false")
    assert (await client.request("POST", url)).status == 204
    assert sim.state == "PRINTING"
    assert sim.job is not None
    assert sim.job.file.name == "My part.gcode"
    assert (await client.request("HEAD", url)).headers[printing_header] == "true"
    assert (await client.request("POST", url)).status == 409
    assert (await client.request("DELETE", url)).status == 409  # being printed
    overwrite = await client.request("PUT", url, data=b"G28\n", headers={"Overwrite": "?1"})
    assert overwrite.status == 409
    after = {"Print-After-Upload": "?1"}
    new = f"/api/v1/files/{storage}/Next.gcode"
    assert (await client.request("PUT", new, data=b"G28\n", headers=after)).status == 409
    other = f"/api/v1/files/{storage}/Benchy.bgcode"
    assert (await client.request("DELETE", other)).status == 204
    assert (await client.request("DELETE", other)).status == 404
    assert (await client.request("POST", other)).status == 404
    assert (
        await client.request("PUT", f"/api/v1/files/{storage}/notes.txt", data=b"x")
    ).status == 415


async def test_print_after_upload(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    sim.print_minutes = 1.0
    client = DigestClient(session, sim)
    reply = await client.request(
        "PUT", "/api/v1/files/usb/Quick.gcode", data=b"G28\n", headers={"Print-After-Upload": "1"}
    )
    assert reply.status == 201
    assert sim.state == "PRINTING"
    await until(lambda: sim.state == "FINISHED")


async def test_upload_needs_content_length(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"G28\n"

    reply = await client.request("PUT", "/api/v1/files/usb/Chunked.gcode", data=chunks())
    assert reply.status == 411


@BOTH
async def test_upload_larger_than_free_space(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family, capacity=40_000)
    client = DigestClient(session, sim)
    storage = sim.main_storage.name
    reply = await client.request("PUT", f"/api/v1/files/{storage}/Big.gcode", data=b"G1\n" * 5000)
    assert reply.status == (507 if family == "buddy" else 413)


async def test_pi_sdcard_is_read_only(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    assert (
        await client.request("PUT", "/api/v1/files/sdcard/X.gcode", data=b"G28\n")
    ).status == 409
    assert (await client.request("DELETE", "/api/v1/files/sdcard/OLDPART.GCO")).status == 409
    assert (await client.request("HEAD", "/api/v1/files/sdcard/OLDPART.GCO")).headers[
        "Read-Only"
    ] == "true"


@BOTH
async def test_transfer_in_progress(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    storage = sim.main_storage.name
    await client.get("/api/v1/info")  # get a nonce: the upload itself goes out preemptively
    first_half, second_half = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"G28\n" * 100
        first_half.set()
        await second_half.wait()
        yield b"G1 X1\n" * 100

    size = 400 + 600
    upload = asyncio.create_task(
        client.request(
            "PUT", f"/api/v1/files/{storage}/Slow.gcode", data=slow_body(),
            headers={"Content-Length": str(size)},
        )
    )  # fmt: skip
    await first_half.wait()
    await until(lambda: sim.transfer is not None and sim.transfer.transferred >= 400)
    transfer = (await client.get("/api/v1/transfer")).json()
    assert transfer["size"] == str(size)
    assert transfer["transferred"] == 400
    status = (await client.get("/api/v1/status")).json()
    assert status["transfer"]["transferred" if family == "buddy" else "data_transferred"] == 400
    listing = (await client.get(f"/api/v1/files/{storage}")).json()["children"]
    partial = next(c for c in listing if c["display_name"] == "Slow.gcode")
    assert partial["ro" if family == "buddy" else "read_only"] is True
    assert partial["refs"].get("download") is None
    second = await client.request("PUT", f"/api/v1/files/{storage}/Other.gcode", data=b"G28\n")
    assert second.status == 409
    second_half.set()
    assert (await upload).status == 201
    assert (await client.get("/api/v1/transfer")).status == 204


# -- binary and plain G-code ---------------------------------------------------------------


def parse_bgcode(data: bytes) -> list[tuple[int, int, bytes, bytes]]:
    """An independent reader: (type, compression, params, payload) for every block."""
    import struct
    import zlib

    assert data[:4] == b"GCDE"
    version, checksum = struct.unpack_from("<IH", data, 4)
    assert (version, checksum) == (1, 1)
    blocks, pos = [], 10
    while pos < len(data):
        start = pos
        kind, compression, size = struct.unpack_from("<HHI", data, pos)
        pos += 8
        stored = size
        if compression:
            (stored,) = struct.unpack_from("<I", data, pos)
            pos += 4
        params_len = 6 if kind == 5 else 2
        params = data[pos : pos + params_len]
        payload = data[pos + params_len : pos + params_len + stored]
        pos += params_len + stored
        (crc,) = struct.unpack_from("<I", data, pos)
        assert crc == zlib.crc32(data[start:pos])
        pos += 4
        if compression == 1:
            payload = zlib.decompress(payload)
        assert len(payload) == size
        blocks.append((kind, compression, params, payload))
    assert pos == len(data)
    return blocks


async def test_bgcode_layout(make_sim: MakeSim, session: Any) -> None:
    import struct

    sim = await make_sim()
    client = DigestClient(session, sim)
    plain = parse_bgcode((await client.get("/usb/BENCHY~1.BGC")).body)
    kinds = [kind for kind, *_ in plain]
    assert kinds[:6] == [0, 3, 5, 5, 4, 2]
    assert set(kinds[6:]) == {1}
    assert all(compression == 0 for kind, compression, *_ in plain if kind != 1)
    assert all(compression == 1 for kind, compression, *_ in plain if kind == 1)
    printer_meta = plain[1][3].decode()
    assert "filament used [g]=11.71\n" in printer_meta
    assert "filament_type=PLA\n" in printer_meta
    assert "estimated printing time (normal mode)=1h 2m 3s\n" in printer_meta
    thumbs = [struct.unpack("<HHH", params) for kind, _, params, _ in plain if kind == 5]
    assert thumbs == [(0, 16, 16), (0, 313, 173)]
    assert plain[2][3].startswith(b"\x89PNG")
    deflated = parse_bgcode((await client.get("/usb/SHAPEB~1.BGC")).body)
    assert deflated[1][1] == 1  # metadata deflated like PrusaSlicer's defaults
    assert "filament_type=PETG" in deflated[1][3].decode()


async def test_plain_gcode_layout(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    text = (await client.get("/usb/CALIBR~1.GCO")).body.decode()
    begin = re.search(r"^; thumbnail begin 16x16 (\d+)$", text, re.MULTILINE)
    assert begin is not None
    assert text.index("; estimated printing time (normal mode) = 32m 34s") > len(text) * 0.8
    assert "; filament used [mm] = 1520.40" in text
    assert "; filament_type = PETG" in text
    assert "thumbnail" not in (await client.get("/usb/NOPREV~1.GCO")).body.decode()


# -- faults, load and connectivity ---------------------------------------------------------


async def test_injected_faults(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    headers = key_headers(sim)
    sim.inject(status_503=2)
    assert [
        (await client.raw("GET", "/api/v1/info", headers=headers)).status for _ in range(3)
    ] == [
        503,
        503,
        200,
    ]
    sim.inject(non_json=1)
    assert (await client.raw("GET", "/api/v1/job", headers=headers)).status == 204  # no body: kept
    reply = await client.raw("GET", "/api/v1/info", headers=headers)
    assert reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    sim.inject(truncate=1)
    with pytest.raises(aiohttp.ClientPayloadError):
        await client.raw("GET", "/api/v1/status", headers=headers)
    assert (await client.raw("GET", "/api/v1/status", headers=headers)).status == 200
    sim.inject(hang=1)
    with pytest.raises(TimeoutError):
        await client.raw(
            "GET", "/api/v1/info", headers=headers, timeout=aiohttp.ClientTimeout(total=0.2)
        )
    assert (await client.raw("GET", "/api/v1/info", headers=headers)).status == 200


async def test_served_bodies_replace_a_route_for_n_requests(
    make_sim: MakeSim, session: Any
) -> None:
    """The generic hook: any body (even invalid JSON) for one path, N times, then the real one."""
    sim = await make_sim()
    client = DigestClient(session, sim)
    headers = key_headers(sim)
    sim.serve("/api/v1/status", {"printer": {"temp_bed": float("inf")}, "x": "\ud800"}, times=2)
    sim.serve("/api/v1/info", b"[" * 5000, status=500)
    first = await client.raw("GET", "/api/v1/status?x=1", headers=headers)
    assert first.body == b'{"printer":{"temp_bed":Infinity},"x":"\\ud800"}'
    assert first.headers["Content-Type"].startswith("application/json")
    assert (await client.raw("GET", "/api/v1/status", headers=headers)).body == first.body
    assert "state" in (await client.raw("GET", "/api/v1/status", headers=headers)).json()["printer"]
    info = await client.raw("GET", "/api/v1/info", headers=headers)
    assert (info.status, info.body) == (500, b"[" * 5000)
    assert (await client.raw("GET", "/api/v1/info", headers=headers)).json()["serial"]
    assert [r.canned for r in sim.requests] == [True, True, False, True, False]
    # Unauthenticated requests never use it up; inject() clears it.
    sim.serve("/api/v1/info", {"junk": 1}, times=3)
    assert (await client.raw("GET", "/api/v1/info")).status in (401, 403)
    assert sim.faults.canned["/api/v1/info"].times == 3
    sim.inject()
    assert (await client.raw("GET", "/api/v1/info", headers=headers)).json()["serial"]


async def test_latency_and_requests_in_flight(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    sim.inject(latency=0.1)
    replies = await asyncio.gather(
        *(client.raw("GET", "/api/v1/status", headers=key_headers(sim)) for _ in range(5))
    )
    assert [r.status for r in replies] == [200] * 5
    assert sim.max_in_flight == 5
    assert len(sim.requests) == 5
    assert all(r.auth and r.status == 200 for r in sim.requests)
    sim.reset_stats()
    assert (sim.requests, sim.max_in_flight) == ([], 0)


async def test_connection_limit_queues_clients(make_sim: MakeSim) -> None:
    sim = await make_sim(max_connections=1)
    connector = aiohttp.TCPConnector(force_close=True)  # one request per connection
    async with aiohttp.ClientSession(connector=connector) as session:
        client = DigestClient(session, sim)
        replies = await asyncio.gather(
            *(client.raw("GET", "/api/v1/info", headers=key_headers(sim)) for _ in range(4))
        )
    assert [r.status for r in replies] == [200] * 4
    assert sim.max_connections_open == 1


async def test_offline_refuses_then_comes_back_on_the_same_port(
    make_sim: MakeSim, session: Any
) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    port = sim.port
    assert (await client.raw("GET", "/api/v1/info", headers=key_headers(sim))).status == 200
    sim.go_offline()
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.raw("GET", "/api/v1/info", headers=key_headers(sim))
    sim.go_online()
    assert sim.port == port
    assert (await client.raw("GET", "/api/v1/info", headers=key_headers(sim))).status == 200


async def test_offline_hang_accepts_but_never_answers(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim()
    client = DigestClient(session, sim)
    sim.go_offline(hang=True)
    with pytest.raises(TimeoutError):
        await client.raw(
            "GET",
            "/api/v1/info",
            headers=key_headers(sim),
            timeout=aiohttp.ClientTimeout(total=0.2),
        )
    sim.go_online()
    assert (await client.raw("GET", "/api/v1/info", headers=key_headers(sim))).status == 200


async def test_stop_leaves_nothing_behind(session: Any) -> None:
    sim = PrusaSimulator(speed=60.0, hang_seconds=30.0)
    await sim.start()
    sim.start_print(minutes=30)
    sim.inject(hang=1)
    pending = asyncio.create_task(
        session.get(sim.base_url + "/api/v1/info", headers=key_headers(sim))
    )
    await until(lambda: sim.in_flight == 1)
    await sim.stop()
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("prusa-sim")]
    assert leftovers == []
    with pytest.raises(aiohttp.ClientError):
        await pending
    with pytest.raises(aiohttp.ClientConnectionError):
        await session.get(sim.base_url + "/api/v1/info")


# -- command line --------------------------------------------------------------------------


def test_cli_prusa_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "prusa", "--help"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert "--family" in result.stdout
    args = build_parser().parse_args(["prusa", "--family", "pi", "--scenario", "print"])
    assert (args.family, args.scenario) == ("pi", "print")


@BOTH
async def test_storage_list(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family, capacity=10**6)
    storages = (await DigestClient(session, sim).get("/api/v1/storage")).json()["storage_list"]
    if family == "buddy":
        assert storages == [
            {"path": "/usb/", "name": "usb", "type": "USB", "read_only": False, "available": True}
        ]
    else:
        local, sdcard = storages
        assert (local["type"], local["total_space"]) == ("LOCAL", 10**6)
        assert local["free_space"] == 10**6 - sim.files["local"].used
        assert (sdcard["type"], sdcard["read_only"]) == ("SDCARD", True)


@BOTH
async def test_folders(make_sim: MakeSim, session: Any, family: str) -> None:
    sim = await make_sim(family=family)
    client = DigestClient(session, sim)
    storage = sim.main_storage
    if family == "buddy":
        made = await client.request(
            "PUT", "/api/v1/files/usb/Parts%20bin", headers={"Create-Folder": "?1"}
        )
        assert made.status == 201
    else:
        storage.add_folder("Parts bin")
    root = f"/api/v1/files/{storage.name}"
    missing = await client.request("PUT", f"{root}/Nowhere/x.gcode", data=b"G28\n")
    assert missing.status == 404
    assert (
        await client.request("PUT", f"{root}/Parts%20bin/Clip.gcode", data=b"G28\n")
    ).status == 201
    children = (await client.get(f"{root}/Parts%20bin")).json()["children"]
    assert [c["display_name"] for c in children] == ["Clip.gcode"]
    if family == "buddy":
        folder_name = storage.resolve("Parts bin").short_name  # type: ignore[union-attr]
        assert (await client.get(f"{root}/{folder_name}/CLIP~1.GCO")).status == 200
    assert (await client.request("DELETE", f"{root}/Parts%20bin")).status == 409  # not empty
    if family == "pi":
        forced = await client.request("DELETE", f"{root}/Parts%20bin", headers={"Force": "?1"})
        assert forced.status == 204


async def test_busy_outside_a_print(make_sim: MakeSim, session: Any) -> None:
    sim = await make_sim(family="pi")
    client = DigestClient(session, sim)
    await sim.busy()
    printer = (await client.get("/api/v1/status")).json()["printer"]
    assert printer["state"] == "BUSY"
    assert "axis_x" not in printer  # the Pi hides X/Y while BUSY
    assert (await client.request("POST", "/api/v1/files/local/Benchy.bgcode")).status == 409
    await sim.clear()
    assert sim.state == "IDLE"


def test_short_names() -> None:
    from simulator.prusa.files import short_name

    assert short_name("Benchy.bgcode", set()) == "BENCHY~1.BGC"
    assert short_name("Benchy v2.bgcode", {"BENCHY~1.BGC"}) == "BENCHY~2.BGC"
    assert short_name("TEST.GCO", set()) == "TEST.GCO"
    assert short_name("README", set()) == "README"
    assert short_name("Read me", set()) == "README~1"
