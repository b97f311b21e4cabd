"""The intruder test (issue 10): a release tells nothing finer than its rounded counts.

The synthetic ICS's release is attacked with nothing but its Parquet files (and the public
practice -> PCN list); attacks (1)-(3) must recover nothing, (4)-(5) are reported (run with
-s to see the table). The intruder itself is tested first on tiny hand-built releases.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.publication.intruder import attack, practice_to_pcn_map

SHOW = 10  # recoveries quoted in a failure message
# qnorm(0.975) and qnorm(0.999), written out (indicators.md "Statistics")
Z_95 = 1.959963984540054
Z_99_8 = 3.090232306167813
PD = "2 place of death PD01-PD05"
SEX = "3 categories: sex"


def wilson_percent(x: int, n: int, z: float) -> tuple[float, float]:
    """The contract's Wilson limits, by hand: (2x + z² ∓ z√(z² + 4x(1 − x/n))) / (2(n + z²))."""
    root = z * math.sqrt(z * z + 4 * x * (1 - x / n))
    return (
        100 * (2 * x + z * z - root) / (2 * (n + z * z)),
        100 * (2 * x + z * z + root) / (2 * (n + z * z)),
    )


def proportion_row(indicator: str, published: tuple[int, int] | None, computed_from=None, **key):
    """One published proportion row: counts `published` (None: suppressed), figures computed
    from `computed_from` (the published counts unless given)."""
    row = {
        "indicator_id": indicator,
        "geography_level": "practice",
        "geography_code": "P1",
        "breakdown": "all",
        "breakdown_value": "all",
        "statistic": "proportion",
        "suppressed": published is None,
        "numerator": None,
        "denominator": None,
        "value": None,
        "lower_95": None,
        "upper_95": None,
        "lower_99_8": None,
        "upper_99_8": None,
    }
    row.update(key)
    if published is not None:
        x, n = computed_from or published
        low_95, up_95 = wilson_percent(x, n, Z_95)
        low_998, up_998 = wilson_percent(x, n, Z_99_8)
        row.update(
            numerator=published[0],
            denominator=published[1],
            value=100 * x / n,
            lower_95=low_95,
            upper_95=up_95,
            lower_99_8=low_998,
            upper_99_8=up_998,
        )
    return row


def write_release(folder: Path, rows: list[dict]) -> Path:
    """The rows as a release: hive-partitioned Parquet of one rolling period."""
    part = folder / "indicators" / "period_type=rolling_12m" / "period_end=2026-09-30"
    part.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), part / "part-0.parquet")
    return folder


# --------------------------------------------------------------------------------------------
# The intruder on hand-built releases


def test_figures_from_exact_counts_give_the_exact_counts_away(tmp_path):
    # exact 13/47, published rounded 15/45, figures from the exact counts (v1)
    release = write_release(tmp_path, [proportion_row("CP01", (15, 45), computed_from=(13, 47))])
    report = attack(release)
    assert report.inversion["proportion"].leaking == 1
    assert report.inversion["proportion"].pinned == 1
    [finding] = report.findings
    assert finding.found == "exact pair (13, 47)"


def test_figures_from_rounded_counts_tell_nothing_more(tmp_path):
    release = write_release(tmp_path, [proportion_row("CP01", (15, 45))])
    report = attack(release)
    assert report.inversion["proportion"].tried == 1
    assert report.inversion["proportion"].only_published == 1
    assert report.findings == []


def place_of_death_set(hidden: set[str]) -> list[dict]:
    """PD01-PD05 sharing a denominator of 115: 40 + 20 + 30 + PD04 + 10 (rounded)."""
    counts = {"PD01": 40, "PD02": 20, "PD03": 30, "PD04": 10, "PD05": 10}
    return [proportion_row(pd, None if pd in hidden else (x, 115)) for pd, x in counts.items()]


def test_one_hidden_place_of_death_is_recovered(tmp_path):
    # PD04 = D - others: D in 113..117, the others in 38..42, 18..22, 28..32, 8..12 (sums
    # 92..108), so PD04 is in 113-108 = 5 .. 117-92 = 25: if small, 5..7.
    report = attack(write_release(tmp_path, place_of_death_set({"PD04"})))
    assert report.partitions[PD] == 1 and report.one_suppressed[PD] == 1
    [finding] = report.findings
    assert (finding.indicator_id, finding.count) == ("PD04", "numerator")
    assert finding.found == "5..7 if small (range 5..25)"


def test_two_hidden_places_of_death_are_not_recovered(tmp_path):
    report = attack(write_release(tmp_path, place_of_death_set({"PD04", "PD05"})))
    assert report.several_suppressed[PD] == 1
    assert report.findings == []


def sex_breakdown(hidden: set[str]) -> list[dict]:
    """ND01 for all (110 of 300) and female (100 of 150), male (10 of 150)."""
    counts = {"female": (100, 150), "male": (10, 150)}
    rows = [proportion_row("ND01", (110, 300))]
    for sex, published in counts.items():
        rows.append(
            proportion_row(
                "ND01",
                None if sex in hidden else published,
                breakdown="sex",
                breakdown_value=sex,
            )
        )
    return rows


def test_one_hidden_category_is_recovered_from_the_all_row(tmp_path):
    # male numerator = all - female: 108-102 = 6 .. 112-98 = 14, so 6..7 if small; the
    # denominator 298-152 = 146 .. 302-148 = 154 is not small.
    report = attack(write_release(tmp_path, sex_breakdown({"male"})))
    assert report.one_suppressed[SEX] == 1
    [finding] = report.findings
    assert (finding.breakdown_value, finding.count) == ("male", "numerator")
    assert finding.found == "6..7 if small (range 6..14)"


def test_two_hidden_categories_are_not_recovered(tmp_path):
    report = attack(write_release(tmp_path, sex_breakdown({"male", "female"})))
    assert report.several_suppressed[SEX] == 1
    assert report.findings == []


# --------------------------------------------------------------------------------------------
# The synthetic ICS's release


@pytest.fixture(scope="module")
def report(synthetic_run):
    mapping = practice_to_pcn_map(synthetic_run.root)
    assert mapping, "the synthetic ICS has a ref_practice file (the public practice list)"
    return attack(synthetic_run.release, practice_to_pcn=mapping)


def test_the_release_was_attacked(report):
    print("\n" + report.summary())
    assert report.suppressed > 0
    for statistic in ("proportion", "rate_per_100", "mean", "median", "dsr"):
        assert report.inversion[statistic].tried > 0, statistic
    for attacked in (
        PD,
        SEX,
        "3 categories: age_band",
        "4 places in the ICS",
        "4 practices in their PCN",
        "5 consecutive rolling periods",
    ):
        assert report.partitions[attacked] > 0, attacked
        hidden = report.one_suppressed[attacked] + report.several_suppressed[attacked]
        assert hidden > 0, f"{attacked}: no suppressed cell to attack"


def test_nothing_is_recovered_from_the_release(report):
    findings = report.findings
    by_attack = Counter(f.attack for f in findings)
    shown = "\n".join(str(f) for f in findings[:SHOW])
    assert not findings, (
        f"{len(findings)} cells recovered by attacks (1)-(3) {dict(by_attack)}, e.g.\n{shown}"
    )
