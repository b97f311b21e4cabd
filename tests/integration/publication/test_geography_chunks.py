"""A part of the release larger than indicators.PART_ROWS is controlled and audited in
chunks of geographies (indicators.geography_chunks), so that what is held at once does not
grow with the population. Chunked or whole, the same rows are published, and the audit
passes the same releases and names the same problems with the same counts."""

from __future__ import annotations

import dataclasses

import duckdb
import polars as pl

from diewell.release import control, schema
from diewell.transforms.disclosure import apply_disclosure_control
from diewell.warehouse.indicators import catalogue
from diewell.warehouse.indicators import compute as indicators
from tests.integration.publication import release_helpers

WHOLE = 10**9  # no part is cut
SMALL = 60  # the synthetic ICS's parts (some 1,000-5,000 rows) cut into tens of chunks


def _hand_part() -> duckdb.DuckDBPyConnection:
    """3 ICS rows, 3 places of 4 rows and 40 practices of 5 rows: 215 rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE part (geography_level VARCHAR, geography_code VARCHAR, n INT)")
    rows = [("ics", "QTT", n) for n in range(3)]
    rows += [("place", f"P{p}", n) for p in range(3) for n in range(4)]
    rows += [("practice", f"L{p:05d}", n) for p in range(40) for n in range(5)]
    con.executemany("INSERT INTO part VALUES (?, ?, ?)", rows)
    return con


def _chunk_of_each_row(con, chunks: list[str]) -> dict[tuple, list[int]]:
    held: dict[tuple, list[int]] = {}
    for i, where in enumerate(chunks):
        for row in con.execute(f"SELECT * FROM part WHERE {where}").fetchall():
            held.setdefault(row, []).append(i)
    return held


def test_geography_chunks_cut_a_part_by_geography(monkeypatch):
    monkeypatch.setattr(indicators, "PART_ROWS", 50)
    con = _hand_part()
    chunks = indicators.geography_chunks(215)
    assert len(chunks) == 5  # 215 rows, 50 a chunk
    held = _chunk_of_each_row(con, chunks)
    assert len(held) == 215  # every row somewhere
    ics = {row: where for row, where in held.items() if row[0] == "ics"}
    others = {row: where for row, where in held.items() if row[0] != "ics"}
    assert set(map(tuple, ics.values())) == {(0,)}  # the ICS's rows in the first chunk only
    assert all(len(where) == 1 for where in others.values())  # the rest in one chunk each
    by_geography: dict[tuple, set[int]] = {}
    for row, where in others.items():
        by_geography.setdefault(row[:2], set()).update(where)
    assert all(len(where) == 1 for where in by_geography.values())  # a geography whole
    assert len({w for where in by_geography.values() for w in where}) >= 3  # spread out


def test_a_part_no_larger_than_part_rows_is_one_chunk(monkeypatch):
    monkeypatch.setattr(indicators, "PART_ROWS", 215)
    assert indicators.geography_chunks(215) == ["TRUE"]
    assert indicators.geography_chunks(0) == ["TRUE"]


def _published_table(con) -> pl.DataFrame:
    order = ", ".join(f"{k} NULLS FIRST" for k in indicators.SORT_KEYS)
    return pl.from_arrow(
        con.sql(f"SELECT * FROM {control.PUBLICATION_TABLE} ORDER BY {order}").to_arrow_table()
    )


def test_disclosure_control_in_chunks_publishes_the_rows_it_publishes_whole(
    synthetic_run, monkeypatch
):
    con, config = synthetic_run.con, synthetic_run.config
    biggest = max(
        indicators.part_rows(con, "mart_indicator_values", part)
        for part in catalogue.release_parts(indicators.indicator_ids(con))
    )
    monkeypatch.setattr(indicators, "PART_ROWS", WHOLE)
    whole_counts = control.control_release(con, config, "r-chunks")
    whole = _published_table(con)
    monkeypatch.setattr(indicators, "PART_ROWS", SMALL)
    assert len(indicators.geography_chunks(biggest)) >= 10
    chunked_counts = control.control_release(con, config, "r-chunks")
    chunked = _published_table(con)
    assert chunked_counts == whole_counts
    assert chunked.height == whole.height == synthetic_run.values.height
    assert chunked.equals(whole)
    # the comparison with the ICS survived the cut: practices quote the ICS's values
    compared = chunked.filter(
        (pl.col("geography_level") == "practice") & pl.col("comparator_value").is_not_null()
    )
    assert compared.height > 100


def test_disclosure_control_in_chunks_controls_each_ics_row_once(synthetic_run, monkeypatch):
    """The ICS rows are controlled in the part's first chunk only; the later chunks quote
    those published rows for their comparison (the work is not done again and dropped)."""
    con, config = synthetic_run.con, synthetic_run.config
    ics_rows = synthetic_run.values.filter(pl.col("geography_level") == "ics").height
    seen = {"ics": 0, "calls": 0}

    def counting(df, **kwargs):
        seen["ics"] += df.filter(pl.col("geography_level") == "ics").height
        seen["calls"] += 1
        return apply_disclosure_control(df, **kwargs)

    monkeypatch.setattr(control, "apply_disclosure_control", counting)
    monkeypatch.setattr(indicators, "PART_ROWS", SMALL)
    control.control_release(con, config, "r-once")
    parts = len(catalogue.release_parts(indicators.indicator_ids(con)))
    assert seen["calls"] > parts  # some parts cut into chunks
    assert seen["ics"] == ics_rows > 0


def _audit_reason(synthetic_run, tmp_path, name, rules=None, monkeypatch=None) -> str | None:
    config = dataclasses.replace(synthetic_run.config, outputs=tmp_path / name)
    if rules is not None:
        monkeypatch.setattr(control, "apply_disclosure_control", rules)
    try:
        release_helpers.publish(synthetic_run.con, synthetic_run.values, config, name)
    except schema.AuditFailed as failed:
        return str(failed)
    return None


def test_the_audit_in_chunks_passes_a_good_release(synthetic_run, tmp_path, monkeypatch):
    monkeypatch.setattr(indicators, "PART_ROWS", SMALL)
    assert _audit_reason(synthetic_run, tmp_path, "r-good-chunked") is None


def test_the_audit_in_chunks_names_the_problems_the_whole_audit_names(
    synthetic_run, tmp_path, monkeypatch
):
    """A release quoting a wrong ICS value on practice rows (most of them in chunks without
    the ICS rows), and a count left unrounded, fails alike chunked and whole."""

    def tampered(df, **settings):
        out = apply_disclosure_control(df, **settings)
        practice_all = (pl.col("geography_level") == "practice") & (pl.col("breakdown") == "all")
        wrong = practice_all & (pl.col("indicator_id") == "PD01")
        unrounded = practice_all & (pl.col("indicator_id") == "HU01") & ~pl.col("suppressed")
        return out.with_columns(
            pl.when(wrong)
            .then(pl.col("comparator_value") + 1)
            .otherwise(pl.col("comparator_value")),
            pl.when(unrounded).then(pl.col("denominator") + 1).otherwise(pl.col("denominator")),
        )

    exact = synthetic_run.values
    practice_all = (pl.col("geography_level") == "practice") & (pl.col("breakdown") == "all")
    # worked out from the exact rows and the rules, not from the audit
    controlled = apply_disclosure_control(
        exact,
        threshold=synthetic_run.config.suppress_up_to,
        multiple=synthetic_run.config.round_to,
        shared_denominators=catalogue.shared_denominators(),
        not_people=catalogue.counts_not_people(),
    )
    quoted = controlled.filter(
        practice_all & (pl.col("indicator_id") == "PD01") & pl.col("comparator_value").is_not_null()
    ).height
    unrounded = controlled.filter(
        practice_all & (pl.col("indicator_id") == "HU01") & ~pl.col("suppressed")
    ).height
    assert quoted > 5 and unrounded > 5

    monkeypatch.setattr(indicators, "PART_ROWS", WHOLE)
    whole = _audit_reason(synthetic_run, tmp_path, "r-whole", tampered, monkeypatch)
    monkeypatch.setattr(indicators, "PART_ROWS", SMALL)
    chunked = _audit_reason(synthetic_run, tmp_path, "r-chunked", tampered, monkeypatch)
    assert whole is not None and chunked is not None
    assert sorted(chunked.split("; ")) == sorted(whole.split("; "))
    assert f"{quoted} rows quote a comparator_value that is not the published ICS value" in chunked
    assert f"{unrounded} published denominators are not multiples of 5" in chunked
