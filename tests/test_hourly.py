"""Hourly statistics rows from ended jobs: hand-checked sums, restating, hostile amounts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from homeassistant.components.recorder.statistics import valid_statistic_id
from hypothesis import given, settings, strategies as st

from custom_components.printernizer.jobs.hourly import (
    HOUR,
    SERIES,
    Ended,
    MaterialUsed,
    changed_rows,
    hourly_sums,
    material_label,
    material_slug,
    material_sums,
)

H0 = 1_788_000_000 // HOUR * HOUR  # an hour boundary in 2026


def job(minute: float, **fields: object) -> Ended:
    values: dict[str, object] = {
        "ended": H0 + minute * 60,
        "category": "business",
        "gross": Decimal("1.10"),
        "grams": 10.0,
        "energy_kwh": 0.5,
        "print_seconds": 1800.0,
    }
    return Ended(**values | fields)  # type: ignore[arg-type]


def test_jobs_count_in_the_hour_they_ended_and_sums_run_on() -> None:
    series = hourly_sums(
        [
            job(5),
            job(50, category="private", gross=Decimal("2.25")),
            job(125, category=None, grams=2.5, energy_kwh=None),  # two hours later
        ]
    )
    hours = [H0, H0 + 2 * HOUR]
    assert list(series["cost"]) == hours  # the same hours in every series
    assert series["cost"] == {H0: (3.35, 3.35), H0 + 2 * HOUR: (1.1, 4.45)}
    assert series["cost_business"] == {H0: (1.1, 1.1), H0 + 2 * HOUR: (0.0, 1.1)}
    assert series["cost_private"] == {H0: (2.25, 2.25), H0 + 2 * HOUR: (0.0, 2.25)}
    assert series["material"] == {H0: (20.0, 20.0), H0 + 2 * HOUR: (2.5, 22.5)}
    assert series["energy"] == {H0: (1.0, 1.0), H0 + 2 * HOUR: (0.0, 1.0)}  # unknown: not 0 kWh
    assert series["print_hours"] == {H0: (1.0, 1.0), H0 + 2 * HOUR: (0.5, 1.5)}


def test_money_is_summed_exactly_in_cents() -> None:
    series = hourly_sums([job(m, gross=Decimal("0.10")) for m in range(30)])
    assert series["cost"][H0] == (3.0, 3.0)  # 30 x 0.1 in floats is 3.0000000000000013


def test_absurd_amounts_are_left_out_like_unknown_ones() -> None:
    hostile = [
        job(1, gross=Decimal("NaN")),
        job(2, gross=Decimal("-5")),
        job(3, gross=Decimal("1e12")),
        job(4, grams=float("inf"), energy_kwh=float("nan"), print_seconds=-1.0),
        job(5, grams=-3.0, energy_kwh=1e9, print_seconds=float("inf")),
        job(6, ended=float("nan")),
        job(7, category="💥" * 300),
    ]
    series = hourly_sums(hostile)
    assert series["cost"] == {H0: (3.3, 3.3)}  # jobs 4, 5 and 7 (the sixth has no hour)
    assert series["cost_business"] == {H0: (2.2, 2.2)}  # the seventh's category is junk
    assert series["energy"][H0] == (2.0, 2.0)
    assert series["material"][H0] == (40.0, 40.0)  # jobs 1, 2, 3 and 7
    assert series["print_hours"][H0] == (2.0, 2.0)


def test_a_recategorized_job_restates_every_later_row_of_both_series() -> None:
    jobs = [job(10), job(70), job(130)]
    before = hourly_sums(jobs)
    after = hourly_sums([replace(jobs[0], category="private"), *jobs[1:]])
    business = changed_rows(before["cost_business"], after["cost_business"])
    assert business == {H0: (0.0, 0.0), H0 + HOUR: (1.1, 1.1), H0 + 2 * HOUR: (1.1, 2.2)}
    private = changed_rows(before["cost_private"], after["cost_private"])
    assert private == {hour: (1.1 if hour == H0 else 0.0, 1.1) for hour in business}
    assert changed_rows(before["cost"], after["cost"]) == {}  # the total did not change
    assert changed_rows(after["cost"], after["cost"]) == {}


def test_an_hour_left_without_jobs_keeps_a_row_with_the_sum_as_of_then() -> None:
    before = hourly_sums([job(10), job(70), job(130)])
    after = hourly_sums([job(10), job(130)])  # the middle job's end was corrected away
    assert changed_rows(before["material"], after["material"]) == {
        H0 + HOUR: (0.0, 10.0),
        H0 + 2 * HOUR: (10.0, 20.0),
    }


amounts = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True, min_value=None, max_value=None)
)
jobs = st.builds(
    Ended,
    ended=st.floats(min_value=H0, max_value=H0 + 50 * HOUR),
    category=st.sampled_from([None, "business", "private", "other"]),
    gross=st.one_of(st.none(), st.decimals(allow_nan=True, allow_infinity=True, places=2)),
    grams=st.floats(allow_nan=True, allow_infinity=True),
    energy_kwh=amounts,
    print_seconds=amounts,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(jobs, max_size=25), st.lists(jobs, max_size=25))
def test_writing_the_changed_rows_over_the_old_ones_gives_the_new_series(
    old: list[Ended], new: list[Ended]
) -> None:
    before, after = hourly_sums(old), hourly_sums(new)
    for name in SERIES:
        stored = dict(before[name]) | changed_rows(before[name], after[name])
        assert {hour: stored[hour] for hour in after[name]} == after[name]
        sums = [stored[hour][1] for hour in sorted(stored)]
        assert sums == sorted(sums)  # never a step back: HA would read it as a meter reset
        business, private, total = (after[f"cost{s}"] for s in ("_business", "_private", ""))
        for hour in total:
            assert business[hour][1] + private[hour][1] <= total[hour][1] + 0.01


def used(minute: float, material: str | None, grams: float | None) -> MaterialUsed:
    return MaterialUsed(ended=H0 + minute * 60, material=material, grams=grams)


# A PLA job, a PETG job, then a multi-material plate (two PLA colours and a PETG part) two
# hours later, and one whose material is unknown: per type, grams in the hours it was used.
PLATES = [
    used(5, "PLA", 10.0),
    used(50, "PETG", 20.0),
    used(125, "PLA", 12.5),
    used(125, "PLA", 1.0),
    used(125, "PETG", 3.5),
    used(126, None, 4.0),
]


def test_material_per_type_splits_a_multi_material_job_by_its_grams() -> None:
    series, labels = material_sums(PLATES)
    assert series == {
        "material_pla": {H0: (10.0, 10.0), H0 + 2 * HOUR: (13.5, 23.5)},
        "material_petg": {H0: (20.0, 20.0), H0 + 2 * HOUR: (3.5, 23.5)},
        "material_unknown": {H0 + 2 * HOUR: (4.0, 4.0)},
    }
    assert labels == {"material_pla": "PLA", "material_petg": "PETG"}  # unknown: no label
    # The types add up to the material series of the same jobs.
    total = hourly_sums(
        [job(5, grams=10.0), job(50, grams=20.0), job(125, grams=17.0), job(126, grams=4.0)]
    )["material"]
    assert total == {H0: (30.0, 30.0), H0 + 2 * HOUR: (21.0, 51.0)}


def test_spellings_of_one_type_are_one_series_named_as_in_most_hours() -> None:
    series, labels = material_sums(
        [used(1, "petg", 1.0), used(2, " PÉTG ", 2.0), used(3, "pétg", 3.0), used(64, "PÉTG", 4.0)]
    )
    assert series == {"material_petg": {H0: (6.0, 6.0), H0 + HOUR: (4.0, 10.0)}}
    assert labels == {"material_petg": "PÉTG"}  # two hours; "petg" and "pétg" one each
    assert material_slug("PLA+") == "pla_plus" != material_slug("PLA")


def test_unknown_and_absurd_grams_are_left_out() -> None:
    series, _ = material_sums(
        [
            used(1, "PLA", None),
            used(2, "PLA", float("nan")),
            used(3, "PLA", -1.0),
            used(4, "PLA", 1e9),
            used(5, "PLA", float("inf")),
            MaterialUsed(ended=float("nan"), material="PLA", grams=5.0),
            used(6, "ABS", None),  # a type with no known grams has no series
            used(7, "PLA", 2.0),
        ]
    )
    assert series == {"material_pla": {H0: (2.0, 2.0)}}


HOSTILE = {
    "../../etc/passwd": "etc_passwd",
    "PLA/PETG": "pla_petg",
    "": "unknown",
    "   ": "unknown",
    "///": "unknown",
    "💥": "unknown",
    "\uff30\uff45\uff54\uff47": "petg",  # "Petg" in full-width letters
    "ABS\x00;DROP TABLE": "abs_drop_table",
    "TPU 95A": "tpu_95a",
}


def test_hostile_material_names_make_safe_distinct_statistic_ids() -> None:
    for name, slug in HOSTILE.items():
        assert material_slug(name) == slug, name
    assert material_slug(None) == "unknown"
    cjk, mixed = material_slug("聚乳酸"), material_slug("PLA 聚乳酸")
    assert cjk.startswith("x")
    assert mixed.startswith("pla_")
    assert cjk != material_slug("尼龙")
    long_a, long_b = "Silk PLA " + "a" * 300, "Silk PLA " + "a" * 299 + "b"
    assert material_slug(long_a) != material_slug(long_b)  # cut, but told apart by the hash
    assert len(material_slug(long_a)) <= 49
    assert len(material_label(long_a)) == 60
    assert material_label(long_a).endswith("\u2026")
    assert material_label(" Silk\n\tPLA ") == "Silk PLA"
    every = [*HOSTILE, "聚乳酸", "PLA 聚乳酸", long_a, long_b]
    series, _ = material_sums([used(1, name, 1.0) for name in every])
    assert all(valid_statistic_id(f"printernizer:{name}") for name in series)
    assert series["material_unknown"][H0] == (4.0, 4.0)  # "", spaces, "///" and "💥"
    assert sum(rows[H0][0] for rows in series.values()) == len(every)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=400)))
def test_every_material_name_makes_a_valid_statistic_id(name: str | None) -> None:
    slug = material_slug(name)
    assert valid_statistic_id(f"printernizer:material_{slug}"), (name, slug)
    assert len(slug) <= 49
    if name is not None:
        assert material_slug(name.upper()) == slug or not name.isascii()


def test_a_corrected_material_restates_both_types_and_drops_a_type_no_one_uses() -> None:
    before, _ = material_sums([used(5, "PLA", 10.0), used(70, "ABS", 8.0), used(130, "PLA", 5.0)])
    # The second job was PETG, 6 g, not ABS: ABS has no series left; PETG starts one.
    after, _ = material_sums([used(5, "PLA", 10.0), used(70, "PETG", 6.0), used(130, "PLA", 5.0)])
    assert before.keys() == {"material_pla", "material_abs"}
    assert after.keys() == {"material_pla", "material_petg"}
    assert changed_rows(before["material_pla"], after["material_pla"]) == {}
    assert changed_rows({}, after["material_petg"]) == {H0 + HOUR: (6.0, 6.0)}
    # Grams corrected on the first job: every later row of its type is restated.
    fixed, _ = material_sums([used(5, "PLA", 12.0), used(70, "PETG", 6.0), used(130, "PLA", 5.0)])
    assert changed_rows(after["material_pla"], fixed["material_pla"]) == {
        H0: (12.0, 12.0),
        H0 + 2 * HOUR: (5.0, 17.0),
    }
    assert changed_rows(after["material_petg"], fixed["material_petg"]) == {}
