"""Hourly statistics rows from ended jobs: hand-checked sums, restating, hostile amounts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from custom_components.printernizer.jobs.hourly import (
    HOUR,
    SERIES,
    Ended,
    changed_rows,
    hourly_sums,
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
