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
    smallest_published_count,
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
    "trend": pl.String,
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
        "trend": None if value is None else "increasing",
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
        assert got["trend"] is None  # worked out from the value: hidden with it
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
    "threshold, multiple, smallest",
    [(7, 5, 10), (10, 10, 10), (12, 10, 10), (7, 1, 8), (3, 1, 4), (0, 5, 0)],
)
def test_smallest_published_count(threshold, multiple, smallest):
    # threshold + 1 rounded: 8 -> 10, 11 -> 10, 13 -> 10, 8, 4, and 1 -> 0.
    assert smallest_published_count(threshold, multiple) == smallest


def test_an_empty_category_is_not_taken_as_the_complement():
    # not_known (0/0) is the smallest, but hiding it beside male would hide nothing: anyone
    # would read it as 0 and get male = all - female. female is hidden instead.
    df = table(
        [
            row("sex", "male", 5, 100),
            row("sex", "female", 40, 120),
            row("sex", "not_known", 0, 0),
            row("all", "all", 45, 220),
        ]
    )
    sex = by_category(apply_disclosure_control(df), "sex")
    assert [b for b, r in sex.items() if r["suppressed"]] == ["male", "female"]
    assert (sex["not_known"]["numerator"], sex["not_known"]["denominator"]) == (0, 0)


def test_when_every_other_category_is_empty_the_total_is_small_too():
    df = table(
        [
            row("sex", "male", 5, 30),
            row("sex", "not_known", 0, 0),
            row("all", "all", 5, 30),
        ]
    )
    assert apply_disclosure_control(df)["suppressed"].to_list() == [True, True, True]


def quintile_rows(counts: dict[str, tuple[int, int]], geography_code="P1"):
    rows = [
        row("imd_quintile", q, x, n, geography_code=geography_code) for q, (x, n) in counts.items()
    ]
    rows.append(
        row(
            "imd_sii",
            "sii",
            None,
            None,
            geography_code=geography_code,
            value=-6.5,
            lower_95=-9.0,
            upper_95=-4.0,
            lower_99_8=-10.5,
            upper_99_8=-2.5,
            comparison="not_compared",
        )
    )
    return rows


FIVE = {q: (30, 100) for q in "12345"}


def test_the_sii_is_published_when_no_quintile_is_small():
    out = apply_disclosure_control(table(quintile_rows(FIVE)))
    sii = by_category(out, "imd_sii")["sii"]
    assert not sii["suppressed"]
    assert (sii["value"], sii["lower_95"], sii["upper_99_8"]) == (-6.5, -9.0, -2.5)
    assert sii["numerator"] is None and sii["denominator"] is None


def test_a_small_quintile_suppresses_the_sii_of_its_area_only():
    here = quintile_rows({**FIVE, "3": (4, 100)})
    there = quintile_rows(FIVE, geography_code="P2")
    out = apply_disclosure_control(table(here + there))
    sii = {r["geography_code"]: r for r in out.filter(pl.col("breakdown") == "imd_sii").to_dicts()}
    assert sii["P1"]["suppressed"] and sii["P1"]["value"] is None
    assert all(sii["P1"][c] is None for c in LIMITS)
    assert not sii["P2"]["suppressed"] and sii["P2"]["value"] == -6.5


def test_a_quintile_hidden_only_as_a_complement_leaves_the_sii_published():
    # `unknown` (3/40) is small; its complement is quintile 1 (denominator 50, the smallest
    # left). No quintile is small itself, so the SII stays.
    counts = {**FIVE, "1": (20, 50), "unknown": (3, 40)}
    out = apply_disclosure_control(table(quintile_rows(counts)))
    quintiles = by_category(out, "imd_quintile")
    assert [q for q, r in quintiles.items() if r["suppressed"]] == ["1", "unknown"]
    assert not by_category(out, "imd_sii")["sii"]["suppressed"]


def test_a_small_unknown_quintile_alone_does_not_suppress_the_sii():
    counts = {**FIVE, "unknown": (3, 400)}  # complement: a quintile with denominator 100
    out = apply_disclosure_control(table(quintile_rows(counts)))
    assert not by_category(out, "imd_sii")["sii"]["suppressed"]


def test_the_ics_value_is_not_quoted_where_the_ics_row_is_suppressed():
    ics = dict(geography_level="ics", geography_code="Q1")
    df = table(
        [
            row("sex", "male", 5, 40, **ics),  # small: suppressed
            row("sex", "female", 30, 60, **ics),
            row("sex", "not_known", 20, 30, **ics),  # its complement (smallest denominator)
            row("sex", "male", 20, 40, comparator_value=12.5, comparison="higher"),
            row("sex", "female", 20, 50, comparator_value=50.0, comparison="similar"),
            row("sex", "not_known", 12, 30, comparator_value=66.7, comparison="lower"),
        ]
    )
    out = apply_disclosure_control(df)
    place = by_category(out.filter(pl.col("geography_level") == "place"), "sex")
    assert (place["male"]["comparator_value"], place["male"]["comparison"]) == (
        None,
        "not_compared",
    )
    assert (place["not_known"]["comparator_value"], place["not_known"]["comparison"]) == (
        None,
        "not_compared",
    )
    assert (place["female"]["comparator_value"], place["female"]["comparison"]) == (50.0, "similar")
    # The place rows themselves are published, with their own value.
    assert not any(r["suppressed"] for r in place.values())
    assert place["male"]["value"] == 50.0


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

QUINTILE_VALUES = ["1", "2", "3", "4", "5", "unknown"]
COUNTS = st.one_of(st.just(0), st.integers(1, 12), st.integers(0, 200))


@st.composite
def count_tables(draw) -> pl.DataFrame:
    """An ICS and up to three places; for each, an age breakdown of PD01 and an IMD quintile
    breakdown of PD02 with its SII row, each with its `all` total row. Numerator <= denominator,
    with empty (0/0) and small categories common; some areas carry a median-like statistic
    with no numerator."""
    rows = []
    for g in range(draw(st.integers(1, 4))):
        place = {"geography_level": "ics" if g == 0 else "place", "geography_code": f"A{g}"}
        counted = draw(st.booleans()) or g == 0
        age_bands = [f"c{c}" for c in range(draw(st.integers(1, 5)))]
        quintiles = draw(st.lists(st.sampled_from(QUINTILE_VALUES), min_size=1, unique=True))
        for indicator, breakdown, categories in (
            ("PD01", "age_band", age_bands),
            ("PD02", "imd_quintile", quintiles),
        ):
            cells = []
            for category in categories:
                denominator = draw(COUNTS)
                numerator = draw(st.integers(0, denominator)) if counted else None
                cells.append((category, numerator, denominator))
            at = {**place, "indicator_id": indicator}
            rows += [row(breakdown, c, x, n, **at) for c, x, n in cells]
            total_x = sum(x for _, x, _ in cells) if counted else None
            rows.append(row("all", "all", total_x, sum(n for _, _, n in cells), **at))
        sii = dict(value=-2.0, lower_95=-4.0, upper_95=0.0, lower_99_8=-5.0, upper_99_8=1.0)
        rows.append(row("imd_sii", "sii", None, None, indicator_id="PD02", **place, **sii))
    return table(rows)


PARAMETERS = [(SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE), (10, 10), (3, 1)]
AREA = [*GROUP]  # indicator, period, geography
WITHHELD = ["numerator", "denominator", "value", *LIMITS, "trend"]


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
        assert (
            not published[f"out_{col}"]
            .is_between(1, smallest_published_count(threshold, multiple) - 1)
            .any()
        )
        if (threshold, multiple) == (SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE):
            assert not published[f"out_{col}"].is_between(1, threshold).any()
    # Suppressed rows carry no counts, value, limits or trend.
    for col in WITHHELD:
        assert hidden[f"out_{col}"].null_count() == hidden.height
    assert (hidden["out_comparison"] == "not_compared").all()

    small = pl.col("numerator").is_between(1, threshold).fill_null(False) | pl.col(
        "denominator"
    ).is_between(1, threshold).fill_null(False)
    marked = df.with_columns(small.alias("small"), out["suppressed"])

    # Rule 3: within a group of 2+ categories, 0 or at least 2 are suppressed, and exactly
    # one more than rule 1 when rule 1 hid one.
    categories = marked.filter(~pl.col("breakdown").is_in(["all", "imd_sii"]))
    per_group = categories.group_by([*GROUP, "breakdown"]).agg(
        pl.len().alias("categories"),
        pl.col("small").sum(),
        pl.col("suppressed").sum(),
        (pl.col("suppressed") & (pl.col("denominator") > 0)).sum().alias("hidden_non_empty"),
    )
    totals = marked.filter(pl.col("breakdown") == "all").select(
        *AREA, pl.col("suppressed").alias("total_hidden")
    )
    for g in per_group.join(totals, on=AREA).iter_rows(named=True):
        expected = g["small"] + (1 if g["small"] == 1 and g["categories"] >= 2 else 0)
        assert g["suppressed"] == expected
        if g["categories"] >= 2:
            assert g["suppressed"] != 1
        # Nothing recoverable by subtracting the published categories from the published
        # total: the hidden ones are none, or at least two with something in them.
        if not g["total_hidden"] and g["suppressed"]:
            assert g["hidden_non_empty"] >= 2

    # The SII row is suppressed exactly when one of quintiles 1-5 was small.
    small_quintile = (
        marked.filter(
            (pl.col("breakdown") == "imd_quintile")
            & pl.col("breakdown_value").is_in(["1", "2", "3", "4", "5"])
        )
        .group_by(AREA)
        .agg(pl.col("small").any().alias("any_small"))
    )
    sii = marked.filter(pl.col("breakdown") == "imd_sii").join(small_quintile, on=AREA)
    assert sii["suppressed"].to_list() == sii["any_small"].to_list()

    # No row quotes the value of a suppressed ICS row as its comparator.
    keys = ["indicator_id", "period_type", "period_end", "breakdown", "breakdown_value"]
    ics_hidden = out.filter(pl.col("geography_level") == "ics").select(
        *keys, pl.col("suppressed").alias("ics_hidden")
    )
    quoted = out.join(ics_hidden, on=keys)
    assert quoted.filter(pl.col("ics_hidden"))["comparator_value"].null_count() == (
        quoted["ics_hidden"].sum()
    )
    assert (quoted.filter(~pl.col("ics_hidden"))["comparator_value"] == 30.0).all()

    # With the defaults the control is idempotent (an SII row aside: a second pass cannot tell
    # a quintile hidden as a complement from one hidden by rule 1).
    if (threshold, multiple) == (SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE):
        not_sii = pl.col("breakdown") != "imd_sii"
        assert apply_disclosure_control(out).filter(not_sii).equals(out.filter(not_sii))
