"""The regional release (diewell/region.py): three ICS releases written from literal rows,
combined, audited and promoted like an ICS release, its manifest naming each ICS release."""

from __future__ import annotations

import json
import os

import polars as pl
import pytest
import yaml

from diewell.config import load_region_config
from diewell.release import control, promote, schema
from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.release.region import RegionError, publish_region, read_ics_release
from diewell.warehouse.indicators import schema as output_schema
from tests.unit.test_regional import SCHEMA, row

# (code, PD01 all, PD01 male, PD01 female): published counts (numerator, denominator)
ICSS = [
    ("QAA", (40, 100), (20, 50), (20, 50)),
    ("QBB", (25, 50), (10, 20), (15, 30)),
    ("QCC", (10, 20), (0, 10), (10, 10)),
]


def ics_release(outputs, code, everyone, male, female, run_id):
    rows = pl.DataFrame(
        [
            row(code, *everyone, run_id=run_id, schema_version=output_schema.SCHEMA_VERSION),
            row(code, *male, breakdown="sex", breakdown_value="male", run_id=run_id),
            row(code, *female, breakdown="sex", breakdown_value="female", run_id=run_id),
        ],
        schema=SCHEMA,
    ).with_columns(pl.lit(output_schema.SCHEMA_VERSION).alias("schema_version"))
    folder = outputs / promote.RELEASES / run_id
    with control.rows_in_duckdb(rows) as con:
        release_files.write_release_files(folder, con)
    manifest = {"schema_version": output_schema.SCHEMA_VERSION, "run_id": run_id}
    release_files.write_manifest(folder, {**manifest, "ics": {"code": code, "name": f"ICS {code}"}})
    promote.point_current_at(outputs, run_id)


@pytest.fixture
def region(tmp_path):
    entries = []
    for code, everyone, male, female in ICSS:
        ics_release(tmp_path / code, code, everyone, male, female, f"r-{code.lower()}")
        entries.append({"deployment": f"diewell-refresh/{code.lower()}", "outputs": f"{code}"})
    path = tmp_path / "region.yaml"
    path.write_text(
        yaml.safe_dump(
            {"region": {"code": "Y60", "name": "Test region"}, "outputs": "out", "ics": entries}
        ),
        encoding="utf-8",
    )
    return load_region_config(path)


def test_the_regional_release_holds_the_sums_and_names_its_ics_releases(region):
    releases = [read_ics_release(s) for s in region.ics]
    before = os.umask(0o077)  # as the regional flow runs
    try:
        release = publish_region(region, releases, {"diewell-refresh/qaa": "flow-run-1"})
    finally:
        os.umask(before)
    assert (region.outputs / "current").resolve() == release

    rows = pl.read_parquet(release / release_files.FLAT_PARQUET_FILE)
    figures = {
        r["breakdown_value"]: (r["numerator"], r["denominator"], r["suppressed"])
        for r in rows.to_dicts()
    }
    # 40+25+10 of 100+50+20; 20+10+0 of 50+20+10; 20+15+10 of 50+30+10
    assert figures == {"all": (75, 170, False), "male": (30, 80, False), "female": (45, 90, False)}
    assert set(rows["geography_level"]) == {"region"}
    assert set(rows["run_id"]) == {release.name}

    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["region"] == {"code": "Y60", "name": "Test region"}
    assert [(i["code"], i["run_id"], i["flow_run_id"]) for i in manifest["ics_releases"]] == [
        ("QAA", "r-qaa", "flow-run-1"),
        ("QBB", "r-qbb", None),
        ("QCC", "r-qcc", None),
    ]
    assert (release / "indicators.schema.json").is_file()
    assert (release / "manifest.json").stat().st_mode & 0o777 == 0o644  # open to readers
    assert not (region.outputs / promote.STAGING / release.name).exists()

    # the same ICS releases again: the same release, published once
    assert publish_region(region, releases) == release


def test_an_ics_that_has_published_nothing_is_named(region, tmp_path):
    (tmp_path / "QBB" / "current").unlink()
    with pytest.raises(RegionError, match="diewell-refresh/qbb: no current release"):
        read_ics_release(region.ics[1])


def test_a_release_breaking_disclosure_control_fails_the_audit_and_publishes_nothing(
    region, monkeypatch
):
    releases = [read_ics_release(s) for s in region.ics]
    monkeypatch.setattr(  # a region publishing its counts unrounded
        control,
        "controlled_rows",
        lambda values, threshold, multiple, run_id: values.with_columns(
            pl.col("numerator") + 1,
            pl.lit(run_id).alias("run_id"),
            pl.lit(output_schema.SCHEMA_VERSION).alias("schema_version"),
        ).select(release_schema.OUTPUT_SCHEMA.names),
    )
    with pytest.raises(schema.AuditFailed, match="not multiples of 5"):
        publish_region(region, releases)
    assert not (region.outputs / "current").exists()
