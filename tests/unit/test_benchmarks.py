"""Benchmarks beside the ICS rows (indicators.md v3, "Benchmarks: England, region and peers").

Tiny hand-worked tables: the latest benchmark on or before the row's period end, per level and
area; the benchmark value against the row's published 95% interval (a limit counts as inside);
higher/lower or better/worse by polarity; no interval or no benchmark value: not_compared. Then
check_benchmarks' problems, and the shipped England file against the catalogue.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
import yaml

from diewell.transforms.benchmarks import (
    BENCHMARK_COLUMNS,
    OUTPUT_COLUMNS,
    attach_benchmarks,
    check_benchmarks,
)
from tests.conftest import REPO

DEFAULT_FILE = REPO / "diewell" / "release" / "benchmarks" / "england.csv"
CATALOGUE = REPO / "warehouse" / "indicators" / "catalogue.yaml"
# indicators.md v3 defines HU06 and HU07; the default file has an HU06 figure, which may arrive
# before the catalogue entry does. Once the catalogue has them this set changes nothing.
V3_INDICATORS = {"HU06", "HU07"}
SOURCE = "Example publisher, https://example.org/figures"
POLARITY = {"X01": "none", "HI": "higher_is_better", "LO": "lower_is_better"}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def published(*rows) -> pl.DataFrame:
    """ICS rows: (indicator, period_type, period_end, breakdown, lower, upper, suppressed)."""
    return pl.DataFrame(
        [
            {
                "indicator_id": ind,
                "period_type": ptype,
                "period_end": d(end),
                "geography_level": "ics",
                "breakdown": breakdown,
                "breakdown_value": "all" if breakdown == "all" else "85+",
                "value": None if low is None or high is None else (low + high) / 2,
                "lower_95": low,
                "upper_95": high,
                "suppressed": suppressed,
            }
            for ind, ptype, end, breakdown, low, high, suppressed in rows
        ],
        schema_overrides={"value": pl.Float64, "lower_95": pl.Float64, "upper_95": pl.Float64},
    )


def row(ind="X01", end="2023-03-31", low=40.0, high=50.0, *, ptype="rolling_12m", **kw):
    return (ind, ptype, end, kw.get("breakdown", "all"), low, high, kw.get("suppressed", False))


def benchmarks(*rows) -> pl.DataFrame:
    """Benchmarks: (indicator, period_end, level, code, value[, period_type])."""
    return pl.DataFrame(
        [
            {
                "indicator_id": ind,
                "period_type": rest[0] if rest else "calendar_year",
                "period_end": d(end),
                "area_level": level,
                "area_code": code,
                "area_name": f"name of {code}",
                "value": value,
                "lower_95": None,
                "upper_95": None,
                "source": SOURCE,
            }
            for ind, end, level, code, value, *rest in rows
        ],
        schema_overrides={"value": pl.Float64, "lower_95": pl.Float64, "upper_95": pl.Float64},
    )


ENGLAND = "E92000001"


def attach(rows, bench, polarity=POLARITY) -> list[dict]:
    out = attach_benchmarks(rows, bench, polarity)
    assert out.columns == list(OUTPUT_COLUMNS)
    return out.to_dicts()


# --- which benchmark ----------------------------------------------------------------------


def test_the_latest_benchmark_on_or_before_the_rows_period_end():
    bench = benchmarks(
        ("X01", "2019-12-31", "england", ENGLAND, 30.0),
        ("X01", "2021-12-31", "england", ENGLAND, 45.0),
        ("X01", "2023-12-31", "england", ENGLAND, 60.0),  # after 2023-03-31: not used
    )
    [out] = attach(published(row(end="2023-03-31")), bench)
    assert out["benchmark_period_end"] == d("2021-12-31")
    assert out["benchmark_value"] == 45.0
    assert out["benchmark_level"] == "england"
    assert out["benchmark_area"] == f"name of {ENGLAND}"
    assert out["benchmark_area_code"] == ENGLAND
    assert out["benchmark_source"] == SOURCE
    assert out["benchmark_comparison"] == "similar"  # 45 inside [40, 50]


def test_a_benchmark_ending_on_the_rows_period_end_counts():
    bench = benchmarks(
        ("X01", "2021-12-31", "england", ENGLAND, 45.0),
        ("X01", "2022-12-31", "england", ENGLAND, 47.0),
    )
    [out] = attach(published(row(end="2022-12-31")), bench)
    assert out["benchmark_period_end"] == d("2022-12-31")


def test_a_row_before_the_earliest_benchmark_gets_none():
    bench = benchmarks(("X01", "2021-12-31", "england", ENGLAND, 45.0))
    rows = published(row(end="2021-09-30"), row(end="2022-03-31"))
    out = attach(rows, bench)
    assert [o["period_end"] for o in out] == [d("2022-03-31")]


def test_any_period_type_serves_but_the_rows_own_wins_a_tie():
    bench = benchmarks(
        ("X01", "2022-12-31", "england", ENGLAND, 41.0, "calendar_year"),
        ("X01", "2022-12-31", "england", ENGLAND, 42.0, "rolling_12m"),
        ("X01", "2022-03-31", "england", ENGLAND, 43.0, "financial_year"),
    )
    rows = published(
        row(end="2022-12-31", ptype="rolling_12m"),
        row(end="2022-12-31", ptype="financial_year"),  # no own type on that day: calendar
        row(end="2022-06-30", ptype="rolling_12m"),  # a financial year is the latest
    )
    out = attach(rows, bench)
    assert [o["benchmark_value"] for o in out] == [42.0, 41.0, 43.0]


def test_region_and_peer_rows_beside_england_one_per_level_and_area():
    bench = benchmarks(
        ("X01", "2022-12-31", "peer", "P2", 46.0),
        ("X01", "2022-12-31", "region", "R1", 52.0),
        ("X01", "2021-12-31", "peer", "P1", 30.0),
        ("X01", "2022-12-31", "england", ENGLAND, 45.0),
        ("X01", "2020-12-31", "region", "R1", 44.0),  # older than R1's 2022: not used
        ("Z99", "2022-12-31", "england", ENGLAND, 1.0),  # another indicator
    )
    out = attach(published(row(end="2023-03-31")), bench)
    assert [
        (o["benchmark_level"], o["benchmark_area"], o["benchmark_comparison"]) for o in out
    ] == [
        ("england", f"name of {ENGLAND}", "similar"),
        ("region", "name of R1", "lower"),  # 52 above [40, 50]: the ICS is lower
        ("peer", "name of P1", "higher"),  # 30 below [40, 50]: the ICS is higher
        ("peer", "name of P2", "similar"),
    ]


def test_only_ics_rows_of_breakdown_all_are_benchmarked():
    bench = benchmarks(("X01", "2022-12-31", "england", ENGLAND, 45.0))
    rows = published(row(), row(breakdown="age_band"))
    place = published(row()).with_columns(pl.lit("place").alias("geography_level"))
    out = attach(pl.concat([rows, place]), bench)
    assert [(o["breakdown"], o["breakdown_value"]) for o in out] == [("all", "all")]


def test_benchmarks_read_as_text_give_the_same_result():
    typed = benchmarks(
        ("X01", "2021-12-31", "england", ENGLAND, 45.0),
        ("X01", "2022-12-31", "peer", "P1", None),
    )
    text = typed.with_columns(pl.all().cast(pl.String).fill_null(""))
    rows = published(row())
    assert attach(rows, text) == attach(rows, typed)


def test_no_rows_no_benchmarks():
    bench = benchmarks(("X01", "2022-12-31", "england", ENGLAND, 45.0))
    out = attach_benchmarks(published(row(breakdown="sex")), bench, POLARITY)
    assert out.is_empty() and out.columns == list(OUTPUT_COLUMNS)


# --- the comparison -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "indicator, benchmark, expected",
    [
        ("X01", 30.0, "higher"),  # interval [40, 50] wholly above the benchmark
        ("X01", 60.0, "lower"),
        ("HI", 30.0, "better"),  # higher is better and the ICS is higher
        ("HI", 60.0, "worse"),
        ("LO", 30.0, "worse"),  # lower is better and the ICS is higher
        ("LO", 60.0, "better"),
        ("X01", 40.0, "similar"),  # on the lower limit: inside
        ("X01", 50.0, "similar"),  # on the upper limit: inside
        ("HI", 39.9, "better"),  # just outside
        ("LO", 50.1, "better"),
    ],
)
def test_the_benchmark_against_the_rows_interval(indicator, benchmark, expected):
    bench = benchmarks((indicator, "2022-12-31", "england", ENGLAND, benchmark))
    [out] = attach(published(row(indicator, low=40.0, high=50.0)), bench)
    assert out["benchmark_comparison"] == expected


@pytest.mark.parametrize(
    "published_row, benchmark",
    [
        (row(low=None, high=None, suppressed=True), 45.0),  # suppressed: nothing published
        (row(low=None, high=None), 45.0),  # a median or a mean: no interval
        (row(low=40.0, high=None), 45.0),  # half an interval is none
        (row(suppressed=True), 45.0),  # suppressed, whatever its limits say
        (row(), None),  # a benchmark without a value
    ],
)
def test_no_interval_or_no_benchmark_value_is_not_compared(published_row, benchmark):
    bench = benchmarks(("X01", "2022-12-31", "england", ENGLAND, benchmark))
    [out] = attach(published(published_row), bench)
    assert out["benchmark_comparison"] == "not_compared"
    assert out["benchmark_value"] == benchmark


def test_an_indicator_without_a_polarity_is_refused():
    bench = benchmarks(("Q01", "2022-12-31", "england", ENGLAND, 45.0))
    with pytest.raises(ValueError, match="no polarity given for Q01"):
        attach_benchmarks(published(row("Q01")), bench, POLARITY)


# --- check_benchmarks ---------------------------------------------------------------------

GOOD = {
    "indicator_id": "X01",
    "period_type": "calendar_year",
    "period_end": "2022-12-31",
    "area_level": "england",
    "area_code": ENGLAND,
    "area_name": "England",
    "value": "43.4",
    "lower_95": "43.2",
    "upper_95": "43.6",
    "source": SOURCE,
}
KNOWN = {"X01", "X02"}


def table(*changes: dict) -> pl.DataFrame:
    """Text rows (as a CSV reads), each GOOD with its changes."""
    return pl.DataFrame([{**GOOD, **change} for change in changes], schema=list(GOOD))


def test_a_good_table_has_no_problems():
    rows = table(
        {},
        {"area_level": "region", "area_code": "R1", "area_name": "A region"},
        {"area_level": "peer", "area_code": "P1", "area_name": "A peer"},
        {"period_type": "financial_year", "period_end": "2023-03-31"},
        {"period_type": "rolling_12m", "period_end": "2022-12-31"},  # not calendar_year's twin
        {"indicator_id": "X02", "value": "", "lower_95": "", "upper_95": ""},  # figures empty
        {"indicator_id": "X02", "period_end": "2021-12-31", "lower_95": "", "upper_95": ""},
        {"indicator_id": "X02", "period_end": "2020-12-31", "value": "43.2"},  # on a limit
    )
    assert check_benchmarks(rows, KNOWN) == []


def test_a_typed_table_is_checked_as_its_text():
    typed = pl.DataFrame(
        {
            **{k: [v] for k, v in GOOD.items()},
            "period_end": [dt.date(2022, 12, 31)],
            "value": [43.4],
            "lower_95": [43.2],
            "upper_95": [43.6],
        }
    )
    assert check_benchmarks(typed, KNOWN) == []
    bad = typed.with_columns(pl.lit(None, pl.Date).alias("period_end"))
    assert check_benchmarks(bad, KNOWN) == [
        "row 1, column period_end: '' is not a date written YYYY-MM-DD"
    ]


def test_missing_columns_are_named():
    problems = check_benchmarks(table({}).drop("source", "lower_95"), KNOWN)
    assert len(problems) == 1
    assert "no column lower_95, source" in problems[0]
    assert ", ".join(BENCHMARK_COLUMNS) in problems[0]


def test_extra_columns_are_allowed():
    assert check_benchmarks(table({}).with_columns(pl.lit("n").alias("notes")), KNOWN) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"source": ""}, "row 2, column source: empty; every benchmark names its publisher"),
        ({"source": "   "}, "row 2, column source: empty"),
        ({"area_level": "ics"}, "row 2, column area_level: 'ics' is none of england, region, peer"),
        ({"area_level": "England"}, "row 2, column area_level: 'England' is none of"),
        ({"period_type": "year"}, "row 2, column period_type: 'year' is none of rolling_12m"),
        ({"period_end": "31/12/2022"}, "row 2, column period_end: '31/12/2022' is not a date"),
        ({"period_end": "20221231"}, "row 2, column period_end: '20221231' is not a date"),
        ({"period_end": "2022-02-30"}, "row 2, column period_end: '2022-02-30' is not a date"),
        ({"value": "43.4%"}, "row 2, column value: '43.4%' is not a number"),
        ({"lower_95": "nan"}, "row 2, column lower_95: 'nan' is not a number"),
        ({"upper_95": "n/a"}, "row 2, column upper_95: 'n/a' is not a number"),
        ({"lower_95": "44"}, "row 2, column lower_95: 44 is above the value 43.4"),
        ({"upper_95": "43"}, "row 2, column upper_95: 43 is below the value 43.4"),
        ({"upper_95": ""}, "row 2, column upper_95: empty while the other limit is not"),
        ({"lower_95": ""}, "row 2, column lower_95: empty while the other limit is not"),
        ({"indicator_id": "PD7"}, "row 2, column indicator_id: 'PD7' is no indicator of the"),
        ({"area_code": ""}, "row 2, column area_code: empty; every benchmark names its area"),
        ({"area_name": ""}, "row 2, column area_name: empty"),
    ],
)
def test_each_problem_names_its_row_and_column(change, expected):
    problems = check_benchmarks(table({"period_end": "2021-12-31"}, change), KNOWN)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_limits_the_wrong_way_round_without_a_value():
    rows = table({"value": "", "lower_95": "44", "upper_95": "43"})
    assert check_benchmarks(rows, KNOWN) == ["row 1, column lower_95: 44 is above upper_95 43"]


def test_a_repeated_benchmark_names_both_rows():
    rows = table({}, {"indicator_id": "X02"}, {"value": "40", "lower_95": "", "upper_95": ""})
    assert check_benchmarks(rows, KNOWN) == [
        "row 3 repeats row 1: the same indicator, period type, period end, level and area "
        "(X01 calendar_year 2022-12-31 england E92000001)"
    ]


# --- the shipped England file -------------------------------------------------------------


def catalogue() -> dict[str, dict]:
    entries = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return {entry["id"]: entry for entry in entries}


def default_file() -> pl.DataFrame:
    return pl.read_csv(DEFAULT_FILE, infer_schema=False)


def test_the_default_england_file_passes_the_check():
    frame = default_file()
    assert frame.columns == list(BENCHMARK_COLUMNS)
    assert frame.height > 0
    assert check_benchmarks(frame, set(catalogue()) | V3_INDICATORS) == []


def test_every_default_figure_names_an_https_url_and_is_an_england_figure():
    for number, entry in enumerate(default_file().iter_rows(named=True), start=1):
        assert re.search(r"https://\S+", entry["source"]), f"row {number} has no https URL"
        assert entry["area_level"] == "england", number
        assert entry["value"], f"row {number} has no value"


def test_the_default_file_benchmarks_a_published_row():
    polarity = {i: e["polarity"] for i, e in catalogue().items()}
    rows = published(
        ("PD03", "rolling_12m", "2023-03-31", "all", 40.0, 42.0, False),
        ("MR01", "financial_year", "2022-03-31", "all", 900.0, 950.0, False),
    )
    out = attach(rows, default_file(), polarity)
    assert [
        (o["benchmark_period_end"], o["benchmark_value"], o["benchmark_comparison"]) for o in out
    ] == [
        (d("2022-12-31"), 43.4, "lower"),  # calendar 2022: 43.4% died in hospital
        (d("2021-12-31"), 984.7, "lower"),  # ONS 2021 ASMR per 100,000
    ]
