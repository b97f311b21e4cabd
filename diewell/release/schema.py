"""The release's files as the output schema says (warehouse/indicators/schema.py, from the
committed JSON): the Arrow schemas they are written with, the hive partitioning, the
schema's fingerprint, and the check a table read back must pass."""

from __future__ import annotations

import hashlib
import json
import re

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from diewell.warehouse.indicators.schema import (
    BENCHMARKS_TABLE_SCHEMA,
    CATALOGUE_TABLE_SCHEMA,
    INDICATORS_TABLE_SCHEMA,
    PARTITION_COLUMNS,
    SPC_TABLE_SCHEMA,
)

# Table Schema field types and the Arrow (Parquet) types they are written as.
ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


def arrow_schema(table_schema: dict) -> pa.Schema:
    """The Arrow schema the Table Schema's fields are written with, in the same order.

    Every column is written nullable (Parquet OPTIONAL): `required` is checked by the audit,
    which can then say which column broke it rather than failing the write.
    """
    return pa.schema([(f["name"], ARROW_TYPES[f["type"]]) for f in table_schema["fields"]])


OUTPUT_SCHEMA = arrow_schema(INDICATORS_TABLE_SCHEMA)


CATALOGUE_SCHEMA = arrow_schema(CATALOGUE_TABLE_SCHEMA)


BENCHMARKS_SCHEMA = arrow_schema(BENCHMARKS_TABLE_SCHEMA)


SPC_SCHEMA = arrow_schema(SPC_TABLE_SCHEMA)


PARTITIONING = ds.partitioning(
    pa.schema([OUTPUT_SCHEMA.field(c) for c in PARTITION_COLUMNS]), flavor="hive"
)


FILE_SCHEMA = pa.schema([f for f in OUTPUT_SCHEMA if f.name not in PARTITION_COLUMNS])


def schema_fingerprint() -> str:
    """A short hash of everything a reader depends on: names, order, types, constraints.

    Descriptions are left out, so rewording them is not a schema change. CHANGELOG.md records
    the fingerprint of each schema_version; a test fails when they drift apart.
    """

    def structure(table_schema: dict) -> dict:
        return {
            "fields": [
                {k: f.get(k) for k in ("name", "type", "format", "constraints")}
                for f in table_schema["fields"]
            ],
            "primaryKey": table_schema.get("primaryKey"),
            "partitioning": table_schema.get("partitioning"),
        }

    canonical = json.dumps(
        {
            "indicators": structure(INDICATORS_TABLE_SCHEMA),
            "indicator_catalogue": structure(CATALOGUE_TABLE_SCHEMA),
            "benchmarks": structure(BENCHMARKS_TABLE_SCHEMA),
            "spc": structure(SPC_TABLE_SCHEMA),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _columns(schema: pa.Schema) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in schema]


class TableSchemaCheck:
    """How a table read back breaks its Table Schema (names, order, types, constraints),
    the table given a part at a time: the problems are those of the whole table, as
    table_schema_problems gives them. The parts must not share a primary key (a release's
    parts are whole indicators, and indicator_id is in its key)."""

    def __init__(self, table_schema: dict, what: str):
        self.table_schema, self.what = table_schema, what
        self.want = _columns(arrow_schema(table_schema))
        self.columns_differ: list[tuple[str, str]] | None = None
        self.nulls: dict[str, int] = {}
        self.distinct: dict[str, set] = {}  # the values of columns with an enum or pattern
        self.below: set[str] = set()
        self.seen: dict[str, set] = {}  # the values of unique columns
        self.duplicated: set[str] = set()
        self.key_repeats = False

    def add(self, table: pa.Table) -> None:
        got = _columns(table.schema)
        if got != self.want:
            self.columns_differ = self.columns_differ or got
            return
        df = pl.from_arrow(table)
        for field in self.table_schema["fields"]:
            name, rules = field["name"], field.get("constraints", {})
            col = df[name]
            if rules.get("required") and col.null_count():
                self.nulls[name] = self.nulls.get(name, 0) + col.null_count()
            present = col.drop_nulls()
            if "enum" in rules or "pattern" in rules:
                self.distinct.setdefault(name, set()).update(present.unique().to_list())
            if "minimum" in rules and (present < rules["minimum"]).any():
                self.below.add(name)
            if rules.get("unique"):
                values = set(present.to_list())
                seen = self.seen.setdefault(name, set())
                if present.is_duplicated().any() or values & seen:
                    self.duplicated.add(name)
                seen |= values
        key = self.table_schema.get("primaryKey")
        if key and df.select(key).is_duplicated().any():
            self.key_repeats = True

    def problems(self) -> list[str]:
        what = self.what
        if self.columns_differ is not None:
            return [
                f"{what}: columns {self.columns_differ} differ from the committed schema "
                f"{self.want}"
            ]
        problems = []
        for field in self.table_schema["fields"]:
            name, rules = field["name"], field.get("constraints", {})
            if n := self.nulls.get(name):
                problems.append(f"{what}.{name}: {n} nulls in a required column")
            present = self.distinct.get(name, set())
            if "enum" in rules and (bad := present - set(rules["enum"])):
                problems.append(f"{what}.{name}: {len(bad)} value(s) outside {rules['enum']}")
            if "pattern" in rules:
                pattern = re.compile(rules["pattern"])
                if bad := [v for v in present if not pattern.fullmatch(v)]:
                    problems.append(f"{what}.{name}: {len(bad)} value(s) not matching the pattern")
            if name in self.below:
                problems.append(f"{what}.{name}: values below {rules['minimum']}")
            if name in self.duplicated:
                problems.append(f"{what}.{name}: duplicate values in a unique column")
        if self.key_repeats:
            key = self.table_schema["primaryKey"]
            problems.append(f"{what}: rows repeat the primary key ({', '.join(key)})")
        return problems


def table_schema_problems(table: pa.Table, table_schema: dict, what: str) -> list[str]:
    """How a table read back breaks its Table Schema: names, order, types and constraints."""
    check = TableSchemaCheck(table_schema, what)
    check.add(table)
    return check.problems()


class AuditFailed(RuntimeError):
    """The staged publication broke a publication rule; the previous one stays in place."""
