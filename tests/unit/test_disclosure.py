"""Disclosure control (indicators.md rules 1-4): boundaries, hand-worked tables, properties."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.disclosure import (
    ROUNDING_MULTIPLE,
    SUPPRESSION_THRESHOLD,
    apply_disclosure_control,
    is_small,
    round_to_multiple,
)

GROUP = ["indicator_id", "period_type", "period_end", "geography_level", "geography_code"]
LIMITS = ["lower_95", "upper_95", "lower_99_8", "upper_99_8"]
SCHEMA = {
    "indicator_id": pl.String,
    "period_type": pl.String,
    "period_end": pl.Date,
    "geography_level": pl.String,
    "geography_code": pl.String,
    "breakdown": pl.String,
    "breakdown_value": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "value": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "lower_99_8": pl.Float64,
    "upper_99_8": pl.Float64,
    "unit": pl.String,
    "comparator_value": pl.Float64,
    "comparison": pl.String,
    "suppressed": pl.Boolean,
    "run_id": pl.String,
}


def row(breakdown, breakdown_value, numerator, denominator, geography_code="P1", **extra):
    value = None
    if denominator:
        value = 100 * numerator / denominator if numerator is not None else float(denominator)
    out = {
        "indicator_id": "PD01",
        "period_type": "rolling_12m",
        "period_end": dt.date(2024, 3, 31),
        "geography_level": "place",
        "geography_code": geography_code,
        "breakdown": breakdown,
        "breakdown_value": breakdown_value,
        "numerator": numerator,
        "denominator": denominator,
        "value": value,
        "lower_95": None if value is None else value - 1,
        "upper_95": None if value is None else value + 1,
        "lower_99_8": None if value is None else value - 2,
        "upper_99_8": None if value is None else value + 2,
        "unit": "%",
        "comparator_value": 30.0,
        "comparison": "similar",
        "suppressed": False,
        "run_id": "run-1",
    }
    out.update(extra)
    return out


def table(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def by_category(out: pl.DataFrame, breakdown: str) -> dict[str, dict]:
    return {
        r["breakdown_value"]: r
        for r in out.filter(pl.col("breakdown") == breakdown).iter_rows(named=True)
    }


# --------------------------------------------------------------------------------------------
# Boundaries


@pytest.mark.parametrize(
    "count, small", [(0, False), (1, True), (6, True), (7, True), (8, False), (None, False)]
)
def test_is_small_boundaries(count, small):
    assert is_small(count, SUPPRESSION_THRESHOLD) is small


@pytest.mark.parametrize(
    "count, rounded",
    [(0, 0), (1, 0), (2, 0), (3, 5), (4, 5), (5, 5), (7, 5), (8, 10), (12, 10), (13, 15)],
)
def test_round_to_nearest_5(count, rounded):
    assert round_to_multiple(count, ROUNDING_MULTIPLE) == rounded


@pytest.mark.parametrize("count, rounded", [(4, 0), (5, 10), (14, 10), (15, 20), (25, 30)])
def test_round_to_an_even_multiple_rounds_ties_up(count, rounded):
    assert round_to_multiple(count, 10) == rounded


@pytest.mark.parametrize(
    "numerator, denominator, suppressed",
    [
        (0, 0, False),
        (0, 100, False),
        (1, 100, True),
        (6, 100, True),
        (7, 100, True),
        (8, 100, False),
        (0, 7, True),
        (8, 8, False),
        (None, 7, True),  # a median: the denominator alone decides
        (None, 8, False),
    ],
)
def test_rule_1_on_a_single_row(numerator, denominator, suppressed):
    out = apply_disclosure_control(table([row("all", "all", numerator, denominator)]))
    got = out.row(0, named=True)
    assert got["suppressed"] is suppressed
    if suppressed:
        assert got["numerator"] is None and got["denominator"] is None
        assert got["value"] is None and all(got[c] is None for c in LIMITS)
        assert got["comparison"] == "not_compared"
        assert got["comparator_value"] == 30.0  # the ICS figure is published anyway
    else:
        assert got["numerator"] == round_to_multiple(numerator)
        assert got["denominator"] == round_to_multiple(denominator)


def test_values_and_intervals_come_from_unrounded_counts():
    out = apply_disclosure_control(table([row("all", "all", 12, 23)]))
    got = out.row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (10, 25)
    assert got["value"] == pytest.approx(100 * 12 / 23)
    assert got["upper_95"] == pytest.approx(100 * 12 / 23 + 1)


# --------------------------------------------------------------------------------------------
# Hand-worked tables


def test_sex_breakdown_with_one_small_cell_suppresses_its_complement():
    df = table(
        [
            row("sex", "male", 5, 100),
            row("sex", "female", 40, 120),
            row("all", "all", 45, 220),
        ]
    )
    out = apply_disclosure_control(df)
    sex = by_category(out, "sex")
    assert sex["male"]["suppressed"] and sex["female"]["suppressed"]
    assert sex["female"]["numerator"] is None and sex["female"]["value"] is None
    assert sex["female"]["comparison"] == "not_compared"
    total = by_category(out, "all")["all"]
    assert not total["suppressed"]
    assert (total["numerator"], total["denominator"]) == (45, 220)


def test_age_breakdown_with_two_small_cells_needs_no_more_suppression():
    df = table(
        [
            row("age_band", "0-17", 0, 3),  # small denominator
            row("age_band", "18-64", 2, 50),  # small numerator
            row("age_band", "65-74", 20, 60),
            row("age_band", "75-84", 30, 62),
            row("age_band", "85+", 9, 40),
        ]
    )
    out = by_category(apply_disclosure_control(df), "age_band")
    assert [b for b, r in out.items() if r["suppressed"]] == ["0-17", "18-64"]
    assert (out["75-84"]["numerator"], out["75-84"]["denominator"]) == (30, 60)


def test_complement_is_the_smallest_denominator_then_numerator_then_category():
    df = table(
        [
            row("condition_group", "cancer", 3, 90),
            row("condition_group", "other", 20, 40),
            row("condition_group", "dementia_frailty", 10, 40),
            row("condition_group", "neurological", 10, 40),
            row("condition_group", "organ_failure", 50, 200),
        ]
    )
    out = by_category(apply_disclosure_control(df), "condition_group")
    assert sorted(b for b, r in out.items() if r["suppressed"]) == ["cancer", "dementia_frailty"]


def test_a_group_with_one_category_needs_nothing_more():
    out = apply_disclosure_control(table([row("sex", "female", 4, 60), row("all", "all", 4, 60)]))
    assert out["suppressed"].to_list() == [True, True]


def test_groups_are_indicator_period_geography_and_breakdown():
    df = table(
        [
            row("sex", "male", 5, 100, geography_code="P1"),
            row("sex", "female", 40, 120, geography_code="P1"),
            row("sex", "male", 50, 100, geography_code="P2"),
            row("sex", "female", 40, 120, geography_code="P2"),
            row("sex", "male", 50, 100, indicator_id="PD02"),
            row("sex", "female", 40, 120, indicator_id="PD02"),
        ]
    )
    assert apply_disclosure_control(df)["suppressed"].to_list() == [True, True] + [False] * 4


def test_configurable_threshold_and_multiple():
    df = table(
        [
            row("sex", "male", 10, 100),
            row("sex", "female", 11, 120),
            row("sex", "unknown", 15, 300),
        ]
    )
    out = by_category(apply_disclosure_control(df, threshold=10, multiple=10), "sex")
    assert out["male"]["suppressed"] and out["female"]["suppressed"]
    assert not out["unknown"]["suppressed"]
    assert (out["unknown"]["numerator"], out["unknown"]["denominator"]) == (20, 300)
    # Under the defaults 10 is published (rounded to 10) and nothing is suppressed.
    defaults = apply_disclosure_control(df)
    assert not defaults["suppressed"].any()
    assert defaults["numerator"].to_list() == [10, 10, 15]


def test_a_count_just_over_the_threshold_may_round_back_to_it():
    # With threshold 10 and multiple 10, 11 is publishable and rounds to 10: the published
    # figure lies in 1-threshold although the true count does not (see the report).
    out = apply_disclosure_control(table([row("all", "all", 11, 300)]), threshold=10, multiple=10)
    assert out.row(0, named=True)["numerator"] == 10


def test_keeps_columns_order_rows_and_passes_other_columns_through():
    df = table([row("sex", "male", 5, 100), row("sex", "female", 40, 120)]).drop("suppressed")
    out = apply_disclosure_control(df)
    assert out.columns == [*df.columns, "suppressed"]
    assert out["run_id"].to_list() == ["run-1", "run-1"]
    assert out["unit"].to_list() == ["%", "%"]
    assert out.schema["numerator"] == pl.Int64


def test_already_suppressed_rows_stay_suppressed_and_count_for_rule_3():
    df = table(
        [
            row("sex", "male", 50, 100, suppressed=True),
            row("sex", "female", 40, 120),
            row("sex", "unknown", 30, 150),
        ]
    )
    out = apply_disclosure_control(df)
    assert out["suppressed"].to_list() == [True, True, False]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: round_to_multiple(-1), "counts must be non-negative"),
        (lambda: round_to_multiple(3, 0), "rounding multiple must be 1 or more"),
        (
            lambda: apply_disclosure_control(table([row("all", "all", 1, 10)]), threshold=-1),
            "threshold must be 0 or more",
        ),
        (
            lambda: apply_disclosure_control(table([row("all", "all", -1, 10)])),
            "counts must be non-negative",
        ),
        (
            lambda: apply_disclosure_control(table([row("all", "all", 1, 10)] * 2)),
            "one row per indicator",
        ),
        (
            lambda: apply_disclosure_control(table([row("all", "all", 1, 10)]).drop("breakdown")),
            "needs the columns breakdown",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_domain_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------------------------
# Properties over random count tables (derandomised under CI=true by tests/conftest.py)


@st.composite
def count_tables(draw) -> pl.DataFrame:
    """Several groups x categories, numerator <= denominator in 0-200, plus each group's
    `all` total row; some groups carry a median-like statistic with no numerator."""
    rows = []
    for g in range(draw(st.integers(1, 4))):
        counted = draw(st.booleans()) or g == 0
        cells = []
        for c in range(draw(st.integers(1, 5))):
            denominator = draw(st.integers(0, 200))
            numerator = draw(st.integers(0, denominator)) if counted else None
            cells.append((f"c{c}", numerator, denominator))
        code = f"P{g}"
        rows += [row("age_band", bv, x, n, geography_code=code) for bv, x, n in cells]
        total_x = sum(x for _, x, _ in cells) if counted else None
        total_n = sum(n for _, _, n in cells)
        rows.append(row("all", "all", total_x, total_n, geography_code=code))
    return table(rows)


PARAMETERS = [(SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE), (10, 10), (3, 1)]


@settings(max_examples=200)
@given(count_tables(), st.sampled_from(PARAMETERS))
def test_disclosure_properties(df, parameters):
    threshold, multiple = parameters
    out = apply_disclosure_control(df, threshold=threshold, multiple=multiple)
    assert out.columns == df.columns and out.height == df.height
    assert out.select(GROUP, "breakdown", "breakdown_value").equals(
        df.select(GROUP, "breakdown", "breakdown_value")
    )
    both = pl.concat(
        [df.select("numerator", "denominator"), out.rename(lambda c: f"out_{c}")],
        how="horizontal",
    )
    published = both.filter(~pl.col("out_suppressed"))
    hidden = both.filter(pl.col("out_suppressed"))
    for col in ("numerator", "denominator"):
        # No small true count is published; every published count is a multiple, rounded
        # from the true count.
        assert not published[col].is_between(1, threshold).any()
        assert (published[f"out_{col}"].drop_nulls() % multiple == 0).all()
        assert published[f"out_{col}"].to_list() == [
            round_to_multiple(x, multiple) for x in published[col].to_list()
        ]
        if (threshold, multiple) == (SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE):
            assert not published[f"out_{col}"].is_between(1, threshold).any()
    # Suppressed rows carry no counts, value or limits.
    for col in ["numerator", "denominator", "value", *LIMITS]:
        assert hidden[f"out_{col}"].null_count() == hidden.height
    assert (hidden["out_comparison"] == "not_compared").all()
    # No single hidden cell: within a group of 2+ categories, 0 or at least 2 are suppressed,
    # and exactly one more than rule 1 when rule 1 hid one.
    small = pl.col("numerator").is_between(1, threshold).fill_null(False) | pl.col(
        "denominator"
    ).is_between(1, threshold)
    per_group = (
        df.with_columns(small.alias("small"), out["suppressed"])
        .group_by([*GROUP, "breakdown"])
        .agg(pl.len().alias("categories"), pl.col("small").sum(), pl.col("suppressed").sum())
    )
    for g in per_group.iter_rows(named=True):
        expected = g["small"] + (1 if g["small"] == 1 and g["categories"] >= 2 else 0)
        assert g["suppressed"] == expected
        if g["categories"] >= 2:
            assert g["suppressed"] != 1
    # With the defaults the control is idempotent.
    if (threshold, multiple) == (SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE):
        assert apply_disclosure_control(out).equals(out)
