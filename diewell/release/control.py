"""Disclosure control of a release (indicators.md "Disclosure control"): the exact rows of
mart_indicator_values, a part of the release at a time, into a temporary table of the run's
connection that the writer reads (transforms/disclosure.py holds the rules)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.release.benchmarking import load_benchmarks
from diewell.release.schema import OUTPUT_SCHEMA, AuditFailed
from diewell.transforms.disclosure import (
    COMPARATOR_LEVEL,
    apply_disclosure_control,
    smallest_published_count,
)
from diewell.warehouse import SQL_TYPES, GatheredInserts, fetch_one
from diewell.warehouse.indicators.catalogue import (
    counts_not_people,
    release_parts,
    shared_denominators,
)
from diewell.warehouse.indicators.compute import (
    SORT_KEYS,
    geography_chunks,
    indicator_ids,
    part_rows,
    read_values,
)
from diewell.warehouse.indicators.schema import (
    INDICATORS_SCHEMA_PATH,
    SCHEMA_VERSION,
    SET_ON_PUBLISHING,
)

if TYPE_CHECKING:
    from diewell.config import Config


# Disclosure control's rows, a temporary table of the run's connection, which the writer
# reads a batch at a time (control_in_parts, write_release_files).
PUBLICATION_TABLE = "publication_rows"


# Columns the warehouse may not carry yet: published as nulls until it does.
OPTIONAL_INPUT_COLUMNS = ("trend",)


def disclosure_controlled(values: pl.DataFrame, config: Config, run_id: str) -> pl.DataFrame:
    """The rows to publish: the schema's columns, disclosure-controlled, in SORT_KEYS order.

    `run_id` and `schema_version` are set here, so every row names the release it is in.
    """
    return controlled_rows(values, config.suppress_up_to, config.round_to, run_id)


def controlled_rows(
    values: pl.DataFrame,
    threshold: int,
    multiple: int,
    run_id: str,
    comparators: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """disclosure_controlled with the settings given: an ICS's, or a region's.

    `comparators`: for a chunk of geographies without the ICS's rows, the ICS rows as
    published, which the comparison quotes (apply_disclosure_control)."""
    columns = OUTPUT_SCHEMA.names
    unexpected = [c for c in values.columns if c not in columns]
    if unexpected:
        raise AuditFailed(
            f"the indicator values carry column(s) {', '.join(unexpected)} that the published "
            f"schema {SCHEMA_VERSION} lacks: add them to {INDICATORS_SCHEMA_PATH.name}, bump "
            "schema_version and list the change in CHANGELOG.md"
        )
    values = values.with_columns(
        pl.lit(None, dtype=pl.String).alias(c)
        for c in OPTIONAL_INPUT_COLUMNS
        if c not in values.columns
    )
    missing = [c for c in columns if c not in values.columns and c not in SET_ON_PUBLISHING]
    if missing:
        raise AuditFailed(f"the indicator values lack the published column(s) {', '.join(missing)}")
    published = apply_disclosure_control(
        values,
        threshold=threshold,
        multiple=multiple,
        shared_denominators=shared_denominators(),
        not_people=counts_not_people(),
        comparators=comparators,
    ).with_columns(pl.lit(run_id).alias("run_id"), pl.lit(SCHEMA_VERSION).alias("schema_version"))
    return published.select(columns).sort(SORT_KEYS)


@dataclass(frozen=True)
class Controlled:
    """What disclosure control left in PUBLICATION_TABLE of the run's connection."""

    rows: int
    suppressed: int


def _create_publication_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{f.name} {SQL_TYPES[f.type]}" for f in OUTPUT_SCHEMA)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PUBLICATION_TABLE} ({columns})")


def control_in_parts(
    con: duckdb.DuckDBPyConnection,
    exact_part: Callable[[tuple[str, ...]], Iterable[pl.DataFrame]],
    ids: Iterable[str],
    threshold: int,
    multiple: int,
    run_id: str,
) -> Controlled:
    """Disclosure control of the indicators `ids`, one part of the release at a time
    (indicators.release_parts: an indicator, or a shared-denominator set), into
    PUBLICATION_TABLE, a temporary table of `con` (DuckDB holds it, under the connection's
    memory limit).

    `exact_part` gives a part's exact rows in one or more chunks by geography
    (indicators.geography_chunks, the ICS rows in the first chunk only): each chunk is
    controlled alone, the later ones quoting the first chunk's published ICS rows for their
    comparison with the ICS (the only rule that reads across geographies; the SII rows are
    the ICS's). Held at once: one chunk's rows and their working copies, the part's ICS
    rows, and the rows gathered for the next INSERT (warehouse.GatheredInserts)."""
    _create_publication_table(con)
    rows = suppressed = 0
    table = GatheredInserts(con, PUBLICATION_TABLE)
    for part in release_parts(ids):
        ics_rows = None  # the part's ICS rows as its first chunk published them
        for exact in exact_part(part):
            published = controlled_rows(exact, threshold, multiple, run_id, ics_rows)
            del exact
            if ics_rows is None:
                ics_rows = published.filter(pl.col("geography_level") == COMPARATOR_LEVEL)
            rows += published.height
            suppressed += int(published["suppressed"].sum())
            table.add(published.to_arrow().cast(OUTPUT_SCHEMA))
            del published
    table.close()
    return Controlled(rows=rows, suppressed=suppressed)


def control_release(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> Controlled:
    """The disclosure control step: mart_indicator_values, a part (and a chunk of
    geographies) at a time, controlled into PUBLICATION_TABLE with the ICS's settings.

    First of all the benchmarks file is read and checked (benchmarking.load_benchmarks): a
    bad file fails the run here, naming its problems, before anything is controlled or
    written. (The publish step reads it again and puts it beside the published rows.)"""
    load_benchmarks(config)

    def exact_chunks(part: tuple[str, ...]) -> Iterator[pl.DataFrame]:
        rows = part_rows(con, "mart_indicator_values", part)
        for where in geography_chunks(rows):
            yield read_values(con, part, where=where)

    return control_in_parts(
        con, exact_chunks, indicator_ids(con), config.suppress_up_to, config.round_to, run_id
    )


@contextmanager
def rows_in_duckdb(published: pl.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection of its own (in memory) whose PUBLICATION_TABLE holds `published`:
    for rows already in memory (a regional release), written as a run's are."""
    con = duckdb.connect()
    try:
        _create_publication_table(con)
        table = GatheredInserts(con, PUBLICATION_TABLE)
        table.add(published.select(OUTPUT_SCHEMA.names).to_arrow().cast(OUTPUT_SCHEMA))
        table.close()
        yield con
    finally:
        con.close()


def published_counts(con: duckdb.DuckDBPyConnection, table: str = PUBLICATION_TABLE) -> Controlled:
    """How many rows `table` holds, and how many of them are suppressed."""
    rows, suppressed = fetch_one(
        con, f"SELECT count(*), count(*) FILTER (WHERE suppressed) FROM {table}"
    )
    return Controlled(rows=rows, suppressed=suppressed)


def disclosure_settings(threshold: int, multiple: int) -> dict:
    """The manifest's `disclosure` entry."""
    return {
        "suppress_up_to": threshold,
        "round_to": multiple,
        "smallest_published_count": smallest_published_count(threshold, multiple),
    }
