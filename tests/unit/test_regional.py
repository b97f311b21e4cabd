"""A region from its ICSs' published rows (transforms/regional.py), then disclosure control.

Every expected figure is worked by hand here: sums of the published counts, and the Wilson
limits of 75/170 from the formula (36.8655% to 51.6298%, as Wilson's score interval gives).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from diewell.transforms.disclosure import apply_disclosure_control
from diewell.transforms.regional import REGION_LEVEL, combine_ics_releases
from diewell.warehouse.indicators.schema import OUTPUT_DTYPES

END = dt.date(2024, 12, 31)
START = dt.date(2024, 1, 1)
SCHEMA = OUTPUT_DTYPES
STATISTIC_UNITS = {"proportion": "%", "mean": "days per decedent", "count": "attendances"}


def row(ics, numerator, denominator, *, indicator="PD01", statistic="proportion", **extra):
    """One published ICS-level row (counts as published: rounded, or None when suppressed)."""
    suppressed = extra.pop("suppressed", numerator is None and statistic not in ("median",))
    base = {
        "indicator_id": indicator,
        "indicator_name": f"name of {indicator}",
        "period_type": "rolling_12m",
        "period_start": START,
        "period_end": END,
        "geography_level": "ics",
        "geography_code": ics,
        "geography_name": f"ICS {ics}",
        "breakdown": "all",
        "breakdown_value": "all",
        "numerator": numerator,
        "denominator": denominator,
        "value": None,
        "lower_95": None,
        "upper_95": None,
        "lower_99_8": None,
        "upper_99_8": None,
        "unit": STATISTIC_UNITS.get(statistic, "days"),
        "statistic": statistic,
        "polarity": "none",
        "comparator_value": None,
        "comparison": "not_compared",
        "trend": None,
        "suppressed": suppressed,
        "data_complete": True,
        "run_id": f"r-{ics}",
        "schema_version": "2.2.0",
    }
    return {**base, **extra}


def release(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA)


def combine(*releases: pl.DataFrame) -> pl.DataFrame:
    return combine_ics_releases(releases, region_code="Y60", region_name="Test region")


def controlled(df: pl.DataFrame, threshold: int = 7) -> pl.DataFrame:
    return apply_disclosure_control(df, threshold=threshold, multiple=5, not_people=["ED01"])


def only(df: pl.DataFrame, **where) -> dict:
    [found] = df.filter(*(pl.col(k) == v for k, v in where.items())).to_dicts()
    return found


def test_a_proportion_is_the_sum_of_the_published_counts_with_its_own_interval():
    region = controlled(
        combine(
            release(row("QAA", 40, 100)), release(row("QBB", 25, 50)), release(row("QCC", 10, 20))
        )
    )
    [r] = region.to_dicts()
    assert (r["geography_level"], r["geography_code"], r["geography_name"]) == (
        REGION_LEVEL,
        "Y60",
        "Test region",
    )
    assert (r["numerator"], r["denominator"], r["suppressed"]) == (75, 170, False)
    assert r["value"] == pytest.approx(100 * 75 / 170)  # 44.1176%
    assert r["lower_95"] == pytest.approx(36.865493, abs=1e-6)
    assert r["upper_95"] == pytest.approx(51.629772, abs=1e-6)
    assert r["comparison"] == "not_compared" and r["comparator_value"] is None
    assert r["data_complete"] is True


def test_a_cell_suppressed_in_one_ics_is_suppressed_in_the_region():
    region = controlled(
        combine(
            release(row("QAA", 40, 100)),
            release(row("QBB", 25, 50)),
            release(row("QCC", None, None)),
        )
    )
    [r] = region.to_dicts()
    assert r["suppressed"] is True
    assert (r["numerator"], r["denominator"], r["value"], r["lower_95"]) == (None,) * 4


def test_a_cell_one_ics_did_not_publish_is_suppressed_and_its_complement_too():
    def sexes(ics, male, female=None):
        return [
            row(ics, *male, breakdown="sex", breakdown_value="male"),
            *([row(ics, *female, breakdown="sex", breakdown_value="female")] if female else []),
        ]

    region = controlled(
        combine(
            release(*sexes("QAA", (20, 50), (20, 50))),
            release(*sexes("QBB", (10, 20), (15, 30))),
            release(*sexes("QCC", (10, 10))),  # no female row: its count is unknown
        )
    )
    assert only(region, breakdown_value="female")["suppressed"] is True
    # male alone would give the female figures away from the `all` row: hidden as complement
    assert only(region, breakdown_value="male")["suppressed"] is True


def test_breakdowns_published_everywhere_are_summed_cell_by_cell():
    region = controlled(
        combine(
            release(
                row("QAA", 20, 50, breakdown="sex", breakdown_value="male"),
                row("QAA", 20, 50, breakdown="sex", breakdown_value="female"),
            ),
            release(
                row("QBB", 10, 20, breakdown="sex", breakdown_value="male"),
                row("QBB", 15, 30, breakdown="sex", breakdown_value="female"),
            ),
            release(
                row("QCC", 0, 10, breakdown="sex", breakdown_value="male"),
                row("QCC", 5, 10, breakdown="sex", breakdown_value="female", data_complete=False),
            ),
        )
    )
    male, female = only(region, breakdown_value="male"), only(region, breakdown_value="female")
    assert (male["numerator"], male["denominator"], male["data_complete"]) == (30, 80, True)
    assert (female["numerator"], female["denominator"], female["data_complete"]) == (40, 90, False)
    assert female["value"] == pytest.approx(100 * 40 / 90)


def test_a_region_sum_that_is_small_at_the_regions_threshold_is_suppressed():
    # 10 + 0 + 0 = 10 people: published at threshold 7, suppressed at a region's threshold 10
    releases = (release(row("QAA", 10, 40)), release(row("QBB", 0, 40)), release(row("QCC", 0, 20)))
    assert controlled(combine(*releases))["numerator"].to_list() == [10]
    assert controlled(combine(*releases), threshold=10)["suppressed"].to_list() == [True]


def test_means_and_counts_follow_from_the_summed_counts():
    hu04 = {"indicator": "HU04", "statistic": "mean"}
    ed01 = {"indicator": "ED01", "statistic": "count"}
    region = controlled(
        combine(
            release(row("QAA", 300, 40, **hu04), row("QAA", 15, None, **ed01)),
            release(row("QBB", 120, 20, **hu04), row("QBB", 5, None, **ed01)),
            release(row("QCC", 60, 20, **hu04), row("QCC", 0, None, **ed01)),
        )
    )
    mean = only(region, indicator_id="HU04")
    assert (mean["numerator"], mean["denominator"]) == (480, 80)
    assert mean["value"] == pytest.approx(6.0)  # 480 bed days over 80 decedents
    count = only(region, indicator_id="ED01")
    assert (count["numerator"], count["denominator"], count["value"]) == (20, None, 20.0)


def test_medians_and_dsrs_are_not_combined_and_a_partial_period_is_left_out():
    later = {"period_end": dt.date(2025, 3, 31), "period_start": dt.date(2024, 4, 1)}
    region = combine(
        release(
            row("QAA", None, 40, indicator="ID03", statistic="median", value=12.0),
            row("QAA", 50, 1000, indicator="MR01", statistic="dsr", value=900.0),
            row("QAA", 40, 100),
            row("QAA", 40, 100, **later),
        ),
        release(
            row("QBB", None, 20, indicator="ID03", statistic="median", value=9.0),
            row("QBB", 50, 1000, indicator="MR01", statistic="dsr", value=800.0),
            row("QBB", 25, 50),
        ),
    )
    assert region.select("indicator_id", "period_end").rows() == [("PD01", END)]


def test_place_and_practice_rows_are_left_with_their_ics():
    a = release(row("QAA", 40, 100), row("QAA", 10, 20, geography_level="place"))
    region = combine(a, release(row("QBB", 25, 50)))
    assert region.select("numerator", "denominator").rows() == [(65, 150)]


def test_releases_that_cannot_be_combined_are_refused():
    with pytest.raises(ValueError, match="same ICS"):
        combine(release(row("QAA", 40, 100)), release(row("QAA", 40, 100)))
    with pytest.raises(ValueError, match="two or more"):
        combine(release(row("QAA", 40, 100)))
    with pytest.raises(ValueError, match="unit"):
        combine(release(row("QAA", 40, 100)), release(row("QBB", 40, 100, unit="per 100")))


def test_the_region_waits_for_every_ics_and_names_those_that_did_not_complete():
    from diewell.release.region import RegionError, require_every_ics_completed

    require_every_ics_completed([("a/refresh", "r1", "Completed", True)])  # no error
    with pytest.raises(RegionError) as raised:
        require_every_ics_completed(
            [
                ("a/refresh", "r1", "Completed", True),
                ("b/refresh", "r2", "Failed", False),
                ("c/refresh", "r3", None, False),
            ]
        )
    message = str(raised.value)
    assert "no regional release was published" in message
    assert "b/refresh (flow run r2: Failed)" in message
    assert "c/refresh (flow run r3: no state)" in message
    assert "a/refresh" not in message
