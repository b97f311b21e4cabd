"""Comparison with the ICS value (indicators.md): the ICS value inside the area's 95% interval
is 'similar'; otherwise higher/lower, or better/worse by polarity; no interval: not_compared."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from diewell.transforms.comparison import add_comparison


def frame(rows, polarity="none"):
    end = dt.date(2025, 3, 31)
    return pl.DataFrame(
        [
            {
                "indicator_id": "X01",
                "period_type": "rolling_12m",
                "period_end": end,
                "breakdown": "all",
                "breakdown_value": "all",
                "geography_level": level,
                "geography_code": code,
                "value": value,
                "lower_95": low,
                "upper_95": high,
                "polarity": polarity,
            }
            for level, code, value, low, high in rows
        ]
    )


AREAS = [
    ("ics", "ICS", 50.0, 48.0, 52.0),
    ("place", "SIMILAR", 51.0, 45.0, 57.0),  # 50 inside [45, 57]
    ("place", "EDGE", 55.0, 50.0, 60.0),  # 50 on the lower limit: inside
    ("place", "ABOVE", 60.0, 55.0, 65.0),  # interval wholly above 50
    ("place", "BELOW", 40.0, 35.0, 45.0),  # wholly below
    ("place", "NOINTERVAL", 40.0, None, None),
]


@pytest.mark.parametrize(
    "polarity, above, below",
    [
        ("none", "higher", "lower"),
        ("higher_is_better", "better", "worse"),
        ("lower_is_better", "worse", "better"),
    ],
)
def test_comparison_words_follow_polarity(polarity, above, below):
    out = add_comparison(frame(AREAS, polarity))
    got = dict(zip(out["geography_code"], out["comparison"], strict=True))
    assert got == {
        "ICS": "not_compared",
        "SIMILAR": "similar",
        "EDGE": "similar",
        "ABOVE": above,
        "BELOW": below,
        "NOINTERVAL": "not_compared",
    }
    assert set(out["comparator_value"].to_list()) == {50.0}


def test_an_unknown_polarity_is_refused():
    with pytest.raises(ValueError, match="unknown polarity"):
        add_comparison(frame(AREAS, "up_is_good"))


def test_rows_without_the_ics_quote_the_comparators_given():
    """A chunk of geographies after the first holds no ICS row: it is compared with the ICS
    rows given, matched by the same keys (here an ICS value of 56.0, not the 50.0 the areas'
    own frame would give)."""
    areas = frame(AREAS[1:], "higher_is_better")
    ics = frame([("ics", "ICS", 56.0, 54.0, 58.0)]).select(
        "indicator_id", "period_type", "period_end", "breakdown", "breakdown_value", "value"
    )
    out = add_comparison(areas, ics)
    got = dict(zip(out["geography_code"], out["comparison"], strict=True))
    assert got == {
        "SIMILAR": "similar",  # 56 in [45, 57]
        "EDGE": "similar",  # 56 in [50, 60]
        "ABOVE": "similar",  # 56 in [55, 65]
        "BELOW": "worse",  # [35, 45] below 56, higher is better
        "NOINTERVAL": "not_compared",
    }
    assert out["comparator_value"].to_list() == [56.0] * 5
    # another period's ICS row is no comparator: nothing matches, nothing is compared
    other = ics.with_columns(pl.lit(dt.date(2024, 3, 31)).alias("period_end"))
    out = add_comparison(areas, other)
    assert out["comparator_value"].null_count() == 5
    assert set(out["comparison"]) == {"not_compared"}


def test_comparators_with_the_ics_rows_themselves_are_refused():
    ics = frame(AREAS[:1]).select(
        "indicator_id", "period_type", "period_end", "breakdown", "breakdown_value", "value"
    )
    with pytest.raises(ValueError, match="without the ICS rows"):
        add_comparison(frame(AREAS), ics)
