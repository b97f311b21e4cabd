"""The output schema: the committed Table Schemas, the changelog rule, and conformance of the
published files of the synthetic ICS to them (checked here independently of the audit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.warehouse.indicators import schema as output_schema
from tests.conftest import REPO

SCHEMAS = list(output_schema.SCHEMA_PATHS.values())  # indicators, catalogue, benchmarks, spc

# indicators.md "Published output", in order, with `trend` after `comparison`.
SPEC_COLUMNS = """indicator_id indicator_name period_type period_start period_end geography_level
geography_code geography_name breakdown breakdown_value numerator denominator value lower_95
upper_95 lower_99_8 upper_99_8 unit statistic polarity comparator_value comparison trend
suppressed data_complete run_id schema_version""".split()
DATES = {"period_start", "period_end"}
COUNTS = {"numerator", "denominator"}
VALUES = {"value", "lower_95", "upper_95", "lower_99_8", "upper_99_8", "comparator_value"}
FLAGS = {"suppressed", "data_complete"}
CATALOGUE_COLUMNS = """indicator_id indicator_name definition numerator denominator statistic
polarity unit source_extracts""".split()
TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# The committed schemas


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_each_schema_is_a_well_formed_table_schema(path):
    schema = load(path)
    names = [f["name"] for f in schema["fields"]]
    assert len(names) == len(set(names))
    for field in schema["fields"]:
        assert field["type"] in TYPES, field["name"]
        assert field.get("description"), f"{field['name']} has no description"
        assert set(field.get("constraints", {})) <= {
            "required",
            "enum",
            "pattern",
            "minimum",
            "unique",
        }
    for key in schema["primaryKey"]:
        field = next(f for f in schema["fields"] if f["name"] == key)
        assert field["constraints"]["required"], key
    assert re.fullmatch(r"\d+\.\d+\.\d+", schema["schema_version"])


def test_the_indicators_schema_is_the_spec_contract():
    schema = load(output_schema.INDICATORS_SCHEMA_PATH)
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == SPEC_COLUMNS
    for name, field in fields.items():
        expected = (
            "date"
            if name in DATES
            else "integer"
            if name in COUNTS
            else "number"
            if name in VALUES
            else "boolean"
            if name in FLAGS
            else "string"
        )
        assert field["type"] == expected, name
    assert schema["partitioning"] == {"style": "hive", "fields": ["period_type", "period_end"]}
    assert schema["primaryKey"] == [
        "indicator_id",
        "period_type",
        "period_end",
        "geography_level",
        "geography_code",
        "breakdown",
        "breakdown_value",
    ]
    assert fields["trend"]["constraints"]["required"] is False
    assert "imd_sii" in fields["breakdown"]["constraints"]["enum"]


def test_the_catalogue_schema_holds_the_spec_columns():
    assert [
        f["name"] for f in load(output_schema.CATALOGUE_SCHEMA_PATH)["fields"]
    ] == CATALOGUE_COLUMNS


def test_the_code_writes_what_the_schema_says():
    assert release_schema.OUTPUT_SCHEMA.names == SPEC_COLUMNS
    types = dict(
        zip(release_schema.OUTPUT_SCHEMA.names, release_schema.OUTPUT_SCHEMA.types, strict=True)
    )
    assert {types[c] for c in DATES} == {pa.date32()}
    assert {types[c] for c in COUNTS} == {pa.int64()}
    assert {types[c] for c in VALUES} == {pa.float64()}
    assert {types[c] for c in FLAGS} == {pa.bool_()}
    versions = {load(p)["schema_version"] for p in SCHEMAS}
    assert versions == {output_schema.SCHEMA_VERSION}


def test_the_schemas_ship_with_the_package():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["diewell.warehouse.indicators"]
    assert "schemas/*.json" in shipped


# --------------------------------------------------------------------------------------------
# The changelog rule


def changelog_entries() -> list[tuple[str, str]]:
    """(version, section text) of every `## [x.y.z]` entry of CHANGELOG.md, in file order."""
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    parts = re.split(r"^## \[(\d+\.\d+\.\d+)\]", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_every_schema_change_bumps_the_version_and_is_in_the_changelog():
    entries = changelog_entries()
    fingerprint = release_schema.schema_fingerprint()
    how = (
        f"The output schema's fingerprint is now {fingerprint}. If you changed the schema "
        "(warehouse/indicators/schemas/*.schema.json), bump schema_version in every schema file "
        "(major: removed/renamed/retyped/moved column or removed value; minor: added column "
        "or value) and add a CHANGELOG.md entry, newest first, with "
        f"'Schema fingerprint: `{fingerprint}`' and what changed for the dashboard team."
    )
    assert entries, "CHANGELOG.md has no '## [x.y.z]' entry. " + how
    version, section = entries[0]
    assert version == output_schema.SCHEMA_VERSION, (
        f"The newest CHANGELOG.md entry is {version}, the schema says "
        f"{output_schema.SCHEMA_VERSION}. " + how
    )
    recorded = re.search(r"Schema fingerprint: `([0-9a-f]{16})`", section)
    assert recorded and recorded[1] == fingerprint, (
        f"CHANGELOG.md records fingerprint {recorded and recorded[1]} for "
        f"{output_schema.SCHEMA_VERSION}. " + how
    )


def test_changelog_versions_are_newest_first_and_each_has_a_fingerprint():
    entries = changelog_entries()
    versions = [tuple(int(x) for x in v.split(".")) for v, _ in entries]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    for version, section in entries:
        assert re.search(r"Schema fingerprint: `[0-9a-f]{16}`", section), version


def test_the_fingerprint_ignores_descriptions_but_not_structure(monkeypatch):
    before = release_schema.schema_fingerprint()
    schema = json.loads(json.dumps(output_schema.INDICATORS_TABLE_SCHEMA))
    monkeypatch.setattr(release_schema, "INDICATORS_TABLE_SCHEMA", schema)
    schema["fields"][0]["description"] = "reworded"
    assert release_schema.schema_fingerprint() == before
    schema["fields"][-1]["type"] = "integer"
    assert release_schema.schema_fingerprint() != before


# --------------------------------------------------------------------------------------------
# The published files conform (an independent check, row by row)


def conforms(table: pa.Table, schema: dict, fields: list[str] | None = None) -> list[str]:
    problems = []
    by_name = {f["name"]: f for f in schema["fields"]}
    fields = fields or list(by_name)
    if table.schema.names != fields:
        return [f"columns {table.schema.names} != {fields}"]
    for name in fields:
        field, column = by_name[name], table[name]
        if column.type != TYPES[field["type"]]:
            problems.append(f"{name}: {column.type} is not {field['type']}")
        rules = field.get("constraints", {})
        values = column.to_pylist()
        for v in values:
            if v is None:
                if rules.get("required"):
                    problems.append(f"{name}: null in a required column")
                    break
                continue
            if "enum" in rules and v not in rules["enum"]:
                problems.append(f"{name}: {v!r} not allowed")
                break
            if "pattern" in rules and not re.fullmatch(rules["pattern"], v):
                problems.append(f"{name}: {v!r} does not match {rules['pattern']}")
                break
            if "minimum" in rules and v < rules["minimum"]:
                problems.append(f"{name}: {v} below {rules['minimum']}")
                break
        if rules.get("unique") and len(set(values)) != len(values):
            problems.append(f"{name}: not unique")
    key = schema.get("primaryKey")
    if key and all(k in fields for k in key):
        keys = list(zip(*(table[k].to_pylist() for k in key), strict=True))
        if len(set(keys)) != len(keys):
            problems.append("primary key repeated")
    return problems


def test_every_published_indicator_file_conforms(synthetic_run):
    schema = load(output_schema.INDICATORS_SCHEMA_PATH)
    partitions = schema["partitioning"]["fields"]
    in_files = [f["name"] for f in schema["fields"] if f["name"] not in partitions]
    folder = synthetic_run.release / "indicators"
    files = sorted(folder.rglob("*.parquet"))
    assert files
    period_types = {f["name"]: f for f in schema["fields"]}["period_type"]["constraints"]["enum"]
    for path in files:
        parts = path.relative_to(folder).parts
        assert re.fullmatch(r"period_type=[a-z0-9_]+", parts[0]), parts
        assert re.fullmatch(r"period_end=\d{4}-\d{2}-\d{2}", parts[1]), parts
        assert parts[0].split("=")[1] in period_types
        dt.date.fromisoformat(parts[1].split("=")[1])
        assert conforms(pq.read_table(path, partitioning=None), schema, in_files) == [], path


def test_the_whole_published_table_conforms(synthetic_run):
    table = release_files.read_indicators(synthetic_run.release)
    assert conforms(table, load(output_schema.INDICATORS_SCHEMA_PATH)) == []
    assert set(table["run_id"].to_pylist()) == {synthetic_run.release_id}
    assert set(table["schema_version"].to_pylist()) == {output_schema.SCHEMA_VERSION}


def test_the_published_catalogue_conforms_and_covers_every_indicator(synthetic_run):
    catalogue = pq.read_table(synthetic_run.release / "indicator_catalogue.parquet")
    assert conforms(catalogue, load(output_schema.CATALOGUE_SCHEMA_PATH)) == []
    published = set(
        release_files.read_indicators(synthetic_run.release)["indicator_id"].to_pylist()
    )
    assert published <= set(catalogue["indicator_id"].to_pylist())


def test_the_release_carries_its_schemas(synthetic_run):
    for path in SCHEMAS:
        assert (synthetic_run.release / path.name).read_bytes() == path.read_bytes()


# --------------------------------------------------------------------------------------------
# The manifest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_manifest_describes_the_release(synthetic_run):
    release = synthetic_run.release
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema_version"] == output_schema.SCHEMA_VERSION
    assert manifest["schema_fingerprint"] == release_schema.schema_fingerprint()
    assert manifest["run_id"] == synthetic_run.release_id == release.name
    created = dt.datetime.fromisoformat(manifest["created_at"])
    assert created.tzinfo is not None
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - created < dt.timedelta(hours=2)
    indicators = release_files.read_indicators(release)
    assert manifest["row_counts"] == {
        "indicators": indicators.num_rows,
        "indicators_suppressed": sum(indicators["suppressed"].to_pylist()),
        "indicator_catalogue": pq.read_metadata(release / "indicator_catalogue.parquet").num_rows,
    }
    assert manifest["disclosure"] == {
        "suppress_up_to": 7,
        "round_to": 5,
        "smallest_published_count": 10,
    }
    assert manifest["parquet"]["compression"] == "snappy"
    assert manifest["parquet"]["row_group_size"] == 100_000
    written = sorted(p.relative_to(release).as_posix() for p in release.rglob("*.parquet"))
    assert [f["path"] for f in manifest["files"]] == [*written, "indicators.csv"]
    for entry in manifest["files"]:
        assert entry["sha256"] == sha256(release / entry["path"])
        if entry["path"].endswith(".parquet"):
            assert entry["rows"] == pq.read_metadata(release / entry["path"]).num_rows
    csv_lines = (release / "indicators.csv").read_bytes().count(b"\r\n")
    assert manifest["files"][-1]["rows"] == csv_lines - 1  # the header


def test_the_manifest_lists_every_loaded_input_with_its_checksum(synthetic_run):
    manifest = json.loads((synthetic_run.release / "manifest.json").read_text(encoding="utf-8"))
    archived = {p.name: p for p in synthetic_run.config.archive.rglob("*") if p.is_file()}
    loaded = synthetic_run.con.sql(
        "SELECT count(*) FROM landing_files WHERE status = 'loaded'"
    ).fetchall()[0][0]
    assert len(manifest["inputs"]) == loaded > 100
    for entry in manifest["inputs"]:
        assert set(entry) == {
            "file_name",
            "extract",
            "provider",
            "period_end",
            "sha256",
            "rows_loaded",
        }
        assert entry["sha256"] == sha256(archived[entry["file_name"]]), entry["file_name"]
