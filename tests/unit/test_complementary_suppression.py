"""Rule 3 (complementary suppression) on random tables, against the rule worked out cell by
cell in plain Python from its statement (indicators.md, disclosure control v2, rule 3; the
module docstring of transforms.disclosure).

The reference: passes until one hides nothing; a pass settles every breakdown partition (the
categories of one indicator, period, geography and breakdown other than `all` and the SII),
all on the hidden cells the pass began with, then every shared-denominator set (one cell per
indicator of the set, for one period, geography, breakdown and category), on the cells
hidden so far. A partition of two or more cells with exactly one hidden cell hides its next
smallest unhidden cell: non-empty before empty (a zero or missing denominator for a
breakdown, numerator for a set), then by denominator, numerator and category for a
breakdown, by numerator and indicator for a set; a missing count sorts after every count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from diewell.transforms.disclosure import complementary_suppression
from diewell.transforms.inequality import SII_BREAKDOWN

SETS = {"PD01": "place_of_death", "PD02": "place_of_death", "PD03": "place_of_death"}
BREAKDOWNS = {"all": ["all"], "sex": ["female", "male", "unknown"], "age_band": ["0-64", "65+"]}
AREAS = [("ics", "QSY"), ("place", "P1"), ("place", "P2")]
PERIODS = [dt.date(2025, 3, 31), dt.date(2026, 3, 31)]


def random_table(rng: np.random.Generator) -> tuple[pl.DataFrame, list[bool]]:
    """Indicators PD01-PD03 (a shared-denominator set) and XX01 (in none), every area,
    period and breakdown, a row left out now and then; small counts, so that ties, zeros
    and missing counts are common; about one cell in eight hidden to begin with."""
    rows = []
    for indicator in ("PD01", "PD02", "PD03", "XX01"):
        for period in PERIODS:
            for level, code in AREAS:
                for breakdown, categories in BREAKDOWNS.items():
                    for category in categories:
                        if rng.random() < 0.1:
                            continue
                        numerator = int(rng.integers(0, 6))
                        denominator = numerator + int(rng.integers(0, 4))
                        rows.append(
                            {
                                "indicator_id": indicator,
                                "period_type": "financial_year",
                                "period_end": period,
                                "geography_level": level,
                                "geography_code": code,
                                "breakdown": breakdown,
                                "breakdown_value": category,
                                "numerator": None if rng.random() < 0.05 else numerator,
                                "denominator": None if rng.random() < 0.05 else denominator,
                            }
                        )
        for period in PERIODS:  # an SII row: in no partition
            rows.append(
                {
                    "indicator_id": indicator,
                    "period_type": "financial_year",
                    "period_end": period,
                    "geography_level": "ics",
                    "geography_code": "QSY",
                    "breakdown": SII_BREAKDOWN,
                    "breakdown_value": SII_BREAKDOWN,
                    "numerator": None,
                    "denominator": None,
                }
            )
    hidden = [bool(rng.random() < 0.125) for _ in rows]
    return pl.DataFrame(rows), hidden


def missing_last(value) -> tuple:
    return (value is None, value if value is not None else 0)


def reference_rule_3(rows: list[dict], hidden: list[bool]) -> list[bool]:
    hidden = list(hidden)
    breakdowns: dict[tuple, list[int]] = {}
    sets: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        if r["breakdown"] not in ("all", SII_BREAKDOWN):
            key = tuple(
                r[c]
                for c in (
                    "indicator_id",
                    "period_type",
                    "period_end",
                    "geography_level",
                    "geography_code",
                    "breakdown",
                )
            )
            breakdowns.setdefault(key, []).append(i)
        if r["indicator_id"] in SETS and r["breakdown"] != SII_BREAKDOWN:
            key = (
                SETS[r["indicator_id"]],
                *(
                    r[c]
                    for c in (
                        "period_type",
                        "period_end",
                        "geography_level",
                        "geography_code",
                        "breakdown",
                        "breakdown_value",
                    )
                ),
            )
            sets.setdefault(key, []).append(i)

    def breakdown_order(i: int) -> tuple:
        r = rows[i]
        empty = not r["denominator"]
        return (
            empty,
            *missing_last(r["denominator"]),
            *missing_last(r["numerator"]),
            r["breakdown_value"],
        )

    def set_order(i: int) -> tuple:
        r = rows[i]
        return (not r["numerator"], *missing_last(r["numerator"]), r["indicator_id"])

    changed = True
    while changed:
        changed = False
        for partitions, order in ((breakdowns, breakdown_order), (sets, set_order)):
            chosen = []
            for cells in partitions.values():
                if len(cells) >= 2 and sum(hidden[i] for i in cells) == 1:
                    chosen.append(min((i for i in cells if not hidden[i]), key=order))
            for i in chosen:
                hidden[i] = True
                changed = True
    return hidden


@pytest.mark.parametrize("seed", range(40))
def test_complementary_suppression_is_rule_3_cell_by_cell(seed):
    rng = np.random.default_rng(seed)
    df, hidden = random_table(rng)
    expected = reference_rule_3(df.to_dicts(), hidden)
    assert sum(expected) > sum(hidden), "the draw should need complements"
    got = complementary_suppression(df, pl.Series("suppressed", hidden), SETS).to_list()
    wrong = [
        (r["indicator_id"], r["geography_code"], r["breakdown"], r["breakdown_value"])
        for r, g, e in zip(df.to_dicts(), got, expected, strict=True)
        if g != e
    ]
    assert got == expected, f"{len(wrong)} cells differ, such as {wrong[:3]}"
