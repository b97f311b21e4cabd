"""Disclosure control v2 (indicators.md rules 1-6): boundaries, hand-worked tables, properties.

Expected figures are worked out here by hand or with the spec's formulas written out below
(Wilson, Byar's), never taken from transforms/statistics.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diewell.transforms.disclosure import (
    ROUNDING_MULTIPLE,
    SUPPRESSION_THRESHOLD,
    apply_disclosure_control,
    is_small,
    round_to_multiple,
    smallest_published_count,
)
from diewell.transforms.inequality import add_sii_rows
from diewell.warehouse.indicators.schema import dtypes

GROUP = ["indicator_id", "period_type", "period_end", "geography_level", "geography_code"]
LIMITS = ["lower_95", "upper_95", "lower_99_8", "upper_99_8"]
Z = {"95": NormalDist().inv_cdf(0.975), "99_8": NormalDist().inv_cdf(0.999)}
PLACE_OF_DEATH = {f"PD0{i}": "place_of_death" for i in range(1, 6)}
SCHEMA = dtypes(
    "indicator_id",
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
    "breakdown_value",
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_99_8",
    "upper_99_8",
    "unit",
    "statistic",
    "polarity",
    "comparator_value",
    "comparison",
    "trend",
    "suppressed",
    "run_id",
)


def wilson(x: float, n: float, level: str) -> tuple[float, float]:
    """Wilson score limits in percent, as the spec writes them."""
    z = Z[level]
    spread = z * math.sqrt(z * z + 4 * x * (1 - x / n))
    return (
        100 * (2 * x + z * z - spread) / (2 * (n + z * z)),
        100 * (2 * x + z * z + spread) / (2 * (n + z * z)),
    )


def byars(o: float, level: str) -> tuple[float, float]:
    """Byar's limits on an observed count o, as the spec writes them."""
    z = Z[level]
    lower = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3
    upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * math.sqrt(o + 1))) ** 3
    return lower, upper


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
        "statistic": "proportion",
        "polarity": "none",
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


def hidden_cells(out: pl.DataFrame) -> set[tuple[str, str]]:
    return {
        (r["indicator_id"], r["breakdown_value"])
        for r in out.filter(pl.col("suppressed")).iter_rows(named=True)
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
    ],
)
def test_rule_1_on_a_single_row(numerator, denominator, suppressed):
    out = apply_disclosure_control(table([row("all", "all", numerator, denominator)]))
    got = out.row(0, named=True)
    assert got["suppressed"] is suppressed
    if suppressed:
        assert got["numerator"] is None and got["denominator"] is None
        assert got["value"] is None and all(got[c] is None for c in LIMITS)
        assert got["trend"] is None
        assert got["comparison"] == "not_compared"
    else:
        assert got["numerator"] == round_to_multiple(numerator)
        assert got["denominator"] == round_to_multiple(denominator)


# --------------------------------------------------------------------------------------------
# Rule 2: every value and interval from the rounded counts


def test_a_proportion_is_restated_from_its_rounded_counts():
    # 12/23 is published as 10/25: 40% with the Wilson limits of 10/25, not of 12/23.
    got = apply_disclosure_control(table([row("all", "all", 12, 23)])).row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (10, 25)
    assert got["value"] == pytest.approx(40.0, abs=1e-12)
    for level in ("95", "99_8"):
        lower, upper = wilson(10, 25, level)
        assert got[f"lower_{level}"] == pytest.approx(lower, abs=1e-9)
        assert got[f"upper_{level}"] == pytest.approx(upper, abs=1e-9)
    # The 95% limits of 10/25 worked by hand: z^2 = 3.841459, sqrt(3.841459 + 24) = 5.276500.
    assert got["lower_95"] == pytest.approx(23.4033, abs=1e-3)
    assert got["upper_95"] == pytest.approx(59.2604, abs=1e-3)


def test_a_rate_per_100_uses_byars_limits_on_the_rounded_count():
    got = apply_disclosure_control(
        table([row("all", "all", 47, 312, statistic="rate_per_100", indicator_id="HU03")])
    ).row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (45, 310)
    assert got["value"] == pytest.approx(100 * 45 / 310, abs=1e-12)
    for level in ("95", "99_8"):
        lower, upper = byars(45, level)
        assert got[f"lower_{level}"] == pytest.approx(100 * lower / 310, abs=1e-9)
        assert got[f"upper_{level}"] == pytest.approx(100 * upper / 310, abs=1e-9)


def test_a_rate_of_8_events_is_published_as_10_with_byars_limits():
    # 8 events would take exact limits, but the published count is 10: Byar's, from 10.
    got = apply_disclosure_control(
        table([row("all", "all", 8, 200, statistic="rate_per_100", indicator_id="HU05")])
    ).row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (10, 200)
    lower, upper = byars(10, "95")
    assert got["lower_95"] == pytest.approx(100 * lower / 200, abs=1e-9)
    assert got["upper_95"] == pytest.approx(100 * upper / 200, abs=1e-9)


def test_a_mean_is_the_rounded_sum_over_the_rounded_denominator():
    got = apply_disclosure_control(
        table([row("all", "all", 1234, 57, statistic="mean", indicator_id="HU04")])
    ).row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (1235, 55)
    assert got["value"] == pytest.approx(1235 / 55, abs=1e-12)  # 22.4545..., not 21.6491


@pytest.mark.parametrize(
    "denominator, median, published",
    [(9, 12.5, None), (10, 12.5, 13.0), (10, 12.4, 12.0), (23, 40.5, 41.0), (40, 0.0, 0.0)],
)
def test_a_median_is_published_to_whole_days_from_10_people(denominator, median, published):
    df = table(
        [
            row(
                "all",
                "all",
                None,
                denominator,
                statistic="median",
                indicator_id="ID03",
                value=median,
                **dict.fromkeys(LIMITS),
            )
        ]
    )
    got = apply_disclosure_control(df).row(0, named=True)
    assert got["value"] == published
    # 8-9 people: the whole row goes, or its rounded count (10) with no value would tell
    # that fewer than 10 were counted.
    assert got["suppressed"] is (published is None)
    assert got["denominator"] == (None if published is None else round_to_multiple(denominator))


def test_a_dsr_is_published_to_one_decimal_with_limits_from_the_rounded_total():
    exact = dict(
        value=926.8437, lower_95=870.0, upper_95=980.0, lower_99_8=850.0, upper_99_8=1000.0
    )
    df = table(
        [row("all", "all", 123, 13_272, statistic="dsr", indicator_id="MR01", unit="per", **exact)]
    )
    got = apply_disclosure_control(df).row(0, named=True)
    assert (got["numerator"], got["denominator"]) == (125, 13_270)
    assert got["value"] == pytest.approx(926.8, abs=1e-9)
    for level in ("95", "99_8"):
        lower, upper = byars(125, level)
        assert got[f"lower_{level}"] == pytest.approx(926.8 * lower / 125, abs=1e-9)
        assert got[f"upper_{level}"] == pytest.approx(926.8 * upper / 125, abs=1e-9)


def test_a_dsr_of_fewer_than_10_deaths_is_suppressed():
    df = table([row("all", "all", 9, 5000, statistic="dsr", indicator_id="MR01", value=None)])
    assert apply_disclosure_control(df)["suppressed"].to_list() == [True]


# --------------------------------------------------------------------------------------------
# Rule 3: complementary suppression in every partition


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
    df = table([row("sex", "male", 5, 30), row("sex", "not_known", 0, 0), row("all", "all", 5, 30)])
    assert apply_disclosure_control(df)["suppressed"].to_list() == [True, True, True]


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


def place_of_death(breakdown, value, numerators, **at):
    denominator = sum(numerators)
    return [
        row(breakdown, value, x, denominator, indicator_id=f"PD0{i}", **at)
        for i, x in enumerate(numerators, start=1)
    ]


def test_the_place_of_death_set_hides_a_second_place_when_one_is_small():
    # Home 3 of 100 is small. The five places share the denominator 100, so home would be
    # 100 - 20 - 40 - 12 - 25 = 3: the next smallest non-empty place (hospice, 12) goes too.
    df = table(place_of_death("all", "all", [3, 20, 40, 12, 25]))
    out = apply_disclosure_control(df, shared_denominators=PLACE_OF_DEATH)
    assert hidden_cells(out) == {("PD01", "all"), ("PD04", "all")}
    # Without the set the hospice row would have stayed: rule 3 alone does not see it.
    assert hidden_cells(apply_disclosure_control(df)) == {("PD01", "all")}


def test_an_empty_place_is_not_the_complement_in_the_place_of_death_set():
    df = table(place_of_death("all", "all", [5, 0, 40, 30, 25]))
    out = apply_disclosure_control(df, shared_denominators=PLACE_OF_DEATH)
    assert hidden_cells(out) == {("PD01", "all"), ("PD05", "all")}


def test_complements_are_repeated_across_partitions_until_none_has_one_hidden_cell():
    # Worked by hand, one pass = breakdowns, then the place-of-death sets:
    #   start: PD01@85+ (3) is small.
    #   pass 1, breakdowns: PD01's age partition has one hidden -> PD01@75-84.
    #           sets: 85+ has one hidden (PD01) -> its smallest, PD05@85+ (9);
    #                 75-84 has one hidden (PD01) -> its smallest, PD04@75-84 (10).
    #   pass 2, breakdowns: PD05's partition has one hidden -> PD05@75-84;
    #                       PD04's partition has one hidden -> PD04@85+.
    #           sets: 85+ hides PD01, PD04, PD05; 75-84 hides PD01, PD04, PD05: done.
    df = table(
        place_of_death("age_band", "75-84", [25, 20, 15, 10, 30])
        + place_of_death("age_band", "85+", [3, 10, 20, 15, 9])
        + place_of_death("all", "all", [28, 30, 35, 25, 39])
    )
    out = apply_disclosure_control(df, shared_denominators=PLACE_OF_DEATH)
    assert hidden_cells(out) == {
        (i, band) for i in ("PD01", "PD04", "PD05") for band in ("75-84", "85+")
    }


def test_already_suppressed_rows_stay_suppressed_and_count_for_rule_3():
    df = table(
        [
            row("sex", "male", 50, 100, suppressed=True),
            row("sex", "female", 40, 120),
            row("sex", "unknown", 30, 150),
        ]
    )
    assert apply_disclosure_control(df)["suppressed"].to_list() == [True, True, False]


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
    assert out["unknown"]["value"] == pytest.approx(100 * 20 / 300)
    defaults = apply_disclosure_control(df)
    assert not defaults["suppressed"].any()
    assert defaults["numerator"].to_list() == [10, 10, 15]


def test_a_count_just_over_the_threshold_may_round_back_to_it():
    out = apply_disclosure_control(table([row("all", "all", 11, 300)]), threshold=10, multiple=10)
    assert out.row(0, named=True)["numerator"] == 10


@pytest.mark.parametrize(
    "threshold, multiple, smallest",
    [(7, 5, 10), (10, 10, 10), (12, 10, 10), (7, 1, 8), (3, 1, 4), (0, 5, 0)],
)
def test_smallest_published_count(threshold, multiple, smallest):
    assert smallest_published_count(threshold, multiple) == smallest


def test_keeps_columns_order_rows_and_passes_other_columns_through():
    df = table([row("sex", "male", 5, 100), row("sex", "female", 40, 120)]).drop("suppressed")
    out = apply_disclosure_control(df)
    assert out.columns == [*df.columns, "suppressed"]
    assert out["run_id"].to_list() == ["run-1", "run-1"]
    assert out["unit"].to_list() == ["%", "%"]
    assert out.schema["numerator"] == pl.Int64


# --------------------------------------------------------------------------------------------
# Rule 4: comparison, trend and SII from published figures only


def test_the_comparison_uses_the_published_ics_value_and_the_published_interval():
    ics = dict(geography_level="ics", geography_code="Q1")
    df = table([row("all", "all", 301, 1003, **ics), row("all", "all", 12, 23)])
    out = apply_disclosure_control(df)
    place = out.filter(pl.col("geography_level") == "place").row(0, named=True)
    published_ics = 100 * 300 / 1005  # 29.85..., not the exact 30.01
    assert place["comparator_value"] == pytest.approx(published_ics, abs=1e-12)
    assert place["comparison"] == "similar"  # 29.85 lies in 10/25's [23.40, 59.26]
    assert out.row(0, named=True)["comparison"] == "not_compared"  # the ICS itself


def test_the_ics_value_is_not_quoted_where_the_ics_row_is_suppressed():
    ics = dict(geography_level="ics", geography_code="Q1")
    df = table(
        [
            row("sex", "male", 5, 40, **ics),  # small: suppressed
            row("sex", "female", 30, 60, **ics),
            row("sex", "not_known", 20, 30, **ics),  # its complement (smallest denominator)
            row("sex", "male", 20, 40),
            row("sex", "female", 20, 50),
            row("sex", "not_known", 12, 30),
        ]
    )
    place = by_category(
        apply_disclosure_control(df).filter(pl.col("geography_level") == "place"), "sex"
    )
    for hidden in ("male", "not_known"):
        assert (place[hidden]["comparator_value"], place[hidden]["comparison"]) == (
            None,
            "not_compared",
        )
    # female: ICS 30/60 = 50%, place 20/50 = 40% with 95% limits [27.6, 53.8]: similar.
    assert place["female"]["comparator_value"] == pytest.approx(50.0)
    assert place["female"]["comparison"] == "similar"
    assert not any(r["suppressed"] for r in place.values())


def test_rows_without_the_ics_quote_the_published_ics_rows_they_are_given():
    """A chunk of geographies controlled apart from the ICS (control.control_in_parts):
    its comparison quotes the ICS rows as the first chunk published them."""
    ics = dict(geography_level="ics", geography_code="Q1")
    published_ics = apply_disclosure_control(
        table(
            [
                row("all", "all", 301, 1003, **ics),
                row("sex", "male", 5, 40, **ics),  # small: suppressed
                row("sex", "female", 30, 60, **ics),
                row("sex", "not_known", 20, 30, **ics),  # its complement
            ]
        )
    )
    places = table(
        [
            row("all", "all", 12, 23),
            row("sex", "male", 20, 40),
            row("sex", "female", 20, 50),
            row("sex", "not_known", 12, 30),
        ]
    )
    out = apply_disclosure_control(places, comparators=published_ics)
    assert out.height == 4  # the ICS rows are not added
    place = by_category(out, "sex") | by_category(out, "all")
    assert place["all"]["comparator_value"] == pytest.approx(100 * 300 / 1005, abs=1e-12)
    assert place["all"]["comparison"] == "similar"  # 29.85 lies in 10/25's [23.40, 59.26]
    assert place["female"]["comparator_value"] == pytest.approx(50.0)  # 30/60
    for hidden in ("male", "not_known"):
        assert (place[hidden]["comparator_value"], place[hidden]["comparison"]) == (
            None,
            "not_compared",
        )
    # without polarity: the comparator value is kept where the ICS row is shown
    bare = apply_disclosure_control(places.drop("polarity", "trend"), comparators=published_ics)
    place = by_category(bare, "sex")
    assert place["female"]["comparator_value"] == 30.0  # the row's own, the ICS row shown
    assert place["male"]["comparator_value"] is None  # the ICS row is hidden
    assert place["male"]["comparison"] == "not_compared"
    with pytest.raises(ValueError, match="ICS rows"):
        apply_disclosure_control(table([row("all", "all", 301, 1003, **ics)]), comparators=out)


def series(counts, polarity="none"):
    quarter_ends = [dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 9, 30)]
    quarter_ends += [dt.date(2023, 12, 31), dt.date(2024, 3, 31), dt.date(2024, 6, 30)]
    return table(
        [
            row("all", "all", x, n, period_end=end, polarity=polarity, trend=None)
            for end, (x, n) in zip(quarter_ends, counts, strict=False)
        ]
    )


def test_a_steep_rise_in_the_published_counts_is_a_trend():
    out = apply_disclosure_control(series([(100, 1000), (200, 1000), (300, 1000)] * 2))
    # 10% -> 20% -> 30% -> 10% -> ... is no trend; a steady rise is:
    rise = apply_disclosure_control(
        series([(100, 1000), (200, 1000), (300, 1000), (400, 1000), (500, 1000)])
    )
    assert rise["trend"].to_list() == ["could_not_be_calculated"] * 4 + ["increasing"]
    assert out["trend"].to_list()[-1] == "no_significant_change"


def test_a_suppressed_period_leaves_no_trend_through_it():
    counts = [(100, 1000), (200, 1000), (5, 1000), (400, 1000), (500, 1000), (600, 1000)]
    out = apply_disclosure_control(series(counts))
    assert out["suppressed"].to_list() == [False, False, True, False, False, False]
    assert out["trend"].to_list() == [
        "could_not_be_calculated",
        "could_not_be_calculated",
        None,
        "could_not_be_calculated",
        "could_not_be_calculated",  # its five points hold the suppressed period
        "could_not_be_calculated",
    ]


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
            statistic="sii",
            value=-17.0,
            lower_95=-25.0,
            upper_95=-9.0,
            lower_99_8=-30.0,
            upper_99_8=-4.0,
            comparison="not_compared",
        )
    )
    return rows


GRADIENT = {"1": (32, 100), "2": (28, 100), "3": (30, 100), "4": (22, 100), "5": (18, 100)}


def test_the_sii_is_computed_from_the_published_quintiles():
    # Published: 30, 30, 30, 20, 20 of 100 each. Equal populations: a = 0.2, relative ranks
    # b = 0.1 ... 0.9, mean rank 0.5, sum a (b - 0.5)^2 = 0.08, and
    # sum a (b - 0.5) y = 0.2 (-0.4 * .3 - 0.2 * .3 + 0 + 0.2 * .2 + 0.4 * .2) = -0.012,
    # so the SII is -0.012 / 0.08 = -0.15, -15.0 percentage points (the exact counts: -17).
    out = apply_disclosure_control(table(quintile_rows(GRADIENT)))
    sii = by_category(out, "imd_sii")["sii"]
    assert not sii["suppressed"]
    assert sii["value"] == pytest.approx(-15.0, abs=1e-9)
    assert sii["lower_95"] < -15.0 < sii["upper_95"]
    assert sii["numerator"] is None and sii["denominator"] is None
    assert sii["comparison"] == "not_compared" and sii["comparator_value"] is None


def test_a_small_quintile_suppresses_the_sii_of_its_area_only():
    here = quintile_rows({**GRADIENT, "3": (4, 100)})
    there = quintile_rows(GRADIENT, geography_code="P2")
    out = apply_disclosure_control(table(here + there))
    sii = {r["geography_code"]: r for r in out.filter(pl.col("breakdown") == "imd_sii").to_dicts()}
    assert sii["P1"]["suppressed"] and sii["P1"]["value"] is None
    assert all(sii["P1"][c] is None for c in LIMITS)
    assert not sii["P2"]["suppressed"] and sii["P2"]["value"] == pytest.approx(-15.0)


def test_only_the_areas_with_an_sii_row_have_their_sii_simulated(monkeypatch):
    """An SII costs 100,000 simulated draws: rule 4 derives it for the areas whose SII row is
    published (compute makes them at ICS level), not for every area with quintile rows, whose
    results nothing kept (at benchmark size S some 1,450 SIIs for 264 rows: 11.6 s of the
    15.5 s of disclosure control)."""
    from diewell.transforms import disclosure

    seen = []

    def recording(frame, **kwargs):
        seen.append(sorted(set(frame["geography_code"].to_list())))
        return add_sii_rows(frame, **kwargs)

    monkeypatch.setattr(disclosure, "add_sii_rows", recording)
    with_sii = quintile_rows(GRADIENT, geography_code="P1")
    without = [
        r for r in quintile_rows(GRADIENT, geography_code="P2") if r["breakdown"] != "imd_sii"
    ]
    out = apply_disclosure_control(table(with_sii + without))
    assert seen == [["P1"]]
    sii = out.filter(pl.col("breakdown") == "imd_sii")
    assert sii["geography_code"].to_list() == ["P1"]
    assert sii["value"].to_list() == [pytest.approx(-15.0, abs=1e-9)]  # as worked above


def test_a_quintile_hidden_as_a_complement_suppresses_the_sii_too():
    # `unknown` (3/40) is small; its complement is quintile 1 (denominator 50, the smallest
    # left). Quintile 1 has no published value, so no SII can be derived from the release.
    counts = {**GRADIENT, "1": (20, 50), "unknown": (3, 40)}
    out = apply_disclosure_control(table(quintile_rows(counts)))
    quintiles = by_category(out, "imd_quintile")
    assert [q for q, r in quintiles.items() if r["suppressed"]] == ["1", "unknown"]
    assert by_category(out, "imd_sii")["sii"]["suppressed"]


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

COUNTS = st.one_of(st.just(0), st.integers(1, 12), st.integers(0, 300))
AGE_BANDS = ["0-17", "18-64", "65-74", "75-84", "85+"]


@st.composite
def place_of_death_tables(draw) -> pl.DataFrame:
    """An ICS and up to three places; for each, the five places of death by age band, with
    each age band's deaths and the `all` rows summing them: the partitions of a release."""
    rows = []
    for g in range(draw(st.integers(1, 4))):
        at = {"geography_level": "ics" if g == 0 else "place", "geography_code": f"A{g}"}
        bands = AGE_BANDS[: draw(st.integers(1, len(AGE_BANDS)))]
        cells = {band: [draw(COUNTS) for _ in range(5)] for band in bands}
        for band, numerators in cells.items():
            rows += place_of_death("age_band", band, numerators, **at)
        totals = [sum(cells[b][i] for b in bands) for i in range(5)]
        rows += place_of_death("all", "all", totals, **at)
    return table(rows)


PARAMETERS = [(SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE), (10, 10), (3, 1)]


@settings(max_examples=150, deadline=None)
@given(place_of_death_tables(), st.sampled_from(PARAMETERS))
def test_disclosure_properties(df, parameters):
    threshold, multiple = parameters
    out = apply_disclosure_control(
        df, threshold=threshold, multiple=multiple, shared_denominators=PLACE_OF_DEATH
    )
    assert out.columns == df.columns and out.height == df.height
    keys = [*GROUP, "breakdown", "breakdown_value"]
    assert out.select(keys).equals(df.select(keys))
    exact = df.select(pl.col("numerator").alias("x"), pl.col("denominator").alias("n"))
    both = pl.concat([exact, out], how="horizontal")
    shown = both.filter(~pl.col("suppressed"))
    hidden = both.filter(pl.col("suppressed"))

    # Every published count is 0 or above the threshold's smallest published count, a
    # multiple of the base, and the true count rounded; no true count of 1-threshold shows.
    smallest = smallest_published_count(threshold, multiple)
    for col, true in (("numerator", "x"), ("denominator", "n")):
        assert not shown[true].is_between(1, threshold).any()
        assert (shown[col] % multiple == 0).all()
        assert not shown[col].is_between(1, smallest - 1).any()
        assert shown[col].to_list() == [round_to_multiple(v, multiple) for v in shown[true]]
    if (threshold, multiple) == (SUPPRESSION_THRESHOLD, ROUNDING_MULTIPLE):
        assert ((shown["numerator"] == 0) | (shown["numerator"] >= 8)).all()
        assert ((shown["denominator"] == 0) | (shown["denominator"] >= 8)).all()
    for col in ["numerator", "denominator", "value", *LIMITS, "trend"]:
        assert hidden[col].null_count() == hidden.height
    assert (hidden["comparison"] == "not_compared").all()

    # No partition has exactly one suppressed cell: the age bands of one place of death,
    # and the five places of death of one age band (or of the whole cohort).
    for partition in (
        [*GROUP, "breakdown"],
        ["period_type", "period_end", "geography_level", "geography_code", "breakdown_value"],
    ):
        cells = out.filter(pl.col("breakdown") != "all") if "breakdown" in partition else out
        counts = cells.group_by(partition).agg(pl.col("suppressed").sum(), pl.len())
        assert counts.filter((pl.col("suppressed") == 1) & (pl.col("len") >= 2)).height == 0

    # Inverting any published value gives back the published counts: the value is
    # numerator / denominator and the limits are the Wilson limits of those same counts.
    for r in shown.filter(pl.col("denominator") > 0).iter_rows(named=True):
        assert r["value"] == pytest.approx(100 * r["numerator"] / r["denominator"], abs=1e-9)
        for level in ("95", "99_8"):
            lower, upper = wilson(r["numerator"], r["denominator"], level)
            assert r[f"lower_{level}"] == pytest.approx(max(lower, 0.0), abs=1e-9)
            assert r[f"upper_{level}"] == pytest.approx(min(upper, 100.0), abs=1e-9)


# --------------------------------------------------------------------------------------------
# Counts that are not of people (indicators.md v2: ED01, ED02): rules 1 and 3 do not apply,
# rule 2 does.


def attendances(breakdown, breakdown_value, attendees):
    """An ED01 row: a count statistic, its value the count, no denominator, no interval."""
    return row(
        breakdown,
        breakdown_value,
        attendees,
        None,
        indicator_id="ED01",
        value=float(attendees),
        lower_95=None,
        upper_95=None,
        lower_99_8=None,
        upper_99_8=None,
        statistic="count",
        unit="attendances",
        polarity="higher_is_better",
        comparator_value=None,
        comparison="not_compared",
        trend=None,
    )


def test_a_count_not_of_people_is_published_rounded_even_in_1_to_7():
    # Prisons 3 attendees, care homes 6, acute 41; all 50. Of people, 3 and 6 would be hidden
    # and (rule 3) nothing else; not of people every cell is published, rounded to 5:
    # 3 -> 5, 6 -> 5, 41 -> 40, 50 -> 50; each value is its rounded count.
    df = table(
        [
            attendances("audience_sector", "prison", 3),
            attendances("audience_sector", "care_home", 6),
            attendances("audience_sector", "acute", 41),
            attendances("all", "all", 50),
        ]
    )
    out = apply_disclosure_control(df, not_people={"ED01"})
    assert out["suppressed"].to_list() == [False] * 4
    assert out["numerator"].to_list() == [5, 5, 40, 50]
    assert out["value"].to_list() == [5.0, 5.0, 40.0, 50.0]
    assert out["denominator"].to_list() == [None] * 4
    assert out.select(LIMITS).null_count().row(0) == (4, 4, 4, 4)
    # Without the exception the same rows are counts of people: 3 and 6 are hidden.
    people = apply_disclosure_control(df)
    assert people["suppressed"].to_list() == [True, True, False, False]


def test_a_count_of_1_or_2_not_of_people_rounds_to_0():
    out = apply_disclosure_control(table([attendances("all", "all", 2)]), not_people={"ED01"}).row(
        0, named=True
    )
    assert (out["suppressed"], out["numerator"], out["value"]) == (False, 0, 0.0)


def test_a_proportion_not_of_people_is_restated_from_its_rounded_counts():
    # ED02 care homes reached: 3 of 41. Rounded: 5 of 40, so the value is 12.5% and the
    # Wilson limits are those of 5 / 40; not suppressed although 3 is in 1-7.
    df = table([row("all", "all", 3, 41, indicator_id="ED02")])
    got = apply_disclosure_control(df, not_people={"ED02"}).row(0, named=True)
    assert (got["suppressed"], got["numerator"], got["denominator"]) == (False, 5, 40)
    assert got["value"] == pytest.approx(12.5)
    lower, upper = wilson(5, 40, "95")
    assert (got["lower_95"], got["upper_95"]) == (pytest.approx(lower), pytest.approx(upper))


def test_an_exempt_indicator_is_never_a_complement_and_others_keep_their_rules():
    # ED02 place P1 denominator 6 beside P1 PD01 sex cells: the PD01 male cell (4 of 50) is
    # hidden and its complement is the other PD01 cell (female 30 of 60), never an ED02 row.
    df = table(
        [
            row("sex", "male", 4, 50),
            row("sex", "female", 30, 60),
            row("all", "all", 2, 6, indicator_id="ED02"),
        ]
    )
    out = apply_disclosure_control(df, not_people={"ED02"})
    assert out["suppressed"].to_list() == [True, True, False]
    assert out.row(2, named=True)["numerator"] == 0 and out.row(2, named=True)["denominator"] == 5
