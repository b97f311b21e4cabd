"""The indicator table's schema, one source for the warehouse, the release and the tests.

The published table's columns, their types and its key are data: `schemas/indicators.schema.json`
(a Frictionless Table Schema, with `schema_version`; docs/OUTPUTS.md explains it and
CHANGELOG.md lists every version), beside the catalogue, the benchmarks and the monthly SPC
series it publishes with (`schemas/indicator_catalogue.schema.json`, `benchmarks.schema.json`,
`spc.schema.json`: one schema_version for all four). The exact values the warehouse computes
(mart_indicator_values) have the same columns but `schema_version`, which is set on
publishing; everything here is derived from these files.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
INDICATORS_SCHEMA_PATH = SCHEMA_DIR / "indicators.schema.json"
CATALOGUE_SCHEMA_PATH = SCHEMA_DIR / "indicator_catalogue.schema.json"
# v3: the benchmarks beside the ICS's rows and the monthly SPC series (indicators.md v3)
BENCHMARKS_SCHEMA_PATH = SCHEMA_DIR / "benchmarks.schema.json"
SPC_SCHEMA_PATH = SCHEMA_DIR / "spc.schema.json"
# Every table of a release, each with its committed schema; they share one schema_version.
SCHEMA_PATHS = {
    "indicators": INDICATORS_SCHEMA_PATH,
    "indicator_catalogue": CATALOGUE_SCHEMA_PATH,
    "benchmarks": BENCHMARKS_SCHEMA_PATH,
    "spc": SPC_SCHEMA_PATH,
}

# Table Schema field types, as Polars types.
POLARS_TYPES = {
    "string": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "boolean": pl.Boolean,
    "date": pl.Date,
}


def load_table_schema(path: Path) -> dict:
    """A committed Table Schema (JSON)."""
    return json.loads(path.read_text(encoding="utf-8"))


INDICATORS_TABLE_SCHEMA = load_table_schema(INDICATORS_SCHEMA_PATH)
CATALOGUE_TABLE_SCHEMA = load_table_schema(CATALOGUE_SCHEMA_PATH)
BENCHMARKS_TABLE_SCHEMA = load_table_schema(BENCHMARKS_SCHEMA_PATH)
SPC_TABLE_SCHEMA = load_table_schema(SPC_SCHEMA_PATH)
SCHEMA_VERSION: str = INDICATORS_TABLE_SCHEMA["schema_version"]
# The published columns and their types, in the file's order.
OUTPUT_DTYPES: dict[str, pl.DataType] = {
    f["name"]: POLARS_TYPES[f["type"]] for f in INDICATORS_TABLE_SCHEMA["fields"]
}
OUTPUT_COLUMNS: list[str] = list(OUTPUT_DTYPES)
# One row per indicator x period x geography x breakdown value: the sort order of every file.
PRIMARY_KEY: list[str] = INDICATORS_TABLE_SCHEMA["primaryKey"]
SORT_KEYS = PRIMARY_KEY
PARTITION_COLUMNS: list[str] = INDICATORS_TABLE_SCHEMA["partitioning"]["fields"]
# Set on publishing (the release's id and the schema's version), so not in the mart.
SET_ON_PUBLISHING = ("run_id", "schema_version")
# The mart's columns and types: the published ones but schema_version (run_id holds the
# release id the values were computed for).
MART_SCHEMA: dict[str, pl.DataType] = {
    c: t for c, t in OUTPUT_DTYPES.items() if c != "schema_version"
}
# What computing an indicator gives before names, suppression and the run are set.
SET_AFTER_COMPUTING = ("geography_name", "suppressed", "run_id")
COMPUTED_SCHEMA: dict[str, pl.DataType] = {
    c: t for c, t in MART_SCHEMA.items() if c not in SET_AFTER_COMPUTING
}


def dtypes(*columns: str) -> dict[str, pl.DataType]:
    """The published types of the columns named, in that order (for tables built by hand)."""
    return {c: OUTPUT_DTYPES[c] for c in columns}


def table_dtypes(table_schema: dict) -> dict[str, pl.DataType]:
    """A Table Schema's columns and their Polars types, in the file's order."""
    return {f["name"]: POLARS_TYPES[f["type"]] for f in table_schema["fields"]}
