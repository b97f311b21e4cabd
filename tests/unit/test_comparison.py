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
