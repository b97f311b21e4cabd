"""The whole pipeline, as a Prefect flow run, on a generated synthetic ICS.

A smaller ICS than the demo's (60,000 people over 2 years) so it runs in CI in well under a
minute; the plausibility ranges are wider than the demo's published ranges for that reason
(about 1,200 deaths a year: a share's 95% interval is roughly +/- 3 points).
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from diewell.config import load_config
from diewell.synth import synthesize
from diewell.warehouse.indicators import schema as output_schema
from diewell.warehouse.indicators.catalogue import catalogue
from tests.conftest import TEST_KEY

POPULATION = 60_000
YEARS = 2


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def run(tmp_path_factory, prefect_harness):
    import os

    os.environ.pop("DIEWELL_PSEUDO_KEY", None)  # the synthetic ICS's own key file is used
    root = tmp_path_factory.mktemp("synthetic-ics")
    config_path = synthesize(root, seed=7, population=POPULATION, years=YEARS, defect_rate=0.002)
    landing_files = sorted(p.name for p in (root / "landing").rglob("*") if p.is_file())

    from diewell.flows.refresh import refresh

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger().addHandler(handler)
    try:
        summary = refresh(str(config_path))
    finally:
        logging.getLogger().removeHandler(handler)
    config = load_config(config_path)
    con = duckdb.connect(str(config.warehouse), read_only=True)
    yield {
        "config": config,
        "summary": summary,
        "con": con,
        "landing_files": landing_files,
        "logs": [r.getMessage() for r in records],
    }
    con.close()


def test_every_delivered_file_is_accounted_for(run):
    summary = run["summary"]
    assert sorted(f.file_name for f in summary.files) == run["landing_files"]
    assert not [p for p in run["config"].landing.rglob("*") if p.is_file()]  # landing emptied
    bad = (
        run["con"]
        .execute(
            "SELECT count(*) FROM landing_files WHERE status = 'loaded' "
            "AND rows_read <> rows_loaded + rows_quarantined"
        )
        .fetchall()[0][0]
    )
    assert bad == 0
    assert summary.count("loaded") > 100


def test_generated_defects_are_quarantined_with_their_rule(run):
    rules = {
        r[0] for r in run["con"].execute("SELECT DISTINCT rule FROM quarantine_rows").fetchall()
    }
    assert {
        "invalid_nhs_number",
        "unparseable_date",
        "discharge_before_admission",
        "duplicate_key",
    } <= rules


def test_no_nhs_number_in_warehouse_outputs_or_logs(run):
    con = run["con"]
    ten_digits = re.compile(r"(?<![0-9a-f])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9a-f])")
    for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        cols = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND data_type = 'VARCHAR'",
            [table],
        ).fetchall()
        for (col,) in cols:
            n = con.execute(
                f"SELECT count(*) FROM {table} WHERE regexp_matches({col}, '^[0-9]{{3}}[ -]?[0-9]{{3}}[ -]?[0-9]{{4}}$')"
            ).fetchall()[0][0]
            assert n == 0, f"{table}.{col} holds NHS-number-like values"
    published = pl.read_parquet(
        run["config"].outputs / "current" / "indicators", hive_partitioning=True
    )
    for col in published.columns:
        if published.schema[col] == pl.String:
            assert not published[col].str.contains(r"^\d{10}$").any()
    for message in run["logs"]:
        assert not ten_digits.search(message), message
    assert TEST_KEY not in "\n".join(run["logs"])


def test_outputs_read_identically_with_pyarrow_and_polars(run):
    folder = run["config"].outputs / "current" / "indicators"
    with_polars = pl.read_parquet(folder, hive_partitioning=True)
    with_arrow = pl.from_arrow(ds.dataset(folder, format="parquet", partitioning="hive").to_table())
    assert with_polars.height == with_arrow.height == run["summary"].indicator_rows
    key = output_schema.PRIMARY_KEY
    a = with_polars.sort(key).select("indicator_id", "numerator", "denominator", "value")
    b = with_arrow.sort(key).select("indicator_id", "numerator", "denominator", "value")
    assert a.equals(b)
    assert set(with_polars["indicator_id"]) == {i.id for i in catalogue()} - no_cohort(run)


def _birthday(born: dt.date, years: int, months: int = 0) -> dt.date:
    month = born.month - 1 + months
    year, month = born.year + years + month // 12, month % 12 + 1
    return dt.date(year, month, min(born.day, calendar.monthrange(year, month)[1]))


def no_cohort(run) -> set[str]:
    """The transition indicators with nobody in their cohort in this small ICS: no young person
    of a children's caseload reaches 17 (TR01) or 18 1/2 (TR02) inside the published periods
    (read from staging's dates of birth, not from the indicators' SQL)."""
    con = duckdb.connect(str(run["config"].warehouse), read_only=True)
    try:
        born = [
            b
            for (b,) in con.execute(
                "SELECT DISTINCT date_of_birth FROM core_hospice_referrals "
                "WHERE service = 'childrens' AND date_of_birth IS NOT NULL"
            ).fetchall()
        ]
        first, last = con.execute(
            "SELECT min(period_start), max(period_end) FROM mart_periods"
        ).fetchone()
    finally:
        con.close()
    ages = {"TR01": (17, 0), "TR02": (18, 6)}
    return {
        indicator
        for indicator, (years, months) in ages.items()
        if not any(first <= _birthday(b, years, months) <= last for b in born)
    }


def test_published_counts_are_disclosure_controlled(run):
    published = pl.read_parquet(
        run["config"].outputs / "current" / "indicators", hive_partitioning=True
    )
    # ED01 and ED02 count staff and care homes, not people (indicators.md v2): rounded, never
    # suppressed, so 3-7 is published as 5.
    of_people = published.filter(~pl.col("indicator_id").is_in(["ED01", "ED02"]))
    for col in ("numerator", "denominator"):
        counts = of_people[col].drop_nulls()
        assert not ((counts >= 1) & (counts <= 7)).any()
        assert (published[col].drop_nulls() % 5 == 0).all()
    assert (
        published.filter(pl.col("suppressed"))["value"].null_count()
        == published["suppressed"].sum()
    )


# Plausible ICS-level shares for a 60,000-person ICS (about 1,100 decedents in 12 months):
# ONS England 2021-2022 shares (hospital 43-44%, home 28%, care home 20-21%, hospice 4.5-4.7%,
# other 2.6%; reference/published_peolc_figures.csv) widened by about 2.5 standard errors.
PLAUSIBLE = {
    "PD01": (22, 34),
    "PD02": (15, 26),
    "PD03": (37, 50),
    "PD04": (2.5, 7.5),
    "PD05": (0.5, 5),
    "PD06": (42, 58),  # home + care home among non-external deaths: ONS 2021 49%
    "ND01": (65, 85),  # Etkind et al. 2017: 69-82% of deaths have palliative care need
    # Identification and planning: Stow et al. 2020 found 12.6% of 75+ decedents on a register
    # in 2015 and 47.9% recognised before the month of death; recent ICS reports 30-45%.
    "ID01": (20, 55),
    "ID02": (5, 30),  # Stow et al.: 3.5% a year or more before death; 91 days is far shorter
    "ID03": (20, 200),  # median days: weeks to a few months in published EPaCCS audits
    "CP01": (8, 45),
    "CP02": (8, 45),
    "CP03": (8, 50),
    "CP04": (50, 92),  # most people with a recorded wish die where they wished (EPaCCS: 70-80%)
    "CP05": (3, 35),
    # Hospital use in the last 90 days: OHID 6.2% (2022) and Nuffield 7.1% (2021) for 3+.
    "HU01": (3, 10),
    "HU02": (40, 70),
    "HU03": (50, 120),  # admissions per 100 decedents
    "HU04": (2, 20),  # mean bed days per decedent
    "HU05": (50, 150),  # A&E attendances per 100 decedents
    "SP01": (25, 65),  # specialist palliative care reaches 40-50% of those with need
    "SP02": (8, 40),
    "SP03": (60, 97),  # PCOC benchmark 90%; services often fall short
    "SP04": (55, 97),  # PCOC benchmark 90%
    "SP05": (35, 85),
    "SC01": (35, 80),  # out-of-hours is 76% of the week's hours but calls cluster in the day
    "SC02": (75, 99.5),
    "RG01": (0.2, 1.2),  # QOF palliative care register prevalence, England: about 0.5%
    "MR01": (750, 1300),  # ONS England ASMR (ESP2013) 2001-2021: 919-1230 per 100,000
}


def test_headline_shares_are_plausible(run):
    con = run["con"]
    latest = con.execute(
        "SELECT max(period_end) FROM mart_indicator_values WHERE period_type = 'rolling_12m'"
    ).fetchall()[0][0]
    rows = con.execute(
        "SELECT indicator_id, value FROM mart_indicator_values WHERE period_type = 'rolling_12m' "
        "AND period_end = ? AND geography_level = 'ics' AND breakdown = 'all'",
        [latest],
    ).fetchall()
    values = dict(rows)
    for indicator, (low, high) in PLAUSIBLE.items():
        assert low <= values[indicator] <= high, (indicator, values[indicator])


def test_deprivation_gradient_in_hospital_deaths(run):
    rows = (
        run["con"]
        .execute(
            "SELECT breakdown_value, sum(numerator) / sum(denominator) FROM mart_indicator_values "
            "WHERE indicator_id = 'PD03' AND geography_level = 'ics' AND breakdown = 'imd_quintile' "
            "AND period_type = 'rolling_12m' GROUP BY ALL"
        )
        .fetchall()
    )
    share = dict(rows)
    assert share["1"] > share["5"]  # more hospital deaths in the most deprived quintile


def ics_shares(con, indicator: str, breakdown: str) -> dict[str, float]:
    """Pooled over every rolling 12-month period, so the comparison has enough deaths."""
    rows = con.execute(
        "SELECT breakdown_value, sum(numerator) / sum(denominator) FROM mart_indicator_values "
        "WHERE indicator_id = ? AND geography_level = 'ics' AND breakdown = ? "
        "AND period_type = 'rolling_12m' GROUP BY ALL",
        [indicator, breakdown],
    ).fetchall()
    return dict(rows)


def test_breakdowns_show_the_differences_the_generator_put_in(run):
    con = run["con"]
    register = ics_shares(con, "ID01", "imd_quintile")
    assert register["1"] < register["5"]  # fewer register entries in the most deprived quintile
    cancer = ics_shares(con, "SP01", "condition_group")
    assert cancer["cancer"] > cancer["organ_failure"]  # specialist care reaches cancer first
    place = ics_shares(con, "PD01", "age_band")
    assert place["85+"] < place["18-64"]  # the oldest die at home least (care homes instead)


def test_deprivation_gap_follows_the_generator(run):
    """SII (phe_sii convention: least deprived end minus most deprived end) averaged over the
    rolling periods: more hospital deaths (negative) and fewer register entries (positive)
    in the most deprived quintile, as the generator made them."""
    rows = (
        run["con"]
        .execute(
            "SELECT indicator_id, avg(value), count(*) FROM mart_indicator_values "
            "WHERE breakdown = 'imd_sii' AND period_type = 'rolling_12m' GROUP BY ALL"
        )
        .fetchall()
    )
    gap = {i: (v, n) for i, v, n in rows}
    assert gap["PD03"][0] < 0
    assert gap["ID01"][0] > 0
    assert "ID03" not in gap and "MR01" not in gap  # medians and DSRs have no SII


def test_trend_markers_are_fingertips_labels(run):
    from diewell.transforms.trend import TREND_LABELS

    rows = (
        run["con"]
        .execute(
            "SELECT statistic, trend, count(*) FROM mart_indicator_values GROUP BY ALL ORDER BY ALL"
        )
        .fetchall()
    )
    for statistic, trend, _ in rows:
        if statistic in ("proportion", "rate_per_100"):
            assert trend in TREND_LABELS
        else:
            assert trend is None
