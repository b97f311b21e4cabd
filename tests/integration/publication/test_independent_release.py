"""The published release of the fixed synthetic ICS against an independent calculation.

Every published row - every indicator, period, geography and breakdown - is worked out again
from the warehouse's exact counts by tests/integration/publication/independent_release.py (plain Python
from the spec's formulas) and must agree: the same rows hidden, the same rounded counts, and
values, limits and comparisons within 1e-9. The release is read back with pyarrow only.
"""

from __future__ import annotations

import math

import pyarrow.dataset as ds

from tests.integration.publication.independent_release import FIGURES, independent_release, key

COLUMNS = [
    "indicator_id",
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
    "breakdown_value",
    "numerator",
    "denominator",
    *FIGURES,
    "statistic",
    "polarity",
]


def exact_rows(con) -> list[dict]:
    cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM mart_indicator_values")
    return [dict(zip(COLUMNS, r, strict=True)) for r in cursor.fetchall()]


def published_rows(release) -> list[dict]:
    dataset = ds.dataset(release / "indicators", format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_every_published_row_agrees_with_an_independent_calculation(synthetic_run):
    expected = independent_release(exact_rows(synthetic_run.con))
    published = published_rows(synthetic_run.release)
    assert len(published) == len(expected) > 20_000
    mismatches = []
    for row in published:
        row["period_end"] = __import__("datetime").date.fromisoformat(str(row["period_end"]))
        want = expected[key(row)]
        fields = ["suppressed", "numerator", "denominator", "comparison"]
        wrong = [f for f in fields if row[f] != want[f]]
        is_sii = row["breakdown"] == "imd_sii"
        figures = ["value"] if is_sii else FIGURES
        wrong += [f for f in [*figures, "comparator_value"] if not close(row[f], want[f])]
        if wrong:
            mismatches.append((key(row), {f: (row[f], want[f]) for f in wrong}))
    assert not mismatches, f"{len(mismatches)} rows differ, first: {mismatches[:3]}"
    hidden = sum(r["suppressed"] for r in published)
    assert 0 < hidden < len(published)  # there was something to protect, and something shown
