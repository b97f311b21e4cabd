"""The benchmarks of a release (diewell/release/benchmarking.py): the ICS's file or the
default England figures, checked before anything is published, and put beside the published
ICS rows with region and peer rows as an ICS adds them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from diewell.release.benchmarking import (
    BENCHMARKS_DTYPES,
    DEFAULT_BENCHMARKS,
    BenchmarksInvalid,
    benchmark_rows,
    benchmarks_path,
    read_benchmarks,
)
from diewell.transforms.benchmarks import BENCHMARK_COLUMNS

SOURCE = "A publisher, https://example.org/figures"


@dataclasses.dataclass
class FakeConfig:
    benchmarks: Path | None


def write(path: Path, rows: list[dict]) -> Path:
    pl.DataFrame(rows, schema={c: pl.String for c in BENCHMARK_COLUMNS}).write_csv(path)
    return path


def bench(level, code, name, value, indicator="PD03", end="2025-12-31", source=SOURCE):
    return {
        "indicator_id": indicator,
        "period_type": "calendar_year",
        "period_end": end,
        "area_level": level,
        "area_code": code,
        "area_name": name,
        "value": value,
        "lower_95": "",
        "upper_95": "",
        "source": source,
    }


def published(lower=40.0, upper=44.0, suppressed=False) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator_id": "PD03",
                "period_type": "rolling_12m",
                "period_end": dt.date(2026, 9, 30),
                "geography_level": "ics",
                "geography_code": "QXX",
                "breakdown": "all",
                "breakdown_value": "all",
                "value": None if suppressed else (lower + upper) / 2,
                "lower_95": None if suppressed else lower,
                "upper_95": None if suppressed else upper,
                "suppressed": suppressed,
            }
        ]
    )


def test_without_a_file_the_default_england_figures_are_used():
    assert benchmarks_path(FakeConfig(None)) == DEFAULT_BENCHMARKS
    frame = read_benchmarks(DEFAULT_BENCHMARKS)
    assert set(frame["area_level"]) == {"england"}
    hu06 = frame.filter(pl.col("indicator_id") == "HU06").to_dicts()
    # a survey of England and Wales: its own area, not England's code
    assert [(r["area_code"], r["area_name"]) for r in hu06] == [("K04000001", "England and Wales")]


def test_a_bad_file_is_refused_naming_each_problem(tmp_path):
    path = write(
        tmp_path / "benchmarks.csv",
        [
            bench("england", "E92000001", "England", "43.4", source=""),
            bench("county", "X1", "Somewhere", "forty"),
        ],
    )
    with pytest.raises(BenchmarksInvalid) as refused:
        read_benchmarks(path)
    message = str(refused.value)
    assert "nothing is published" in message
    assert "row 1, column source" in message
    assert "row 2, column area_level" in message and "row 2, column value" in message


def test_a_file_that_is_not_csv_is_refused(tmp_path):
    path = tmp_path / "benchmarks.csv"
    path.write_bytes(b"\xff\xfe\x00\x00not text")
    with pytest.raises(BenchmarksInvalid, match="cannot be read|problem"):
        read_benchmarks(path)


def test_an_ics_adds_region_and_peer_rows(tmp_path):
    path = write(
        tmp_path / "benchmarks.csv",
        [
            bench("england", "E92000001", "England", "43.4"),
            bench("region", "E40000006", "South West", "41.0"),
            bench("peer", "QOX", "Peer ICS one", "47.5"),
            bench("peer", "QR1", "Peer ICS two", "39.0"),
        ],
    )
    rows = benchmark_rows(published(), read_benchmarks(path), "QXX", "r1")
    assert rows.schema == pl.Schema(BENCHMARKS_DTYPES)
    found = {
        (r["benchmark_level"], r["benchmark_area_code"]): r["benchmark_comparison"]
        for r in rows.to_dicts()
    }
    # PD03 has no polarity: the ICS's interval 40-44 against each benchmark
    assert found == {
        ("england", "E92000001"): "similar",
        ("region", "E40000006"): "similar",
        ("peer", "QOX"): "lower",
        ("peer", "QR1"): "higher",
    }
    assert set(rows["geography_code"]) == {"QXX"} and set(rows["run_id"]) == {"r1"}
    assert set(rows["benchmark_period_type"]) == {"calendar_year"}


def test_a_suppressed_row_is_not_compared_and_a_region_release_has_no_benchmarks(tmp_path):
    path = write(tmp_path / "b.csv", [bench("england", "E92000001", "England", "43.4")])
    rows = benchmark_rows(published(suppressed=True), read_benchmarks(path), "QXX", "r1")
    assert rows["benchmark_comparison"].to_list() == ["not_compared"]
    assert benchmark_rows(published(), None, "QXX", "r1").is_empty()
