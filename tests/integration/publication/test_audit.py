"""Write -> audit -> publish on the synthetic ICS: a broken release never becomes current.

Each test publishes a good release into its own outputs folder, then tries a second one with
one thing broken, and checks that the audit names it, the staging folder is gone, and
`current` still points at the good release.
"""

from __future__ import annotations

import dataclasses
import json
import os

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diewell.release import control, promote, publish, schema
from diewell.release import files as release_files
from diewell.transforms.disclosure import apply_disclosure_control
from tests.integration.publication import release_helpers


def current(config) -> str:
    return os.readlink(config.outputs / "current")


def assert_previous_release_kept(config):
    assert current(config) == os.path.join("releases", "r-good")
    assert sorted(p.name for p in (config.outputs / "releases").iterdir()) == ["r-good"]
    staging = config.outputs / promote.STAGING
    assert not staging.exists() or not any(staging.iterdir())
    assert release_files.read_indicators(config.outputs / "current").num_rows > 0


def publish_broken(synthetic_run, config, values=None):
    values = synthetic_run.values if values is None else values
    with pytest.raises(schema.AuditFailed) as failed:
        release_helpers.publish(synthetic_run.con, values, config, "r-bad")
    assert_previous_release_kept(config)
    return str(failed.value)


def test_a_good_release_is_promoted_and_becomes_current(synthetic_run, outputs):
    release = release_helpers.publish(synthetic_run.con, synthetic_run.values, outputs, "r-next")
    assert release == outputs.outputs / "releases" / "r-next"
    assert current(outputs) == os.path.join("releases", "r-next")
    assert (outputs.outputs / "releases" / "r-good" / "manifest.json").is_file()  # kept
    assert not any((outputs.outputs / promote.STAGING).iterdir())


def test_skipping_the_rounding_fails_the_audit(synthetic_run, outputs, monkeypatch):
    def no_rounding(df, *, threshold, multiple, **kw):
        return apply_disclosure_control(df, threshold=threshold, multiple=1, **kw)

    monkeypatch.setattr(control, "apply_disclosure_control", no_rounding)
    reason = publish_broken(synthetic_run, outputs)
    assert "numerators are not the true count rounded to the nearest 5" in reason
    assert "denominators are not multiples of 5" in reason


def test_skipping_suppression_fails_the_audit(synthetic_run, outputs, monkeypatch):
    def rounding_only(df, *, threshold, multiple, **kw):
        return apply_disclosure_control(df, threshold=0, multiple=multiple, **kw)

    monkeypatch.setattr(control, "apply_disclosure_control", rounding_only)
    reason = publish_broken(synthetic_run, outputs)
    assert "published rows show a numerator whose true count is 1-7" in reason


def test_values_left_on_suppressed_rows_fail_the_audit(synthetic_run, outputs, monkeypatch):
    def values_kept(df, *, threshold, multiple, **kw):
        out = apply_disclosure_control(df, threshold=threshold, multiple=multiple, **kw)
        return out.with_columns(df["value"])

    monkeypatch.setattr(control, "apply_disclosure_control", values_kept)
    reason = publish_broken(synthetic_run, outputs)
    assert "suppressed rows still carry counts, a value, an interval or a trend" in reason


def test_a_row_count_differing_from_the_warehouse_fails_the_audit(synthetic_run, outputs):
    values = synthetic_run.values.slice(1)
    reason = publish_broken(synthetic_run, outputs, values)
    expected = f"{values.height} rows staged but mart_indicator_values holds {values.height + 1}"
    assert expected in reason


def test_an_nhs_number_in_a_published_name_fails_the_audit(synthetic_run, outputs):
    values = synthetic_run.values.with_columns(
        pl.when(pl.col("geography_level") == "practice")
        .then(pl.lit("Surgery of 943 476 5919"))
        .otherwise(pl.col("geography_name"))
        .alias("geography_name")
    )
    reason = publish_broken(synthetic_run, outputs, values)
    assert "indicators.geography_name: 1 strings shaped like an NHS number" in reason
    assert "5919" not in reason  # the reason names the column, never the value


def test_a_column_outside_the_schema_fails_before_anything_is_written(synthetic_run, outputs):
    values = synthetic_run.values.with_columns(pl.lit("x").alias("person_id"))
    reason = publish_broken(synthetic_run, outputs, values)
    assert "person_id" in reason and "bump schema_version" in reason


def test_a_trend_marker_outside_the_schema_fails_the_audit(synthetic_run, outputs, monkeypatch):
    def going_up(df, **kw):
        return apply_disclosure_control(df, **kw).with_columns(pl.lit("going_up").alias("trend"))

    monkeypatch.setattr(control, "apply_disclosure_control", going_up)
    reason = publish_broken(synthetic_run, outputs)
    assert "indicators.trend: 1 value(s) outside" in reason


def test_a_corrupted_file_fails_the_audit(synthetic_run, outputs, monkeypatch):
    write = release_files.write_release

    def retyped(folder, *args):
        write(folder, *args)
        part = sorted((folder / release_files.INDICATORS_DIR).rglob("*.parquet"))[0]
        table = pq.read_table(part)
        i = table.schema.get_field_index("numerator")
        pq.write_table(
            table.set_column(i, "numerator", table["numerator"].cast(pa.float64())), part
        )

    monkeypatch.setattr(publish, "write_release", retyped)
    reason = publish_broken(synthetic_run, outputs)
    assert "does not have the committed column schema" in reason


def test_a_manifest_that_does_not_match_the_files_fails_the_audit(
    synthetic_run, outputs, monkeypatch
):
    write = release_files.write_release

    def miscounted(folder, *args):
        write(folder, *args)
        path = folder / release_files.MANIFEST_FILE
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["row_counts"]["indicators"] += 1
        manifest["files"][0]["sha256"] = "0" * 64
        path.write_text(json.dumps(manifest), encoding="utf-8")

    monkeypatch.setattr(publish, "write_release", miscounted)
    reason = publish_broken(synthetic_run, outputs)
    assert "manifest.json: row_counts.indicators is not" in reason
    assert "checksum differs" in reason


def test_an_audit_failure_fails_the_run_and_is_logged(synthetic_run, outputs, monkeypatch, caplog):
    def no_rounding(df, *, threshold, multiple, **kw):
        return apply_disclosure_control(df, threshold=threshold, multiple=1, **kw)

    monkeypatch.setattr(control, "apply_disclosure_control", no_rounding)
    with pytest.raises(schema.AuditFailed, match="not the true count rounded"):
        release_helpers.publish_release(synthetic_run.con, outputs, "r-bad")
    assert "the previous release stays current" in caplog.text
    assert_previous_release_kept(outputs)


def test_the_warehouse_keeps_the_exact_figures(synthetic_run, outputs):
    """Disclosure control touches only the published copy: mart_indicator_values stays exact."""
    exact = synthetic_run.con.sql(
        "SELECT count(*) FILTER (numerator BETWEEN 1 AND 7), "
        "count(*) FILTER (numerator % 5 <> 0), count(*) FILTER (suppressed) "
        "FROM mart_indicator_values"
    ).fetchall()[0]
    small, unrounded, suppressed = exact
    assert small > 0 and unrounded > 0 and suppressed == 0
    published = release_files.read_indicators(outputs.outputs / "current")
    assert pl.from_arrow(published)["suppressed"].sum() > 0


def test_the_trend_is_worked_out_from_the_published_counts(synthetic_run, outputs):
    # Whatever marker the warehouse holds, the release carries the one its own counts give.
    values = synthetic_run.values.with_columns(pl.lit("increasing").alias("trend"))
    release = release_helpers.publish(synthetic_run.con, values, outputs, "r-trend")
    published = pl.from_arrow(release_files.read_indicators(release))
    assert (
        published.filter(pl.col("suppressed"))["trend"].null_count()
        == published["suppressed"].sum()
    )
    proportions = published.filter(pl.col("statistic") == "proportion")
    assert set(proportions["trend"].drop_nulls()) - {"increasing"}  # not copied through


def test_values_from_the_exact_counts_fail_the_audit(synthetic_run, outputs, monkeypatch):
    """The v1 release: rounded counts beside values and limits worked out from exact ones."""

    def exact_values(df, **kw):
        out = apply_disclosure_control(df, **kw)
        return out.with_columns(
            pl.when(pl.col("suppressed")).then(None).otherwise(df[c]).alias(c)
            for c in ("value", "lower_95", "upper_95", "lower_99_8", "upper_99_8")
        )

    monkeypatch.setattr(control, "apply_disclosure_control", exact_values)
    reason = publish_broken(synthetic_run, outputs)
    assert "published values or intervals do not follow from the published counts" in reason


def test_a_place_of_death_set_hiding_one_place_fails_the_audit(synthetic_run, outputs, monkeypatch):
    def breakdowns_only(df, **kw):
        return apply_disclosure_control(df, **{**kw, "shared_denominators": {}})

    monkeypatch.setattr(control, "apply_disclosure_control", breakdowns_only)
    reason = publish_broken(synthetic_run, outputs)
    assert "shared-denominator sets (such as PD01-PD05) hide exactly one cell" in reason


def test_exact_input_row_counts_in_the_manifest_fail_the_audit(synthetic_run, outputs, monkeypatch):
    write = release_files.write_release

    def exact_rows(folder, *args):
        write(folder, *args)
        path = folder / release_files.MANIFEST_FILE
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["inputs"][0]["rows_loaded"] = 3
        path.write_text(json.dumps(manifest), encoding="utf-8")

    monkeypatch.setattr(publish, "write_release", exact_rows)
    reason = publish_broken(synthetic_run, outputs)
    assert "inputs show rows_loaded that are not published counts" in reason


def test_the_manifest_publishes_input_row_counts_as_counts(synthetic_run, outputs):
    manifest = json.loads(
        (outputs.outputs / "current" / release_files.MANIFEST_FILE).read_text(encoding="utf-8")
    )
    exact = dict(
        synthetic_run.con.execute(
            "SELECT file_name, rows_loaded FROM landing_files WHERE status = 'loaded'"
        ).fetchall()
    )
    assert any(1 <= n <= 7 for n in exact.values())  # the fixture has small files to protect
    for entry in manifest["inputs"]:
        n = exact[entry["file_name"]]
        assert entry["rows_loaded"] == (None if 1 <= n <= 7 else (n + 2) // 5 * 5)


def test_the_configured_disclosure_settings_are_applied_and_audited(synthetic_run, outputs, caplog):
    config = dataclasses.replace(outputs, suppress_up_to=10, round_to=10)
    release = release_helpers.publish(synthetic_run.con, synthetic_run.values, config, "r-10-10")
    assert "a count of 11 is published as 10" in caplog.text
    published = pl.from_arrow(release_files.read_indicators(release))
    counts = pl.concat([published["numerator"], published["denominator"]]).drop_nulls()
    assert (counts % 10 == 0).all()
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["disclosure"] == {
        "suppress_up_to": 10,
        "round_to": 10,
        "smallest_published_count": 10,
    }


def test_a_release_is_on_disk_before_current_points_at_it(synthetic_run, outputs, monkeypatch):
    """Issue 11, item 11: every file, and every folder's entries, is flushed (fsync) before
    the rename that makes it visible, so a power cut cannot leave `current` on empty files."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    release = release_helpers.publish(synthetic_run.con, synthetic_run.values, outputs, "r-durable")
    staging = outputs.outputs / promote.STAGING / "r-durable"
    renamed = events.index(("replace", os.fspath(release)))
    flushed_before = {path for kind, path in events[:renamed] if kind == "fsync"}
    written = {os.fspath(staging / p.relative_to(release)) for p in release.rglob("*")}
    assert written and written <= flushed_before  # every file and folder of the release
    assert os.fspath(staging) in flushed_before
    switched = events.index(("replace", os.fspath(outputs.outputs / "current")))
    assert ("fsync", os.fspath(outputs.outputs)) in events[switched:]
    assert ("fsync", os.fspath(outputs.outputs / "releases")) in events[renamed:switched]
