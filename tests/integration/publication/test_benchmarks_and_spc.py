"""The v3 tables of a release on the synthetic ICS: benchmarks.parquet and spc.parquet in every
release (schema, manifest, disclosure rules), an audit that refuses them broken, an ICS's own
benchmarks file with region and peer rows, and a bad benchmarks file failing the run before
anything is published."""

from __future__ import annotations

import dataclasses
import json
import os

import polars as pl
import pyarrow.parquet as pq
import pytest

from diewell.release import control, promote, schema
from diewell.release import files as release_files
from diewell.release.benchmarking import DEFAULT_BENCHMARKS, BenchmarksInvalid
from diewell.transforms.benchmarks import BENCHMARK_COLUMNS
from diewell.warehouse.indicators.catalogue import spc_indicators
from diewell.warehouse.indicators.schema import SCHEMA_VERSION
from tests.integration.publication import release_helpers
from tests.integration.publication.test_schema import conforms, load


def current(config) -> str:
    return os.readlink(config.outputs / "current")


def test_every_release_holds_both_tables_conforming_to_their_schemas(synthetic_run):
    release = synthetic_run.release
    for name, path in (("benchmarks.parquet", "benchmarks"), ("spc.parquet", "spc")):
        table = pq.read_table(release / name)
        committed = load(release / f"{path}.schema.json")
        assert committed["schema_version"] == SCHEMA_VERSION
        assert conforms(table, committed) == [], name
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    for name in ("benchmarks.parquet", "spc.parquet"):
        assert listed[name]["rows"] == pq.read_metadata(release / name).num_rows > 0
    assert manifest["schemas"] == {
        "indicators": "indicators.schema.json",
        "indicator_catalogue": "indicator_catalogue.schema.json",
        "benchmarks": "benchmarks.schema.json",
        "spc": "spc.schema.json",
    }


def test_benchmarks_stand_beside_published_ics_rows_only(synthetic_run):
    release = synthetic_run.release
    bench = pl.read_parquet(release / "benchmarks.parquet")
    ics = pl.read_parquet(release / "indicators", hive_partitioning=True).filter(
        (pl.col("geography_level") == "ics") & (pl.col("breakdown") == "all")
    )
    key = ["indicator_id", "period_type", "period_end"]
    joined = bench.join(ics, on=key, how="left", suffix="_ics")
    assert joined["value"].len() == bench.height
    assert (joined["benchmark_period_end"] <= joined["period_end"]).all()
    inside = joined.filter(
        ~pl.col("suppressed")
        & pl.col("lower_95").is_not_null()
        & pl.col("benchmark_value").is_between(pl.col("lower_95"), pl.col("upper_95"))
    )
    assert set(inside["benchmark_comparison"]) <= {"similar"}
    assert set(joined.filter(pl.col("suppressed"))["benchmark_comparison"]) <= {"not_compared"}
    assert "HU06" in set(bench["indicator_id"])  # the England and Wales survey figure


def test_the_monthly_series_is_published_as_the_rules_say(synthetic_run):
    spc = pl.read_parquet(synthetic_run.release / "spc.parquet")
    assert set(spc["indicator_id"]) == {i.id for i in spc_indicators()}
    assert not spc.select("indicator_id", "period_end").is_duplicated().any()
    shown = spc.filter(~pl.col("suppressed"))
    assert (shown["numerator"] % 5 == 0).all() and (shown["denominator"] % 5 == 0).all()
    assert not shown["numerator"].is_between(1, 9).any()
    with_people = shown.filter(pl.col("denominator") > 0)
    assert (
        (with_people["value"] - 100 * with_people["numerator"] / with_people["denominator"]).abs()
        < 1e-9
    ).all()
    hidden = spc.filter(pl.col("suppressed"))
    assert hidden["value"].is_null().all() and hidden["shift"].is_null().all()
    # HU06 looks back 90 days over A&E: it starts three months after the place of death
    first = {k[0]: g["period_end"].min() for k, g in spc.group_by("indicator_id")}
    assert first["HU06"] > first["PD01"]


def test_a_chart_not_from_the_published_values_fails_the_audit(synthetic_run, outputs, monkeypatch):
    made = release_files.spc_rows

    def moved(*args, **kwargs):
        return made(*args, **kwargs).with_columns(pl.col("centre_line") + 1)

    monkeypatch.setattr(release_files, "spc_rows", moved)
    with pytest.raises(schema.AuditFailed, match="centre_line.*rule 4"):
        release_helpers.publish(synthetic_run.con, synthetic_run.values, outputs, "r-bad")
    assert current(outputs) == os.path.join("releases", "r-good")
    assert not any((outputs.outputs / promote.STAGING).iterdir())


def test_a_comparison_not_from_the_published_interval_fails_the_audit(
    synthetic_run, outputs, monkeypatch
):
    made = release_files.benchmark_rows

    def flipped(*args, **kwargs):
        return made(*args, **kwargs).with_columns(pl.lit("better").alias("benchmark_comparison"))

    monkeypatch.setattr(release_files, "benchmark_rows", flipped)
    with pytest.raises(schema.AuditFailed, match="benchmarks: the .* rows are not"):
        release_helpers.publish(synthetic_run.con, synthetic_run.values, outputs, "r-bad")
    assert current(outputs) == os.path.join("releases", "r-good")


def _benchmarks_file(path, extra: list[dict]):
    rows = pl.read_csv(DEFAULT_BENCHMARKS, infer_schema=False)
    rows = pl.concat([rows, pl.DataFrame(extra, schema={c: pl.String for c in rows.columns})])
    rows.write_csv(path)
    return path


def test_an_ics_adds_region_and_peer_benchmarks(synthetic_run, outputs, tmp_path):
    extra = [
        {
            "indicator_id": "PD03",
            "period_type": "calendar_year",
            "period_end": "2025-12-31",
            "area_level": level,
            "area_code": code,
            "area_name": name,
            "value": value,
            "lower_95": "",
            "upper_95": "",
            "source": "A test figure, https://example.org",
        }
        for level, code, name, value in (
            ("region", "E40000006", "South West", "41.5"),
            ("peer", "QOX", "A peer ICS", "47.0"),
        )
    ]
    config = dataclasses.replace(outputs, benchmarks=_benchmarks_file(tmp_path / "ours.csv", extra))
    release = release_helpers.publish(synthetic_run.con, synthetic_run.values, config, "r-ours")
    bench = pl.read_parquet(release / "benchmarks.parquet").filter(
        (pl.col("indicator_id") == "PD03")
        & (pl.col("period_type") == "rolling_12m")
        & (pl.col("period_end") == pl.col("period_end").max())
    )
    assert set(bench["benchmark_level"]) == {"england", "region", "peer"}
    assert set(bench["benchmark_area"]) == {"England", "South West", "A peer ICS"}
    page = (release / "report.html").read_text(encoding="utf-8")
    assert "A peer ICS (peer, 2025)" in page and "South West (region, 2025)" in page


def test_a_bad_benchmarks_file_fails_before_anything_is_published(synthetic_run, outputs, tmp_path):
    bad = tmp_path / "bad.csv"
    rows = pl.read_csv(DEFAULT_BENCHMARKS, infer_schema=False).head(2)
    rows.with_columns(pl.lit("").alias("source")).select(BENCHMARK_COLUMNS).write_csv(bad)
    config = dataclasses.replace(outputs, benchmarks=bad)
    # the disclosure control step checks it first of all ...
    with pytest.raises(BenchmarksInvalid, match="row 1, column source"):
        control.control_release(synthetic_run.con, config, "r-bad")
    # ... and publishing reads it again before writing anything
    with pytest.raises(BenchmarksInvalid, match="2 problem"):
        release_helpers.publish(synthetic_run.con, synthetic_run.values, config, "r-bad")
    assert current(outputs) == os.path.join("releases", "r-good")
    assert sorted(p.name for p in (outputs.outputs / "releases").iterdir()) == ["r-good"]
    assert not any((outputs.outputs / promote.STAGING).iterdir())
