"""The pure cost model: hand-computed examples, then properties checked with hypothesis."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume, given, strategies as st
import pytest

from custom_components.printernizer.costs import (
    CENT,
    MAX_OVERRIDES,
    OPT_MATERIAL_OVERRIDES,
    Category,
    CategoryMode,
    CategoryRule,
    CostBreakdown,
    CostSettings,
    EnergyUse,
    Material,
    MaterialLine,
    MaterialOverrideError,
    calculate_costs,
    categorize,
    energy_use,
    job_costs,
    material_lines,
    material_price_option,
    material_type,
    meter_consumption,
    parse_settings,
    quote,
    round_cents,
)
from custom_components.printernizer.printers.models import (
    FilamentUsage,
    JobMetadata,
    PrinterStatus,
)

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")
ALL_DAYS = frozenset(range(7))
SETTINGS = CostSettings(
    material_prices={Material.PLA: D("24.99"), Material.PETG: D("29.90")},
    energy_price_per_kwh=D("0.35"),
    average_power_w=D(150),
    wear_per_hour=D("0.50"),
    vat_percent=D(19),
)
NO_ENERGY = EnergyUse(kwh=D(0), source="measured")
PRICED_ONLY = CostSettings(
    material_prices=dict.fromkeys(Material, D("24.99")),
    energy_price_per_kwh=D(0),
    vat_percent=D(19),
)


def metadata(*filaments: tuple[str | None, float | None]) -> JobMetadata:
    return JobMetadata(filaments=tuple(FilamentUsage(material=m, grams=g) for m, g in filaments))


def material_only(lines: list[MaterialLine], settings: CostSettings = PRICED_ONLY) -> CostBreakdown:
    return calculate_costs(settings, lines=lines, energy=NO_ENERGY, hours=D(0))


# --- Hand-computed examples -------------------------------------------------------------------


def test_pla_example_from_the_issue() -> None:
    # 123.4 g x 24.99 EUR/kg = 3.083766 -> 3.08; VAT 3.08 x 19 % = 0.5852 -> 0.59.
    costs = job_costs(
        SETTINGS,
        metadata(("PLA Basic", 123.4)),
        status=PrinterStatus.FINISHED,
        progress=100,
        hours=D(0),
        meter_readings=[D("5.000"), D("5.000")],
    )
    assert (costs.material, costs.energy, costs.wear) == (D("3.08"), D("0.00"), D("0.00"))
    assert (costs.net, costs.vat, costs.gross) == (D("3.08"), D("0.59"), D("3.67"))
    assert not costs.estimated
    assert costs.unknown == ()


def test_full_job_with_estimated_energy_and_wear() -> None:
    # PLA 123.4 g -> 3.08; PETG 45.6 g x 29.90 = 1.36344 -> 1.36;
    # 150 W x 2.5 h = 0.375 kWh x 0.35 = 0.13125 -> 0.13; wear 2.5 h x 0.50 = 1.25.
    # Net 5.82; VAT 5.82 x 0.19 = 1.1058 -> 1.11; gross 6.93.
    costs = job_costs(
        SETTINGS,
        metadata(("PLA", 123.4), ("PETG-CF", 45.6)),
        status=PrinterStatus.FINISHED,
        progress=None,
        hours=D("2.5"),
    )
    assert [line.cost for line in costs.lines] == [D("3.08"), D("1.36")]
    assert costs.energy_use == EnergyUse(kwh=D("0.375"), source="estimated")
    assert (costs.material, costs.energy, costs.wear) == (D("4.44"), D("0.13"), D("1.25"))
    assert (costs.net, costs.vat, costs.gross) == (D("5.82"), D("1.11"), D("6.93"))
    assert costs.estimated
    assert costs.as_dict() == {
        "currency": "EUR",
        "material": "4.44",
        "energy": "0.13",
        "wear": "1.25",
        "net": "5.82",
        "vat": "1.11",
        "gross": "6.93",
        "vat_percent": "19.00",
        "estimated": True,
        "unknown": [],
        "energy_kwh": "0.375",
        "energy_source": "estimated",
        "lines": [
            {
                "material": "PLA",
                "grams": "123.40",
                "source": "slicer",
                "price_per_kg": "24.99",
                "cost": "3.08",
            },
            {
                "material": "PETG",
                "grams": "45.60",
                "source": "slicer",
                "price_per_kg": "29.90",
                "cost": "1.36",
            },
        ],
    }


def test_rounding_is_half_up_not_half_even() -> None:
    # 100 g x 0.05 EUR/kg = 0.005 -> 0.01 (half-even would give 0.00).
    settings = CostSettings(material_prices={Material.PLA: D("0.05")}, energy_price_per_kwh=D(0))
    assert material_only(
        [MaterialLine(material=Material.PLA, grams=D(100))], settings
    ).material == D("0.01")
    # Net 1.50 x 19 % = 0.285 -> 0.29 (half-even: 0.28).
    settings = CostSettings(
        material_prices={Material.PLA: D(15)}, energy_price_per_kwh=D(0), vat_percent=D(19)
    )
    costs = material_only([MaterialLine(material=Material.PLA, grams=D(100))], settings)
    assert (costs.net, costs.vat, costs.gross) == (D("1.50"), D("0.29"), D("1.79"))
    assert round_cents(D("2.675")) == D("2.68")


def test_cancelled_print_is_an_estimate_from_progress() -> None:
    # 100 g PLA cancelled at 40 % -> 40 g x 24.99 = 0.9996 -> 1.00.
    lines = material_lines(metadata(("PLA", 100.0)), status=PrinterStatus.CANCELLED, progress=40)
    assert lines == (
        MaterialLine(material=Material.PLA, grams=D(40), source="estimate", name="PLA"),
    )
    assert material_only(list(lines)).material == D("1.00")
    over = material_lines(metadata(("PLA", 100.0)), status=PrinterStatus.FAILED, progress=120.0)
    assert over[0].grams == D(100)


def test_unknown_grams_and_prices_are_named_not_zero() -> None:
    costs = job_costs(
        CostSettings(material_prices={Material.PLA: D(25)}),
        JobMetadata(),
        status=PrinterStatus.FINISHED,
        progress=100,
        hours=None,
        fallback_material="PLA Matte",
    )
    assert costs.lines[0].line == MaterialLine(material=Material.PLA, grams=None, name="PLA Matte")
    assert (costs.material, costs.energy, costs.wear) == (None, None, D(0))
    assert (costs.net, costs.vat, costs.gross) == (None, None, None)
    assert costs.unknown == ("grams:PLA", "energy_kwh", "energy_price_per_kwh")
    as_dict = costs.as_dict()
    assert (as_dict["material"], as_dict["net"], as_dict["energy_kwh"]) == (None, None, None)

    costs = material_only([MaterialLine(material=Material.ABS, grams=D(5))], SETTINGS)
    assert costs.material is None
    assert costs.unknown == ("price_per_kg_abs",)
    assert costs.as_dict()["lines"][0]["price_per_kg"] is None


def test_total_grams_without_filaments_and_unknown_progress() -> None:
    meta = JobMetadata(total_grams=12.5)
    assert material_lines(meta, fallback_material=None) == (
        MaterialLine(material=Material.OTHER, grams=D("12.5")),
    )
    failed = material_lines(meta, status=PrinterStatus.FAILED, progress=None)
    assert failed[0].grams is None
    assert failed[0].source == "estimate"
    nan = material_lines(metadata(("ASA", float("nan"))), progress=50)
    assert nan[0].grams is None


def test_wear_needs_hours_only_when_it_has_a_rate() -> None:
    costs = material_only([], SETTINGS)
    assert costs.wear == D("0.00")
    costs = calculate_costs(SETTINGS, lines=[], energy=NO_ENERGY, hours=None)
    assert costs.wear is None
    assert costs.unknown == ("hours",)
    assert costs.net is None


def test_measured_energy_with_a_reset() -> None:
    # 10.0 -> 10.4 (+0.4), reset, 0.3 (+0.3), 0.5 (+0.2).
    assert meter_consumption([D("10.0"), D("10.4"), D("0.3"), D("0.5")]) == D("0.9")
    assert meter_consumption([D(7)]) == 0
    energy = energy_use(SETTINGS, hours=None, meter_readings=[D(1), D(3)])
    assert energy == EnergyUse(kwh=D(2), source="measured")
    assert energy_use(CostSettings(), hours=D(1)) == EnergyUse(kwh=None, source="estimated")


def test_quote_uses_the_same_rules() -> None:
    # 50 g PETG = 1.495 -> 1.50; 150 W x 2 h = 0.3 kWh x 0.35 = 0.105 -> 0.11; wear 1.00.
    costs = quote(SETTINGS, grams=D(50), material="petg-cf", hours=D(2))
    assert costs.lines[0].line.source == "user"
    assert (costs.material, costs.energy, costs.wear, costs.net) == (
        D("1.50"),
        D("0.11"),
        D("1.00"),
        D("2.61"),
    )
    assert (costs.vat, costs.gross) == (D("0.50"), D("3.11"))
    assert costs.estimated


@pytest.mark.parametrize(
    ("name", "material"),
    [
        ("PLA Basic", Material.PLA),
        ("pla+", Material.PLA),
        ("eSUN PLA-CF", Material.PLA),
        ("PETG-CF", Material.PETG),
        ("PETG HF", Material.PETG),
        ("PA6-CF", Material.PA),
        ("PA12", Material.PA),
        ("PAHT-CF", Material.PA),
        ("Nylon", Material.PA),
        ("Generic ASA", Material.ASA),
        ("ABS-GF", Material.ABS),
        ("TPU 95A", Material.TPU),
        ("PC", Material.PC),
        ("PC-ABS", Material.PC),
        ("PCTG", Material.OTHER),
        ("PPA-CF", Material.OTHER),
        ("PVA", Material.OTHER),
        ("", Material.OTHER),
        (None, Material.OTHER),
    ],
)
def test_material_type(name: str | None, material: Material) -> None:
    assert material_type(name) is material


# --- Settings from options ---------------------------------------------------------------------


def test_parse_settings_reads_what_ha_stores() -> None:
    settings = parse_settings(
        {
            "price_per_kg_pla": 24.99,
            "price_per_kg_petg": " 29,90 ",
            "price_per_kg_tpu": "",
            "price_per_kg_other": 20,
            "energy_price_per_kwh": "0.3512",
            "average_power_w": 150.0,
            "wear_per_hour": "0.5",
            "vat_percent": 7,
            "category_mode": "business_hours",
            "business_weekdays": ["sat", "SUN", 0],
            "business_start": "07:30:00",
            "business_end": time(12),
        },
        currency="CHF",
    )
    assert dict(settings.material_prices) == {
        Material.PLA: D("24.99"),
        Material.PETG: D("29.90"),
        Material.OTHER: D(20),
    }
    assert settings.energy_price_per_kwh == D("0.3512")
    assert (settings.average_power_w, settings.wear_per_hour) == (D("150.0"), D("0.5"))
    assert (settings.vat_percent, settings.currency) == (D(7), "CHF")
    assert settings.category == CategoryRule(
        weekdays=frozenset({0, 5, 6}), start=time(7, 30), end=time(12)
    )


def test_parse_settings_defaults() -> None:
    settings = parse_settings({}, currency="EUR")
    assert settings == CostSettings()
    assert settings.category == CategoryRule(
        mode=CategoryMode.BUSINESS_HOURS,
        weekdays=frozenset(range(5)),
        start=time(8),
        end=time(18),
    )
    # No VAT until the user sets a rate: an assumed 19 % inflated every cost unnoticed.
    assert (settings.vat_percent, settings.wear_per_hour) == (D(0), D(0))
    assert parse_settings({"category_mode": "private"}, currency="EUR").category.mode is (
        CategoryMode.PRIVATE
    )


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"price_per_kg_pla": -1}, "price_per_kg_pla must be a finite number >= 0"),
        ({"price_per_kg_abs": float("nan")}, "price_per_kg_abs must be a finite"),
        ({"energy_price_per_kwh": "inf"}, "energy_price_per_kwh must be a finite"),
        ({"average_power_w": "abc"}, "average_power_w must be a number"),
        ({"wear_per_hour": True}, "wear_per_hour must be a number"),
        ({"vat_percent": 150}, "vat_percent must be at most 100"),
        ({"vat_percent": "-19"}, "vat_percent must be a finite"),
        ({"category_mode": "sometimes"}, "category_mode must be one of business, private"),
        ({"business_weekdays": "mon"}, "business_weekdays must list weekdays"),
        ({"business_weekdays": ["monday"]}, "business_weekdays must list weekdays"),
        ({"business_weekdays": [7]}, "business_weekdays must list weekdays"),
        ({"business_start": "25:00"}, "business_start must be a time like 08:00"),
        ({"business_end": "18:00+01:00"}, "without a time zone"),
        ({"business_start": "18:00"}, "must not start and end at the same time"),
    ],
)
def test_parse_settings_rejects(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_settings(options, currency="EUR")


def test_models_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="grams"):
        MaterialLine(material=Material.PLA, grams=D(-1))
    with pytest.raises(ValueError, match="weekdays"):
        CategoryRule(weekdays=frozenset({7}))
    with pytest.raises(ValueError, match="average_power_w"):
        CostSettings(average_power_w=D("-0.1"))
    with pytest.raises(ValueError, match="meter reading"):
        meter_consumption([D(1), D("NaN")])
    with pytest.raises(ValueError, match="at least one"):
        meter_consumption([])
    with pytest.raises(ValueError, match="hours"):
        energy_use(SETTINGS, hours=D(-1))
    with pytest.raises(ValueError, match="hours"):
        calculate_costs(SETTINGS, lines=[], energy=NO_ENERGY, hours=D(-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        categorize(datetime(2025, 3, 3, 9), CategoryRule(), BERLIN)
    prices = {Material.PLA: D(1)}
    settings = CostSettings(material_prices=prices)
    prices[Material.PLA] = D(-1)
    assert settings.material_prices[Material.PLA] == D(1)


# --- Category examples -------------------------------------------------------------------------


def berlin(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """June 2025 Berlin wall-clock time (day 2 is a Monday) as the UTC instant stored."""
    return datetime(2025, 6, day, hour, minute, second, micro, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("started_at", "rule", "category"),
    [
        # DST switch days (Sundays) at 08:30 local; UTC is 06:30 in March, 07:30 in October.
        (datetime(2025, 3, 30, 6, 30, tzinfo=UTC), CategoryRule(weekdays=ALL_DAYS), "business"),
        (datetime(2025, 10, 26, 7, 30, tzinfo=UTC), CategoryRule(weekdays=ALL_DAYS), "business"),
        (datetime(2025, 3, 30, 6, 30, tzinfo=UTC), CategoryRule(), "private"),  # Sunday
        # Friday before the switch: 06:30 UTC is 07:30 CET, outside 08:00-18:00.
        (datetime(2025, 3, 28, 6, 30, tzinfo=UTC), CategoryRule(), "private"),
        (datetime(2025, 3, 31, 6, 30, tzinfo=UTC), CategoryRule(), "business"),  # 08:30 CEST
        (berlin(2, 8, 0), CategoryRule(), "business"),  # window start included
        (berlin(2, 18, 0), CategoryRule(), "private"),  # window end excluded
        (berlin(2, 17, 59, 59, 999_999), CategoryRule(), "business"),
        (berlin(7, 10, 0), CategoryRule(), "private"),  # Saturday
        # Sunday 22:30 UTC is Monday 00:30 in Berlin.
        (
            datetime(2025, 6, 1, 22, 30, tzinfo=UTC),
            CategoryRule(end=time(6), start=time(0)),
            "business",
        ),
        (berlin(6, 23, 0), CategoryRule(start=time(22), end=time(6)), "business"),  # Fri
        (berlin(6, 1, 0), CategoryRule(start=time(22), end=time(6)), "business"),
        (berlin(7, 1, 0), CategoryRule(start=time(22), end=time(6)), "private"),  # Sat
        (berlin(6, 12, 0), CategoryRule(start=time(22), end=time(6)), "private"),
        (berlin(7, 3, 0), CategoryRule(mode=CategoryMode.BUSINESS), "business"),
        (berlin(2, 9, 0), CategoryRule(mode=CategoryMode.PRIVATE), "private"),
    ],
)
def test_category_examples(started_at: datetime, rule: CategoryRule, category: str) -> None:
    assert categorize(started_at, rule, BERLIN) == category


def test_override_wins() -> None:
    saturday = berlin(7, 10, 0)
    assert categorize(saturday, CategoryRule(), BERLIN, Category.BUSINESS) is Category.BUSINESS
    rule = CategoryRule(mode=CategoryMode.BUSINESS)
    assert categorize(saturday, rule, BERLIN, Category.PRIVATE) is Category.PRIVATE


# --- Properties --------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=200, places=2)
grams = st.decimals(min_value=0, max_value=5000, places=3)
known_line = st.builds(
    MaterialLine,
    material=st.sampled_from(Material),
    grams=grams,
    source=st.sampled_from(["slicer", "estimate", "user"]),
)
any_line = st.builds(
    MaterialLine,
    material=st.sampled_from(Material),
    grams=st.none() | grams,
    source=st.sampled_from(["slicer", "estimate", "user"]),
)
settings_st = st.builds(
    CostSettings,
    material_prices=st.dictionaries(st.sampled_from(Material), money),
    energy_price_per_kwh=st.none() | st.decimals(min_value=0, max_value=2, places=4),
    average_power_w=st.none() | st.decimals(min_value=0, max_value=3000, places=1),
    wear_per_hour=money,
    vat_percent=st.decimals(min_value=0, max_value=100, places=2),
)
full_settings = settings_st.map(
    lambda s: CostSettings(
        material_prices={m: s.material_prices.get(m, D("19.99")) for m in Material},
        energy_price_per_kwh=s.energy_price_per_kwh or D("0.30"),
        average_power_w=s.average_power_w or D(120),
        wear_per_hour=s.wear_per_hour,
        vat_percent=s.vat_percent,
    )
)
hours_st = st.decimals(min_value=0, max_value=500, places=4)


@given(settings_st, st.lists(any_line, max_size=5), st.none() | hours_st)
def test_costs_are_never_negative_and_always_in_cents(
    settings: CostSettings, lines: list[MaterialLine], hours: Decimal | None
) -> None:
    costs = calculate_costs(
        settings, lines=lines, energy=energy_use(settings, hours=hours), hours=hours
    )
    amounts = [costs.material, costs.energy, costs.wear, costs.net, costs.vat, costs.gross]
    amounts += [line.cost for line in costs.lines]
    for amount in amounts:
        if amount is not None:
            assert amount >= 0
            assert amount == round_cents(amount)
    assert (costs.net is None) == bool(costs.unknown)
    assert (costs.net is None) == (costs.gross is None) == (costs.vat is None)


@given(full_settings, st.lists(known_line, max_size=4), st.lists(known_line, max_size=4))
def test_material_cost_is_exactly_additive_over_lines(
    settings: CostSettings, a: list[MaterialLine], b: list[MaterialLine]
) -> None:
    """The rule: lines are rounded one by one, so concatenating lines adds their costs."""
    together = material_only(a + b, settings).material
    apart_a, apart_b = material_only(a, settings).material, material_only(b, settings).material
    assert together is not None
    assert apart_a is not None
    assert apart_b is not None
    assert together == apart_a + apart_b


@given(full_settings, st.sampled_from(Material), grams, grams)
def test_merging_two_lines_differs_by_at_most_one_cent(
    settings: CostSettings, material: Material, a: Decimal, b: Decimal
) -> None:
    lines = [MaterialLine(material=material, grams=a), MaterialLine(material=material, grams=b)]
    split = material_only(lines, settings).material
    merged = material_only([MaterialLine(material=material, grams=a + b)], settings).material
    assert split is not None
    assert merged is not None
    assert abs(split - merged) <= CENT


@given(full_settings, st.lists(known_line, max_size=4), hours_st)
def test_vat_is_exact_in_cents(
    settings: CostSettings, lines: list[MaterialLine], hours: Decimal
) -> None:
    costs = calculate_costs(
        settings, lines=lines, energy=energy_use(settings, hours=hours), hours=hours
    )
    assert costs.net is not None
    assert costs.vat is not None
    assert costs.gross is not None
    assert costs.unknown == ()
    parts = [costs.material, costs.energy, costs.wear]
    assert costs.net == sum(part for part in parts if part is not None)
    assert None not in parts
    assert costs.vat == round_cents(costs.net * settings.vat_percent / 100)
    assert costs.gross == costs.net + costs.vat
    shown = costs.as_dict()
    assert D(shown["gross"]) == D(shown["net"]) + D(shown["vat"])
    assert all(len(shown[k].split(".")[1]) == 2 for k in ("material", "net", "vat", "gross"))


@given(
    full_settings,
    st.lists(st.tuples(st.sampled_from(["PLA", "PETG", "X"]), st.none() | st.floats(0, 5000))),
    st.sampled_from(PrinterStatus),
    st.none() | st.floats(0, 100),
)
def test_unknown_grams_make_the_cost_unknown_never_zero(
    settings: CostSettings,
    filaments: list[tuple[str, float | None]],
    status: PrinterStatus,
    progress: float | None,
) -> None:
    assume(any(g is None for _, g in filaments) or not filaments)
    costs = job_costs(settings, metadata(*filaments), status=status, progress=progress, hours=D(1))
    assert costs.material is None
    assert costs.net is costs.vat is costs.gross is None
    assert any(item.startswith("grams:") for item in costs.unknown)
    assert all(line.cost is None for line in costs.lines if line.line.grams is None)


@given(
    st.lists(st.tuples(st.sampled_from(["PLA", "PETG"]), st.floats(0, 5000)), min_size=1),
    st.sampled_from([PrinterStatus.CANCELLED, PrinterStatus.FAILED]),
    st.floats(0, 100, exclude_max=True),
)
def test_ended_early_prints_are_estimates_scaled_by_progress(
    filaments: list[tuple[str, float]], status: PrinterStatus, progress: float
) -> None:
    meta = metadata(*filaments)
    costs = job_costs(
        SETTINGS, meta, status=status, progress=progress, hours=D(1), meter_readings=[D(0), D(1)]
    )
    assert costs.estimated
    assert costs.energy_use.source == "measured"
    for cost, (_, slicer_grams) in zip(costs.lines, filaments, strict=True):
        assert cost.line.source == "estimate"
        assert cost.line.grams == D(str(slicer_grams)) * D(str(progress)) / 100
    finished = job_costs(
        SETTINGS,
        meta,
        status=PrinterStatus.FINISHED,
        progress=progress,
        hours=D(1),
        meter_readings=[D(0), D(1)],
    )
    assert not finished.estimated
    assert finished.material is not None
    assert costs.material is not None
    assert costs.material <= finished.material


readings_step = st.tuples(st.decimals(min_value=0, max_value=50, places=3), st.booleans())


@given(st.decimals(min_value=0, max_value=100_000, places=3), st.lists(readings_step, max_size=30))
def test_meter_resets_count_true_consumption(
    start: Decimal, steps: list[tuple[Decimal, bool]]
) -> None:
    """Each step uses some kWh; on a reset the meter restarted from 0 before that use."""
    readings, reading, used = [start], start, D(0)
    for kwh, reset in steps:
        reading = kwh if reset and kwh < reading else reading + kwh
        readings.append(reading)
        used += kwh
    consumed = meter_consumption(readings)
    assert consumed >= 0
    assert consumed == used


@given(st.lists(st.decimals(min_value=0, max_value=1000, places=3), min_size=1, max_size=30))
def test_meter_consumption_is_never_negative(readings: list[Decimal]) -> None:
    assert meter_consumption(readings) >= 0


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2037, 12, 31),
        timezones=st.just(BERLIN),
        allow_imaginary=False,
    ),
    st.frozensets(st.integers(0, 6)),
    st.times(),
    st.times(),
)
def test_category_follows_local_wall_clock(
    local: datetime, weekdays: frozenset[int], start: time, end: time
) -> None:
    """Oracle: the wall-clock time a person in Berlin saw when the job started."""
    assume(start != end)
    rule = CategoryRule(weekdays=weekdays, start=start, end=end)
    wall = local.time()
    inside = start <= wall < end if start < end else (wall >= start or wall < end)
    expected = "business" if inside and local.weekday() in weekdays else "private"
    assert categorize(local.astimezone(UTC), rule, BERLIN) == expected


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


@given(st.integers(2000, 2037), st.sampled_from([3, 10]), st.integers(0, 599))
def test_dst_switch_days_keep_business_hours(year: int, month: int, minute: int) -> None:
    """08:00-18:00 on the 23- and 25-hour days is business; 07:59 and 18:00 are not."""
    day = last_sunday(year, month)
    rule = CategoryRule(weekdays=ALL_DAYS)
    at = datetime.combine(day, time(8), tzinfo=BERLIN) + timedelta(minutes=minute)
    assert categorize(at.astimezone(UTC), rule, BERLIN) is Category.BUSINESS
    before = datetime.combine(day, time(7, 59), tzinfo=BERLIN).astimezone(UTC)
    after = datetime.combine(day, time(18), tzinfo=BERLIN).astimezone(UTC)
    assert categorize(before, rule, BERLIN) is Category.PRIVATE
    assert categorize(after, rule, BERLIN) is Category.PRIVATE
    assert categorize(at.astimezone(UTC), CategoryRule(), BERLIN) is Category.PRIVATE  # Sunday
    # 08:30 local is 06:30 UTC after the March switch and 07:30 UTC after the October one.
    utc_hour = 6 if month == 3 else 7
    assert datetime.combine(day, time(8, 30), tzinfo=BERLIN).astimezone(UTC).hour == utc_hour


def test_material_price_option_keys() -> None:
    assert [material_price_option(m) for m in Material] == [
        "price_per_kg_pla",
        "price_per_kg_petg",
        "price_per_kg_abs",
        "price_per_kg_asa",
        "price_per_kg_tpu",
        "price_per_kg_pa",
        "price_per_kg_pc",
        "price_per_kg_other",
    ]


# --- Per-colour and per-brand prices --------------------------------------------------------

OVERRIDES = """
PLA #FF6A13 = 32.50
PLA Basic = 20
PLA Basic #ff6a13ff = 30
petg prusament = 28,90

"""


def test_a_material_line_with_a_colour_or_brand_takes_its_override() -> None:
    """The most specific match wins; no match is the type's price; other types are untouched."""
    settings = parse_settings(
        {"price_per_kg_pla": 25, "price_per_kg_petg": 22, OPT_MATERIAL_OVERRIDES: OVERRIDES},
        currency="EUR",
    )

    def price(name: str | None, color: str | None) -> Decimal | None:
        line = MaterialLine(material=material_type(name), grams=D(1), name=name, color=color)
        return settings.price_per_kg(line)

    assert price("PLA Matte", "FF6A13FF") == D("32.50")  # colour only (Bambu's RGBA)
    assert price("PLA Basic", "#000000") == D(20)  # brand only
    assert price("Bambu PLA Basic", "FF6A13") == D(30)  # colour and brand beat either
    assert price("PLA Matte", "000000FF") == D(25)  # no override: the type's price
    assert price("PLA Matte", None) == D(25)
    assert price("Prusament PETG", "#123456") == D("28.90")
    assert price("PETG HF", None) == D(22)
    assert price("ASA", "FF6A13FF") is None  # still unknown: overrides are per type
    costs = job_costs(
        settings,
        JobMetadata(filaments=(FilamentUsage(material="PLA Basic", grams=100.0, color="FF6A13FF"),
                               FilamentUsage(material="PLA Matte", grams=100.0, color="000000FF"))),
        status=PrinterStatus.FINISHED,
        progress=100,
        hours=D(0),
    )  # fmt: skip
    assert [line.cost for line in costs.lines] == [D("3.00"), D("2.50")]
    assert [line.price_per_kg for line in costs.lines] == [D(30), D(25)]


@pytest.mark.parametrize(
    "text",
    ["PLA #FF6A13", "PLA #FF6A13 = -1", "PLA #FF6A13 = nan", "PLA = 20", "= 20", "Wood #FF0000 = 3",
     "PLA #FF0000 #00FF00 = 3", "PLA Basic = 1e999999", 42, ["PLA Basic = 2"],
     "PLA Basic = 2\n" * (MAX_OVERRIDES + 1)],
)  # fmt: skip
def test_unreadable_overrides_are_refused_naming_the_option(text: Any) -> None:
    with pytest.raises(MaterialOverrideError, match=OPT_MATERIAL_OVERRIDES):
        parse_settings({OPT_MATERIAL_OVERRIDES: text}, currency="EUR")
