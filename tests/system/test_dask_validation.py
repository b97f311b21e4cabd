"""Validation ahead of the load, on Prefect's threads and on a Dask cluster's workers.

A tiny ICS of twelve monthly deaths deliveries (three people each), loaded three files to a
window (four windows), so the validation of later windows runs beside the load of earlier
ones (ingest.ingest_landing, TaskSteps.validate_ahead). The same ICS is refreshed three
times: with plain calls (nothing ahead, the reference), by the refresh flow on its default
task runner (threads), and by the refresh flow on a real distributed.LocalCluster of two
worker processes. All three must account for every file alike and load the same rows.

Hand-worked: 12 files; June's lacks date_of_death (rejected whole: required_column_missing);
March's carries a fourth row whose NHS number has a wrong check digit (quarantined:
invalid_nhs_number). So 11 files load, 33 deaths are staged (11 x 3), 1 row is quarantined.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl
import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.sources import ingest
from diewell.sources import landing as landing_folder
from diewell.warehouse import query_frame
from tests.conftest import DEATHS_COLUMNS, TEST_KEY, TinyIcs, nhs

ICB = {"code": "QTT", "name": "ICB", "extracts": ["deaths"]}
PER_MONTH = 3
REJECTED = "deaths_QTT_20240630.csv"  # no date_of_death column
QUARANTINED = "deaths_QTT_20240331.csv"  # one row with a wrong check digit


def _month_end(month: int) -> dt.date:
    return dt.date(2024 + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def _death(i: int, died: dt.date, nhs_number: str | None = None) -> dict:
    return {
        "nhs_number": nhs_number or nhs(i),
        "date_of_birth": "1940-03-01",
        "date_of_death": died.isoformat(),
        "sex": "2" if i % 2 else "1",
        "underlying_cause_icd10": "C34.9" if i % 3 else "I21.9",
        "place_of_death": ("home", "hospital", "hospice")[i % 3],
        "lsoa_code": "E01000001",
        "gp_practice_code": "A81001",
    }


def _wrong_check_digit(number: str) -> str:
    return number[:9] + str((int(number[9]) + 1) % 10)


def monthly_deaths_ics(root: Path) -> Path:
    """The ICS of the module docstring; returns its config path."""
    ics = TinyIcs(root, [ICB])
    for month in range(1, 13):
        end = _month_end(month)
        people = range((month - 1) * PER_MONTH, month * PER_MONTH)
        rows = [_death(i, end - dt.timedelta(days=i % 5)) for i in people]
        name = f"deaths_QTT_{end:%Y%m%d}.csv"
        if name == QUARANTINED:
            rows.append(_death(900, end, _wrong_check_digit(nhs(900))))
        columns = DEATHS_COLUMNS
        if name == REJECTED:
            columns = [c for c in DEATHS_COLUMNS if c != "date_of_death"]
            rows = [{c: r[c] for c in columns} for r in rows]
        ics.deliver(name, rows, columns)
    return ics.config_path


@pytest.fixture(scope="module")
def environment():
    saved = {k: os.environ.get(k) for k in ("DIEWELL_PSEUDO_KEY",)}
    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    mp = pytest.MonkeyPatch()
    mp.setattr(landing_folder, "WINDOW_FILES", 3)
    yield
    mp.undo()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _facts(config_path: Path, summary: pipeline.RunSummary) -> dict:
    config = load_config(config_path)
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg_%' "
                "ORDER BY table_name"
            ).fetchall()
        ]
        staged = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
        values = query_frame(con, "SELECT * FROM mart_indicator_values")
    finally:
        con.close()
    values = values.sort(values.columns)
    files = sorted(
        (f.file_name, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined, f.rule)
        for f in summary.files
    )
    return {"files": files, "staged": staged, "values": values}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, environment):
    """The reference: pipeline.refresh with plain calls (each window validated, then loaded)."""
    config_path = monthly_deaths_ics(tmp_path_factory.mktemp("sequential"))
    summary = pipeline.RunSummary("sequential")
    pipeline.refresh(load_config(config_path), summary)
    return _facts(config_path, summary)


@pytest.fixture(scope="module")
def prefect_harness(environment):
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def test_the_reference_run_is_as_worked_by_hand(sequential):
    files = {f[0]: f for f in sequential["files"]}
    assert len(files) == 12
    assert files[REJECTED][1:] == ("rejected", 0, 0, 0, "required_column_missing")
    assert files[QUARANTINED][1:] == ("loaded", 4, 3, 1, None)
    loaded = [f for f in files.values() if f[1] == "loaded"]
    assert len(loaded) == 11
    assert sequential["staged"]["stg_deaths"] == 11 * PER_MONTH
    assert sequential["values"].height > 0


def test_the_flow_on_threads_validates_ahead_and_loads_the_same(
    tmp_path_factory, prefect_harness, sequential
):
    from diewell.flows.refresh import refresh

    config_path = monthly_deaths_ics(tmp_path_factory.mktemp("threads"))
    summary = refresh(str(config_path))
    facts = _facts(config_path, summary)
    assert facts["files"] == sequential["files"]
    assert facts["staged"] == sequential["staged"]
    assert facts["values"].equals(sequential["values"])


def test_the_flow_on_a_dask_cluster_validates_on_its_workers(
    tmp_path_factory, prefect_harness, sequential
):
    from distributed import Client, LocalCluster
    from prefect_dask import DaskTaskRunner

    from diewell.flows import support
    from diewell.flows.refresh import refresh

    config_path = monthly_deaths_ics(tmp_path_factory.mktemp("dask"))
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        mp = pytest.MonkeyPatch()
        mp.setenv(support.DASK_ADDRESS_ENV, cluster.scheduler_address)
        runner = support.task_runner()  # what the flow module picks up from the environment
        mp.undo()
        assert isinstance(runner, DaskTaskRunner)
        summary = refresh.with_options(task_runner=runner)(str(config_path))
        worker_pids = set(client.run(os.getpid).values())
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        done = client.run_on_scheduler(
            lambda dask_scheduler: {
                name: dict(prefix.state_counts)
                for name, prefix in dask_scheduler.task_prefixes.items()
            }
        )
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids  # processes of their own
    # Four windows: four validate tasks ran on the cluster's workers, and nothing else did
    # (the loads, build, compute and publication ran in the flow's process).
    assert list(done) == ["validate_window"] and done["validate_window"]["memory"] == 4
    assert sum(executed.values()) == 4
    facts = _facts(config_path, summary)
    assert facts["files"] == sequential["files"]
    assert facts["staged"] == sequential["staged"]
    assert facts["values"].equals(sequential["values"])


class ThreadSteps:
    """A real step runner that validates ahead on threads (as TaskSteps does on Prefect's),
    keeping what each validation returned."""

    validate_ahead = 2

    def __init__(self, pool: concurrent.futures.Executor) -> None:
        self.pool = pool
        self.validated: list[dict] = []

    def submit(self, name, fn, *args):
        def run():
            result = fn(*args)
            if name == "validate":
                self.validated.append(result)
            return result

        return self.pool.submit(run)

    def __call__(self, name, fn, *args):
        return fn(*args)


def test_a_claimed_file_and_its_landed_twin_load_once_whatever_runs_ahead(
    tmp_path, pseudo_key, monkeypatch
):
    """A crash left December's deaths claimed; the provider's identical re-send waits in
    landing. Of the two, the later arrival is the delivery and the other is superseded on
    arrival (extracts.md v3), so however far validation runs ahead nothing loads twice. (Before
    v3 both were ingested in turn, the twin read ahead against a warehouse without it.)"""
    monkeypatch.setattr(landing_folder, "WINDOW_FILES", 2)
    ics = TinyIcs(tmp_path / "ics", [ICB])
    december = [_death(i, dt.date(2024, 12, 20)) for i in range(4)]
    twin = ics.deliver("deaths_QTT_20241231.csv", december, DEATHS_COLUMNS)
    ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)
    slot = ics.root / "landing" / landing_folder.CLAIM_DIR / "left-by-a-crash"
    slot.mkdir(parents=True)
    claimed = slot / twin.name
    delivered = twin.read_bytes()
    claimed.write_bytes(delivered)
    os.utime(claimed, (1_700_000_000, 1_700_000_000))  # claimed by a run before the re-send
    config = load_config(ics.config_path)

    con = pipeline.open_warehouse(config)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            steps = ThreadSteps(pool)
            outcomes = ingest.ingest_landing(con, config, "run-1", report=False, step=steps)
        loaded = con.execute(
            "SELECT file_name, rows_loaded FROM landing_files WHERE status = 'loaded' "
            "ORDER BY file_id"
        ).fetchall()
        staged = con.execute("SELECT count(*) FROM stg_deaths").fetchall()[0][0]
    finally:
        con.close()

    assert [(o.file_name, o.status) for o in outcomes] == [
        (twin.name, "superseded"),
        ("deaths_QTT_20240131.csv", "loaded"),
        (twin.name, "loaded"),
    ]
    assert loaded == [("deaths_QTT_20240131.csv", 0), (twin.name, 4)]
    assert staged == 4
    assert not any((ics.root / "landing").glob("*.csv"))
    assert (config.archive / "deaths" / "QTT" / twin.name).read_bytes() == delivered


def test_a_window_validated_in_another_process_comes_back_whole(tmp_path, pseudo_key):
    """Config and the validation result (polars frames, a rejection) pickle."""
    import pickle

    config_path = monthly_deaths_ics(tmp_path / "ics")
    config = load_config(config_path)
    paths = sorted(config.landing.glob("*.csv"))
    validated = ingest.validate_window(config, paths, set(), set())
    back = pickle.loads(pickle.dumps((config, validated)))
    assert back[0] == config
    rejected = {p.name: v.rejection for p, v in back[1].items() if v.rejection is not None}
    assert list(rejected) == [REJECTED]
    assert rejected[REJECTED].rule == "required_column_missing"
    march = next(v for p, v in back[1].items() if p.name == QUARANTINED).result
    assert (march.rows_read, march.rows.height, march.findings["rule"].to_list()) == (
        4,
        3,
        ["invalid_nhs_number"],
    )
    assert pl.concat([v.result.rows for v in back[1].values() if v.result]).height == 33
