"""Load semantics of extracts.md on real DuckDB files: re-delivery, byte-identical re-delivery,
upserts, the cumulative register, snapshots, order of arrival, and reproducible publication."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import polars as pl
import pytest

from diewell import pipeline, warehouse
from diewell.config import load_config
from diewell.sources.ingest import ingest_landing
from tests.conftest import TinyIcs, nhs

PROVIDERS = [
    {"code": "QTT", "name": "ICB", "extracts": ["deaths", "ref_lsoa", "ref_practice"]},
    {"code": "RX1", "name": "Trust", "extracts": ["apc_spells"]},
    {"code": "A81001", "name": "Surgery", "extracts": ["palliative_register"]},
]


def death(i: int, dod: str) -> dict:
    return {
        "nhs_number": nhs(i),
        "date_of_birth": "1940-01-01",
        "date_of_death": dod,
        "sex": "2",
        "underlying_cause_icd10": "C34",
        "place_of_death": "home",
        "lsoa_code": "E01000001",
        "gp_practice_code": "A81001",
    }


def spell(spell_id: str, i: int, admitted: str, discharged: str = "") -> dict:
    return {
        "spell_id": spell_id,
        "nhs_number": nhs(i),
        "admission_date": admitted,
        "admission_method": "21",
        "discharge_date": discharged,
    }


def register(i: int, added: str) -> dict:
    return {"nhs_number": nhs(i), "gp_practice_code": "A81001", "date_added": added}


def lsoa(code: str, decile: str) -> dict:
    return {"lsoa_code": code, "imd_decile": decile, "place_code": "P1", "place_name": "One"}


class Warehouse:
    """A TinyIcs plus its open working warehouse; deliver() then load() like a scheduled run."""

    def __init__(self, root: Path):
        self.ics = TinyIcs(root, PROVIDERS)
        self.config = load_config(self.ics.config_path)
        self.con = pipeline.open_warehouse(self.config)
        self.runs = 0

    def deliver(self, name, rows, columns=None):
        return self.ics.deliver(name, rows, columns)

    def load(self):
        self.runs += 1
        run_id = f"run-{self.runs}"
        pipeline.start_run(self.con, self.config, run_id)
        # the validate and load steps of a run, without the GX Data Docs (not under test here)
        outcomes = ingest_landing(self.con, self.config, run_id, report=False)
        pipeline.build(self.con)
        return outcomes

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()


@pytest.fixture
def wh(tmp_path, pseudo_key):
    w = Warehouse(tmp_path / "ics")
    yield w
    w.con.close()


def test_a_redelivery_for_the_same_period_replaces_the_earlier_one(wh):
    wh.deliver("deaths_QTT_20240131.csv", [death(1, "2024-01-05"), death(2, "2024-01-06")])
    wh.load()
    wh.deliver("deaths_QTT_20240131.csv", [death(3, "2024-01-07")])  # corrected re-delivery
    (outcome,) = wh.load()
    assert outcome.status == "loaded"
    assert wh.rows("SELECT count(*) FROM stg_deaths") == [(1,)]
    assert wh.rows("SELECT count(*) FROM core_deaths") == [(1,)]
    assert wh.rows("SELECT status FROM landing_files ORDER BY file_id") == [
        ("superseded",),
        ("loaded",),
    ]
    # both deliveries are kept in the archive, neither overwritten
    assert len(list((wh.config.archive).rglob("deaths_QTT_20240131*"))) == 2


def test_the_writes_a_window_holds_are_seen_by_its_later_files(wh):
    """Both deliveries load in one window (one transaction, its inserts held until a read
    needs them): the second still finds the person the first loaded (duplicate_death, naming
    the first file), and every staged row, file record and finding is written."""
    wh.deliver("deaths_QTT_20240131.csv", [death(1, "2024-01-05"), death(2, "2024-01-06")])
    wh.deliver("deaths_QTT_20240229.csv", [death(2, "2024-02-05"), death(3, "2024-02-06")])
    outcomes = wh.load()
    assert [(o.file_name, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [
        ("deaths_QTT_20240131.csv", 2, 0),
        ("deaths_QTT_20240229.csv", 1, 1),
    ]
    assert wh.rows(
        "SELECT file_name, status, rows_read, rows_loaded, rows_quarantined FROM landing_files "
        "ORDER BY file_id"
    ) == [
        ("deaths_QTT_20240131.csv", "loaded", 2, 2, 0),
        ("deaths_QTT_20240229.csv", "loaded", 2, 1, 1),
    ]
    assert wh.rows("SELECT count(*), count(DISTINCT file_id) FROM stg_deaths") == [(3, 2)]
    ((file_name, row, rule, column, message),) = wh.rows(
        "SELECT file_name, row_number, rule, column_name, message FROM quarantine_rows"
    )
    assert (file_name, row, rule, column) == (
        "deaths_QTT_20240229.csv",
        1,
        "duplicate_death",
        "nhs_number",
    )
    assert "deaths_QTT_20240131.csv" in message


def test_a_byte_identical_redelivery_changes_nothing(wh):
    rows = [death(1, "2024-01-05"), death(2, "2024-01-06")]
    wh.deliver("deaths_QTT_20240131.csv", rows)
    wh.load()
    before = wh.rows("SELECT * FROM stg_deaths ORDER BY row_number")
    wh.deliver("deaths_QTT_20240131.csv", rows)
    (outcome,) = wh.load()
    assert outcome.status == "unchanged"
    assert wh.rows("SELECT * FROM stg_deaths ORDER BY row_number") == before
    assert wh.rows("SELECT status FROM landing_files ORDER BY file_id") == [("loaded",)]


def test_an_upsert_extract_revises_a_record_by_key(wh):
    wh.deliver("apc_spells_RX1_20240131.csv", [spell("S1", 1, "2024-01-20")])  # still in hospital
    wh.load()
    wh.deliver(
        "apc_spells_RX1_20240229.csv",
        [spell("S1", 1, "2024-01-20", "2024-02-03"), spell("S2", 2, "2024-02-10", "2024-02-12")],
    )
    wh.load()
    core = wh.rows(
        "SELECT spell_id, CAST(discharge_date AS VARCHAR) FROM core_apc_spells ORDER BY spell_id"
    )
    assert core == [("S1", "2024-02-03"), ("S2", "2024-02-12")]
    assert wh.rows("SELECT count(*) FROM stg_apc_spells") == [(3,)]  # history is kept in staging


def test_the_register_is_cumulative(wh):
    wh.deliver(
        "palliative_register_A81001_20240131.csv",
        [register(1, "2024-01-02"), register(2, "2024-01-03")],
    )
    wh.load()
    wh.deliver("palliative_register_A81001_20240229.csv", [register(2, "2024-01-04")])
    wh.load()
    core = wh.rows("SELECT CAST(date_added AS VARCHAR) FROM core_palliative_register ORDER BY 1")
    # person 1 is absent from February's delivery but is not deleted; person 2 is revised
    assert core == [("2024-01-02",), ("2024-01-04",)]


def test_a_snapshot_replaces_the_whole_table(wh):
    wh.deliver("ref_lsoa_QTT_20240131.csv", [lsoa("E01000001", "1"), lsoa("E01000002", "5")])
    wh.load()
    wh.deliver("ref_lsoa_QTT_20240229.csv", [lsoa("E01000001", "2")])
    wh.load()
    assert wh.rows("SELECT lsoa_code, imd_decile FROM core_ref_lsoa") == [("E01000001", 2)]


DELIVERIES = [
    ("ref_lsoa_QTT_20240131.csv", [lsoa("E01000001", "3")]),
    ("deaths_QTT_20240131.csv", [death(1, "2024-01-05")]),
    ("deaths_QTT_20240229.csv", [death(2, "2024-02-05"), death(3, "2024-02-06")]),
    ("apc_spells_RX1_20240131.csv", [spell("S1", 1, "2024-01-01")]),
    ("apc_spells_RX1_20240229.csv", [spell("S1", 1, "2024-01-01", "2024-01-04")]),
    ("palliative_register_A81001_20231231.csv", [register(1, "2023-12-01")]),
    ("palliative_register_A81001_20240131.csv", [register(1, "2023-11-30")]),
]
CORE_TABLES = ["core_deaths", "core_apc_spells", "core_palliative_register", "core_ref_lsoa"]


def core_content(w: Warehouse) -> dict[str, list]:
    """Core tables without the arrival-order file ids."""
    return {t: w.rows(f"SELECT * EXCLUDE (file_id) FROM {t} ORDER BY ALL") for t in CORE_TABLES}


@pytest.mark.parametrize(
    "arrival", ["in_order", "reversed", "all_at_once", "all_at_once_in_windows_of_two"]
)
def test_any_order_of_arrival_gives_the_same_warehouse(tmp_path, pseudo_key, arrival, monkeypatch):
    reference = Warehouse(tmp_path / "reference")
    for name, rows in DELIVERIES:
        reference.deliver(name, rows)
        reference.load()
    other = Warehouse(tmp_path / arrival)
    if arrival.startswith("all_at_once"):
        if arrival.endswith("windows_of_two"):  # files validated two at a time, then loaded
            monkeypatch.setattr("diewell.sources.landing.WINDOW_FILES", 2)
        for name, rows in DELIVERIES:
            other.deliver(name, rows)
        other.load()
    else:
        order = DELIVERIES if arrival == "in_order" else DELIVERIES[::-1]
        for name, rows in order:
            other.deliver(name, rows)
            other.load()
    assert core_content(other) == core_content(reference)
    # the later delivery wins regardless of arrival: S1 discharged, register added 2023-11-30
    assert other.rows("SELECT CAST(discharge_date AS VARCHAR) FROM core_apc_spells") == [
        ("2024-01-04",)
    ]
    assert other.rows("SELECT CAST(date_added AS VARCHAR) FROM core_palliative_register") == [
        ("2023-11-30",)
    ]
    reference.con.close()
    other.con.close()


def run_whole_pipeline(config_path: Path, run_id: str = "run-1") -> Path:
    summary = pipeline.RunSummary(run_id)
    pipeline.refresh(load_config(config_path), summary)
    return summary.release


def published_files(release: Path) -> list[Path]:
    return sorted(p.relative_to(release) for p in release.rglob("*.parquet"))


def test_the_same_inputs_publish_byte_identical_outputs(tmp_path, monkeypatch):
    from diewell.synth import synthesize

    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", "k" * 40)
    first = synthesize(tmp_path / "a", seed=3, population=2000, years=1, defect_rate=0.002)
    shutil.copytree(tmp_path / "a" / "landing", tmp_path / "b" / "landing")
    shutil.copy(first, tmp_path / "b" / "diewell.yaml")
    release_a = run_whole_pipeline(first)
    release_b = run_whole_pipeline(tmp_path / "b" / "diewell.yaml")
    assert release_a.name == release_b.name  # the release id is derived from the inputs
    files = published_files(release_a)
    assert files and files == published_files(release_b)
    for f in files:
        assert filecmp.cmp(release_a / f, release_b / f, shallow=False), f

    # Running again with nothing new keeps the same release current.
    config = load_config(first)
    again = run_whole_pipeline(first, run_id="run-2")
    assert again == release_a and (config.outputs / "current").resolve() == release_a.resolve()


def test_every_indicator_and_cohort_row_traces_to_its_run_and_files(tmp_path, monkeypatch):
    from diewell.synth import synthesize

    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", "k" * 40)
    config_path = synthesize(tmp_path / "t", seed=4, population=2000, years=1)
    release = run_whole_pipeline(config_path)
    config = load_config(config_path)
    con = warehouse.connect(config.warehouse, read_only=True)
    untraced = con.execute(
        "SELECT count(*) FROM mart_indicator_values v LEFT JOIN meta_runs r "
        "ON r.release_id = v.run_id WHERE r.run_id IS NULL"
    ).fetchall()
    assert untraced == [(0,)]
    assert con.execute("SELECT DISTINCT run_id FROM mart_indicator_values").fetchall() == [
        (release.name,)
    ]
    orphans = con.execute(
        "SELECT count(*) FROM mart_decedent_cohort c LEFT JOIN landing_files f "
        "ON f.file_id = c.death_file_id AND f.status = 'loaded' WHERE f.file_id IS NULL"
    ).fetchall()
    assert orphans == [(0,)]
    con.close()


def test_a_provider_registered_since_the_last_release_is_published(tmp_path, monkeypatch):
    """A provider newly registered for deaths, with nothing delivered yet, makes every period
    of every indicator drawn from deaths provisional (indicators.md: data_complete only once
    every registered provider has delivered). The files are the same as at the last release,
    so a release id of the files, code and disclosure settings alone was the same, and the
    run pointed `current` back at the release that called those periods complete."""
    import yaml

    from diewell.synth import synthesize
    from diewell.warehouse.indicators.catalogue import catalogue

    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", "k" * 40)
    config_path = synthesize(tmp_path / "t", seed=5, population=2000, years=1)
    first = run_whole_pipeline(config_path)
    from_deaths = sorted(i.id for i in catalogue() if "deaths" in i.source_extracts)
    assert from_deaths

    def complete_rows(release: Path) -> int:
        rows = pl.read_parquet(release / "indicators", hive_partitioning=True)
        return rows.filter(pl.col("indicator_id").is_in(from_deaths))["data_complete"].sum()

    assert complete_rows(first) > 0  # the synthetic ICS has complete periods

    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw["providers"].append({"code": "NEW01", "name": "A new hospice", "extracts": ["deaths"]})
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    second = run_whole_pipeline(config_path, run_id="run-2")

    assert second != first
    config = load_config(config_path)
    assert (config.outputs / "current").resolve() == second.resolve()
    assert complete_rows(second) == 0
