"""The job actions, called as an automation or the developer tools would call them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import json
import math
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.json import json_bytes
from homeassistant.helpers.template import Template
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
import orjson
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.printernizer.const import CONF_COSTS, DOMAIN
from custom_components.printernizer.events import EVENT_JOB_FINISHED, EVENT_JOB_STARTED
from custom_components.printernizer.history import DATA_HISTORY
from custom_components.printernizer.jobs import JobRecord, JobStatus, MaterialUse
from simulator.bambu.printer import BambuSimulator

from ..printers.waiting import wait_until
from .test_jobs import Recorder

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PRICES = {
    CONF_COSTS: {
        "price_per_kg_pla": 20,
        "price_per_kg_petg": 30,
        "energy_price_per_kwh": 0.30,
        "average_power_w": 200,
        "wear_per_hour": 0.5,
        "vat_percent": 19,
    }
}


def ended(
    number: int, serial: str, *, status: JobStatus = JobStatus.COMPLETED, **fields: Any
) -> JobRecord:
    start = T0 + timedelta(days=number)
    return JobRecord(
        id=f"job{number}",
        serial=serial,
        printer_name="P1S",
        started_at=start,
        updated_at=start + timedelta(hours=2),
        ended_at=start + timedelta(hours=2),
        duration_seconds=7200.0,
        status=status,
        job_name=f"Part {number}",
        materials=(MaterialUse(material="PLA", planned_grams=100.0, grams=100.0),),
        cost={"gross": "1.00", "currency": "EUR"},
        category="business" if number % 2 else "private",
        **fields,
    )


@pytest.fixture
async def entry(
    hass: HomeAssistant, bambu_entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> Any:
    hass.config_entries.async_update_entry(bambu_entry, options=PRICES)
    assert await hass.config_entries.async_setup(bambu_entry.entry_id)
    await hass.async_block_till_done()
    history = hass.data[DATA_HISTORY]
    for number in range(1, 6):
        history.put(ended(number, bambu_sim.serial))
    history.put(ended(6, "OTHERPRINTER", status=JobStatus.FAILED, customer="ACME"))
    yield bambu_entry
    await hass.config_entries.async_unload(bambu_entry.entry_id)
    await hass.async_block_till_done()


def device_id(hass: HomeAssistant, serial: str) -> str:
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert device is not None
    return device.id


async def call(hass: HomeAssistant, service: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=True
    )


@pytest.mark.usefixtures("entry")
async def test_list_jobs_filters_and_pages(hass: HomeAssistant, bambu_sim: BambuSimulator) -> None:
    everything = await call(hass, "list_jobs")
    assert everything["total"] == 6
    assert [job["id"] for job in everything["jobs"]] == [f"job{n}" for n in range(6, 0, -1)]

    mine = await call(hass, "list_jobs", device_id=[device_id(hass, bambu_sim.serial)], limit=2)
    assert mine["total"] == 5
    assert [job["id"] for job in mine["jobs"]] == ["job5", "job4"]
    page = await call(hass, "list_jobs", device_id=device_id(hass, bambu_sim.serial), offset=4)
    assert [job["id"] for job in page["jobs"]] == ["job1"]

    failed = await call(hass, "list_jobs", status=["failed"])
    assert [job["id"] for job in failed["jobs"]] == ["job6"]
    private = await call(hass, "list_jobs", category="private")
    assert {job["id"] for job in private["jobs"]} == {"job2", "job4", "job6"}
    window = await call(
        hass,
        "list_jobs",
        start=(T0 + timedelta(days=2)).isoformat(),
        end=(T0 + timedelta(days=4)).isoformat(),
    )
    assert [job["id"] for job in window["jobs"]] == ["job3", "job2"]
    acme = await call(hass, "list_jobs", text="acme")
    assert [job["id"] for job in acme["jobs"]] == ["job6"]
    assert acme["jobs"][0]["customer"] == "ACME"


@pytest.mark.usefixtures("entry")
async def test_bad_requests_are_explained(hass: HomeAssistant) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_jobs", start=T0.isoformat(), end=T0.isoformat())
    assert err.value.translation_key == "invalid_range"
    assert "The start must be before the end" in str(err.value)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_jobs", device_id=["not-a-device"])
    assert err.value.translation_key == "printer_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_job", job_id="nope")
    assert "No job with ID nope" in str(err.value)
    with pytest.raises(vol.Invalid):
        await call(hass, "list_jobs", limit=0)
    with pytest.raises(vol.Invalid):
        await call(hass, "update_job", job_id="job1", category="hobby")
    with pytest.raises(vol.Invalid):
        await call(hass, "update_job", job_id="job1", materials=[{"material": "PLA", "grams": -1}])
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "calculate_costs", grams=10)
    assert err.value.translation_placeholders == {"fields": "material, hours"}
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_job")
    assert err.value.translation_key == "no_target"


@pytest.mark.usefixtures("entry")
async def test_update_job_annotates_and_reprices_only_corrected_materials(
    hass: HomeAssistant,
) -> None:
    noted = await call(
        hass,
        "update_job",
        job_id="job1",
        category="private",
        customer="Jane",
        project="PO-42",
        notes="gift",
    )
    job = noted["job"]
    assert (job["category"], job["customer"], job["project"], job["notes"]) == (
        "private",
        "Jane",
        "PO-42",
        "gift",
    )
    assert job["cost"] == {"gross": 1.0, "currency": "EUR"}  # the bill did not change
    corrected = await call(
        hass, "update_job", job_id="job1", materials=[{"material": "PETG", "grams": 50}]
    )
    cost = corrected["job"]["cost"]
    # 50 g PETG x 30 €/kg = 1.50; 2 h x 200 W = 0.4 kWh x 0.30 € = 0.12; wear 2 h x 0.50 = 1.00.
    assert (cost["material"], cost["energy"], cost["wear"], cost["net"]) == (1.5, 0.12, 1.0, 2.62)
    assert (cost["vat"], cost["gross"], cost["vat_percent"]) == (0.5, 3.12, 19.0)
    assert cost["lines"] == [
        {"material": "PETG", "grams": 50.0, "source": "user", "price_per_kg": 30.0, "cost": 1.5}
    ]
    stored = await call(hass, "get_job", job_id="job1")
    assert stored["job"]["customer"] == "Jane"
    assert stored["job"]["materials"][0]["source"] == "user"
    # A removed printer's job keeps its prices; annotating works, re-pricing needs the printer.
    await call(hass, "update_job", job_id="job6", notes="archived")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "update_job", job_id="job6", materials=[{"material": "PLA", "grams": 1}])
    assert err.value.translation_key == "printer_not_loaded"


@pytest.mark.usefixtures("entry")
async def test_quote(hass: HomeAssistant) -> None:
    quoted = await call(hass, "calculate_costs", grams=250, material="PLA Basic", hours=5)
    cost = quoted["costs"]
    # 250 g x 20 €/kg = 5.00; 5 h x 200 W = 1 kWh x 0.30 € = 0.30; wear 2.50; net 7.80.
    # Numbers next to the currency: a template adds and compares them without `| float`.
    assert (cost["material"], cost["energy"], cost["wear"], cost["net"]) == (5.0, 0.3, 2.5, 7.8)
    assert (cost["vat"], cost["gross"], cost["currency"]) == (1.48, 9.28, "EUR")
    assert cost["energy_kwh"] == 1.0
    rendered = Template("{{ (costs.gross + costs.net) | round(2) }}", hass).async_render(
        {"costs": cost}
    )
    assert rendered == 17.08
    stored = await call(hass, "calculate_costs", job_id="job2")
    assert stored["costs"]["gross"] == 3.71  # 2.00 + 0.12 + 1.00 = 3.12 net, 0.59 VAT


async def test_running_job_edits_survive_its_end_and_cancel_job_stops_it(
    hass: HomeAssistant, entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    recorder = Recorder(hass)
    bambu_sim.start_print("Bracket", total_layers=200, minutes=600)
    started = await recorder.wait(EVENT_JOB_STARTED)
    # Once the 3MF is read, the running job shows its material and cost so far.
    prefix = "sensor.p1s_01p00a000000001"
    await wait_until(
        lambda: hass.states.get(f"{prefix}_current_job_cost").state not in ("unknown", "0.00"),
        timeout=30,
    )
    assert 0 < float(hass.states.get(f"{prefix}_current_job_material").state) <= 15.4
    await call(hass, "update_job", job_id=started["job_id"], customer="ACME")
    progress = await call(hass, "calculate_costs", job_id=started["job_id"])
    assert progress["costs"]["estimated"] is True
    assert isinstance(progress["costs"]["gross"], float)
    cancelled = await call(hass, "cancel_job", device_id=device_id(hass, bambu_sim.serial))
    assert cancelled["job"]["id"] == started["job_id"]
    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert finished["status"] == "cancelled"
    job = (await call(hass, "get_job", job_id=started["job_id"]))["job"]
    assert (job["status"], job["customer"]) == ("cancelled", "ACME")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_job", job_id=started["job_id"])
    assert err.value.translation_key == "job_not_active"


async def test_printers_are_named_by_entry_or_device_and_one_at_a_time(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    loaded_prusa_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
) -> None:
    by_entry = await call(hass, "list_jobs", config_entry_id=entry.entry_id)
    assert by_entry["total"] == 5
    both = await call(
        hass, "list_jobs", config_entry_id=[entry.entry_id, loaded_prusa_entry.entry_id]
    )
    assert both["total"] == 5  # the MK4 has no jobs yet
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "calculate_costs",
            config_entry_id=[entry.entry_id, loaded_prusa_entry.entry_id],
            grams=1,
            material="PLA",
            hours=1,
        )
    assert err.value.translation_key == "one_printer_only"
    # With two printers a quote must say whose prices it uses.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "calculate_costs", grams=1, material="PLA", hours=1)
    assert err.value.translation_key == "no_target"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_jobs", config_entry_id="no-such-entry")
    assert err.value.translation_key == "printer_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "calculate_costs", job_id="job6")  # its printer is not set up here
    assert err.value.translation_key == "printer_not_loaded"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "cancel_job", config_entry_id=loaded_prusa_entry.entry_id)
    assert err.value.translation_key == "no_active_job"

    await hass.config_entries.async_unload(loaded_prusa_entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_jobs", config_entry_id=loaded_prusa_entry.entry_id)
    assert err.value.translation_key == "printer_not_loaded"
    # The history stays readable: unfiltered listing still works.
    assert (await call(hass, "list_jobs"))["total"] == 6


async def test_cancel_by_job_checks_the_printer(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    loaded_prusa_entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
) -> None:
    recorder = Recorder(hass)
    bambu_sim.start_print("Bracket", total_layers=200, minutes=600)
    started = await recorder.wait(EVENT_JOB_STARTED)
    with pytest.raises(ServiceValidationError) as err:
        await call(
            hass,
            "cancel_job",
            job_id=started["job_id"],
            config_entry_id=loaded_prusa_entry.entry_id,
        )
    assert err.value.translation_key == "job_not_on_printer"
    assert bambu_sim.report["gcode_state"] != "FAILED"
    await call(hass, "cancel_job", job_id=started["job_id"])
    finished = await recorder.wait(EVENT_JOB_FINISHED)
    assert finished["status"] == "cancelled"


# --- hostile input ----------------------------------------------------------------------------

TRANSLATIONS = Path(__file__).parents[2] / "custom_components" / DOMAIN / "translations"
EXCEPTIONS = {
    language: json.loads((TRANSLATIONS / f"{language}.json").read_text())["exceptions"]
    for language in ("en", "de")
}


def refused(err: ServiceValidationError) -> str:
    """The translation key of a refusal, checked to exist in every language."""
    assert err.translation_domain == DOMAIN
    assert err.translation_key is not None
    for language, messages in EXCEPTIONS.items():
        assert err.translation_key in messages, (language, err.translation_key)
    return err.translation_key


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    "data",
    [
        {"offset": math.inf},
        {"offset": ".inf"},
        {"offset": 10**400},
        {"limit": math.nan},
        {"limit": True},
        {"text": "x" * 201},
        {"device_id": [["nested"]]},
        {"status": {"active": 1}},
        # ciso8601, Home Assistant's date parser, crashed the process on the second of these.
        {"start": "\ud800"},
        {"end": "2026-03-04T10:00:00\udfff"},
        {"start": 1e400},
    ],
    ids=repr,
)
async def test_list_jobs_refuses_absurd_numbers_and_types(
    hass: HomeAssistant, data: dict[str, Any]
) -> None:
    for _ in range(3):
        with pytest.raises(vol.Invalid):
            await call(hass, "list_jobs", **data)


@pytest.mark.usefixtures("entry")
@pytest.mark.parametrize(
    ("zone", "data"),
    [
        ("UTC", {"start": "9999-12-31T23:00:00-05:00"}),
        ("UTC", {"end": "0001-01-01T00:30:00+05:00"}),
        ("UTC", {"end": datetime.min.replace(tzinfo=timezone(timedelta(hours=1)))}),
        ("America/New_York", {"start": datetime(9999, 12, 31, 23, 59)}),  # local time
        ("Asia/Tokyo", {"end": "0001-01-01 00:30"}),
    ],
    ids=repr,
)
async def test_dates_utc_cannot_hold_are_explained(
    hass: HomeAssistant, zone: str, data: dict[str, Any]
) -> None:
    await hass.config.async_set_time_zone(zone)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "list_jobs", **data)
    assert refused(err.value) == "invalid_date"


@pytest.mark.usefixtures("entry")
async def test_text_no_record_can_keep_is_refused_and_nothing_changes(
    hass: HomeAssistant,
) -> None:
    before = (await call(hass, "get_job", job_id="job1"))["job"]
    for field, value in (
        ("notes", "\ud800"),
        ("customer", "ACME\x00"),
        ("project", "A\udfff"),
        ("notes", "line\x1b[31m"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "update_job", job_id="job1", **{field: value}, category="private")
        assert refused(err.value) == "invalid_text"
        assert err.value.translation_placeholders == {"field": field}
    for material in ("", "   "):
        with pytest.raises(ServiceValidationError) as err:
            await call(
                hass, "update_job", job_id="job1", materials=[{"material": material, "grams": 5}]
            )
        assert refused(err.value) == "material_required"
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "calculate_costs", grams=5, material=material, hours=1)
        assert refused(err.value) == "material_required"
    assert (await call(hass, "get_job", job_id="job1"))["job"] == before
    # Line breaks and tabs are a note's own; surrounding blanks go.
    noted = await call(hass, "update_job", job_id="job1", notes=" first\r\n\tsecond ")
    assert noted["job"]["notes"] == "first\n\tsecond"
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "get_job", job_id="x\ud800" * 120)
    assert refused(err.value) == "job_not_found"
    assert len(err.value.translation_placeholders["job_id"]) <= 80
    with pytest.raises(vol.Invalid):
        await call(hass, "calculate_costs", grams=math.nan, material="PLA", hours=1)


async def test_a_running_jobs_edit_the_store_refuses_is_not_applied(
    hass: HomeAssistant, entry: MockConfigEntry, bambu_sim: BambuSimulator
) -> None:
    """The tracker only takes an edit the history stored."""
    recorder = Recorder(hass)
    bambu_sim.start_print("Bracket", total_layers=200, minutes=600)
    started = await recorder.wait(EVENT_JOB_STARTED)
    jobs = entry.runtime_data.jobs
    history = hass.data[DATA_HISTORY]
    with (
        patch.object(type(history), "put", side_effect=TypeError("the Store refuses it")),
        pytest.raises(TypeError),
    ):
        await call(hass, "update_job", job_id=started["job_id"], customer="ACME")
    assert jobs.active is not None
    assert jobs.active.customer is None
    await call(hass, "update_job", job_id=started["job_id"], customer="ACME")
    assert jobs.active.customer == history.get(started["job_id"]).customer == "ACME"


def examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` values of a strategy, the same ones on every run (no shrinking: each is shown)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def nested(depth: int, *, mapping: bool = False) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value} if mapping else [value]
    return value


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63) | st.integers(max_value=-(2**63)),
    st.floats(),
    st.sampled_from([Decimal("NaN"), Decimal("-Infinity"), Decimal("1e999"), Decimal("0.5")]),
    st.text(st.characters(categories=["Cs", "Cc", "Zs", "L", "N", "P"]), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\ud800",
            "Cube\udfff",
            "x" * 6000,
            ".inf",
            "-inf",
            "nan",
            "1e400",
            "-1",
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00",
            "2026-03-04 10:00",
            "PLA",
            "business",
            "completed",
            nested(5000),
            nested(2000, mapping=True),
        ]
    ),  # fmt: skip
    st.datetimes(
        timezones=st.none()
        | st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        )
    ),
    st.lists(st.none() | st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(
        st.text(max_size=5), st.none() | st.integers() | st.text(max_size=5), max_size=3
    ),
)


def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One in five hostile, so most calls get past the first bad field to the handlers."""
    return st.integers(0, 4).flatmap(lambda n: HOSTILE if n == 0 else plausible)


def call_data(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the fields, each plausible or hostile, sometimes with a key no one knows."""
    return st.builds(
        lambda known, unknown: known | unknown,
        st.fixed_dictionaries({}, optional={name: maybe(value) for name, value in fields.items()}),
        st.integers(0, 9).flatmap(
            lambda n: st.dictionaries(st.sampled_from(["entity_id", "x", ""]), HOSTILE, max_size=1)
            if n == 0
            else st.just({})
        ),
    )


async def test_no_action_input_raises_anything_raw_or_breaks_the_history(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    bambu_sim: BambuSimulator,
    hass_storage: dict[str, Any],
) -> None:
    """Every call succeeds or is refused as invalid (translated); the history stays savable and
    the running job's record is the same in the tracker and the history after every call."""
    recorder = Recorder(hass)
    bambu_sim.start_print("Bracket", total_layers=200, minutes=600)
    active_id = (await recorder.wait(EVENT_JOB_STARTED))["job_id"]
    jobs = entry.runtime_data.jobs
    history = hass.data[DATA_HISTORY]
    device = device_id(hass, bambu_sim.serial)
    job_ids = st.sampled_from([f"job{n}" for n in range(1, 8)] + [active_id])
    targets = {
        "config_entry_id": st.sampled_from([entry.entry_id, [entry.entry_id], "nope"]),
        "device_id": st.sampled_from([device, [device, device], "nope"]),
    }
    text = st.text(st.characters(categories=["L", "N", "P", "Zs"]), max_size=30)
    amounts = st.floats(min_value=0, max_value=2_000_000) | st.integers(-5, 2_000_000)
    materials = st.lists(
        st.fixed_dictionaries({"material": maybe(text), "grams": maybe(amounts)}),
        max_size=3,
    )
    stamps = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31))
    plans = {
        "list_jobs": call_data(
            **targets,
            status=st.sampled_from(["completed", ["failed", "active"]]),
            category=st.sampled_from(["business", ["private"]]),
            start=stamps.map(datetime.isoformat),
            end=stamps,
            text=text,
            limit=st.integers(-1, 1001),
            offset=st.integers(-1, 10),
        ),
        "get_job": call_data(job_id=job_ids),
        "update_job": call_data(
            job_id=job_ids,
            category=st.sampled_from(["business", "private"]),
            customer=text,
            project=text,
            notes=text,
            materials=materials,
        ),
        # Never the running job's printer: a valid call would stop the print.
        "cancel_job": call_data(job_id=st.sampled_from(["job1", "job6", "nope"])),
        "calculate_costs": call_data(
            **targets, job_id=job_ids, grams=amounts, material=text, hours=amounts
        ),
    }
    outcomes: Counter[str] = Counter()
    for service, strategy in plans.items():
        for data in examples(strategy, 250):
            try:
                await call(hass, service, **data)
                outcomes["ok"] += 1
            except ServiceValidationError as err:
                outcomes[refused(err)] += 1
            except vol.Invalid:
                outcomes["invalid"] += 1
            except Exception as err:
                raise AssertionError(f"{service} raised {err!r} for {data!r:.300}") from err
            assert jobs.active is not None
            assert jobs.active == history.get(active_id), f"{service} half-applied {data!r:.300}"
    await history.async_save_now()
    for key in ("printernizer.jobs", "printernizer.active_jobs"):
        json_bytes(hass_storage[key])
    records, total = history.query(limit=1000)
    assert total == len(records) == 7
    assert all(orjson.dumps(record.to_dict()) for record in records)
    # Every kind of outcome happened, not only refusals.
    assert outcomes["ok"] > 150
    assert outcomes["invalid"] > 150
    assert {"invalid_text", "material_required", "job_not_found"} <= set(outcomes)
