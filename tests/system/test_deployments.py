"""The deployments as a data engineer runs them, end to end on this machine.

A real Prefect server, the `diewell-process` work pool, `prefect deploy --all --no-prompt`
from the repository's prefect.yaml and a process worker started from another folder
(tests/system/prefect_stack.py), and a run of each deployment on a small synthetic ICS.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from diewell.config import load_config
from diewell.synth import synthesize
from tests.conftest import REPO
from tests.system.prefect_stack import POOL, deployed_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ics(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deployed-ics")
    return synthesize(root, seed=11, population=20_000, years=2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ics):
    with deployed_stack(tmp_path_factory.mktemp("prefect-stack"), ics) as stack:
        yield stack


def test_prefect_yaml_deploys_three_scheduled_deployments(stack, ics):
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    assert spec["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $DIEWELL_HOME }}"}}
    ]
    expected = {
        "diewell-pull/hourly": ("0 8-18 * * 1-5", {"config_path": str(ics)}),
        "diewell-refresh/nightly": ("30 2 * * *", {"config_path": str(ics), "publish": False}),
        "diewell-refresh/monthly-publication": (
            "0 6 15 * *",
            {"config_path": str(ics), "publish": True},
        ),
    }
    for name, (cron, parameters) in expected.items():
        deployment = stack.deployment(name)
        assert deployment["work_pool_name"] == POOL
        assert deployment["parameters"] == parameters
        [schedule] = [s["schedule"] for s in deployment["schedules"]]
        assert (schedule["cron"], schedule["timezone"]) == (cron, "Europe/London")
        # the clone is found where the worker runs, not where someone deployed from
        assert deployment["pull_steps"] == spec["pull"]
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert "PASSWORD" not in str(deployment).upper()


def test_hourly_pull_reports_what_waits_and_writes_nothing(stack, ics):
    config = load_config(ics)
    waiting = sorted(p.name for p in config.landing.rglob("*") if p.is_file())
    run = stack.wait(stack.trigger("diewell-pull/hourly"))
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    assert sorted(p.name for p in config.landing.rglob("*") if p.is_file()) == waiting
    assert not config.warehouse.exists()
    summary = stack.artifacts(run["id"])[f"diewell-pull-{config.ics_code.lower()}"]["data"]
    assert f"{len(waiting)} file(s) in" in summary
    assert "No MESH mailbox is configured" in summary


def test_nightly_and_monthly_runs_take_turns_and_publish(stack, ics):
    config = load_config(ics)
    code = config.ics_code.lower()
    nightly = stack.trigger("diewell-refresh/nightly")
    monthly = stack.trigger("diewell-refresh/monthly-publication")
    runs = {"nightly": stack.wait(nightly), "monthly": stack.wait(monthly)}
    for run in runs.values():
        assert run["state"]["type"] == "COMPLETED", stack.logs()

    # outputs: landing emptied into the archive, analysts' warehouse, a published release
    assert not [p for p in config.landing.rglob("*") if p.is_file()]
    assert any(config.archive.rglob("*.csv"))
    release = (config.outputs / "current").resolve()
    assert (release / "manifest.json").is_file()
    assert list((release / "indicators").rglob("*.parquet"))

    # one writer: the two runs did not overlap in the warehouse
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, started_at, finished_at, status FROM meta_runs ORDER BY started_at"
        ).fetchall()
    assert [r[3] for r in rows] == ["completed", "completed"]
    assert rows[0][2] <= rows[1][1]

    # artifacts: summary, headline table and report link; the second run reused the first's work
    notes = {}
    for name, run in runs.items():
        found = stack.artifacts(run["id"])
        summary = found[f"diewell-refresh-{code}"]["data"]
        assert "## Files received" in summary and "## Quarantined rows by rule" in summary
        assert not re.search(r"\b\d{10}\b", summary)  # counts and rules, never NHS numbers
        table = found[f"diewell-headline-{code}"]
        assert table["type"] == "table" and "PD01" in table["data"]
        notes[re.search(r"Run `([^`]+)`", summary)[1]] = (name, summary, found)
    first, second = (notes[r[0]] for r in rows)
    assert "(cached)" in second[1] and "(cached)" not in first[1]
    monthly_found = notes[next(k for k, v in notes.items() if v[0] == "monthly")][2]
    assert f"diewell-reports-{code}" in monthly_found
    assert release.name in monthly_found[f"diewell-headline-{code}"]["description"]


def test_serve_mode_serves_what_prefect_yaml_deploys(monkeypatch):
    from diewell.flows.serve import deployments

    monkeypatch.setenv("DIEWELL_CONFIG", "/srv/ics/diewell.yaml")
    monkeypatch.setenv("DIEWELL_REGION_CONFIG", "/srv/region/region.yaml")
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    served = {d.name: d for d in deployments()}
    assert set(served) == {d["name"] for d in spec["deployments"]}
    for d in spec["deployments"]:
        one = served[d["name"]]
        assert one.entrypoint == d["entrypoint"]
        region = d["entrypoint"] == "flows/region.py:regional_refresh"
        assert one.parameters["config_path"] == (
            "/srv/region/region.yaml" if region else "/srv/ics/diewell.yaml"
        )
        assert [(s.schedule.cron, s.schedule.timezone) for s in one.schedules] == [
            (s["cron"], s["timezone"]) for s in d["schedules"]
        ]
        assert one.concurrency_limit == 1


def test_a_missing_key_fails_the_run_with_the_reason(stack, tmp_path):
    bad = tmp_path / "no-key"
    bad.mkdir()
    config = bad / "diewell.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ics": {"code": "QZZ", "name": "No key ICS"},
                "paths": {"landing": "landing", "warehouse": "w/diewell.duckdb", "outputs": "out"},
                "providers": [{"code": "QZZ", "extracts": ["deaths"]}],
                "pseudonymisation": {"key_env": "DIEWELL_TEST_KEY_NOT_SET"},
            }
        ),
        encoding="utf-8",
    )
    run = stack.wait(stack.trigger("diewell-refresh/nightly", config_path=str(config)))
    assert run["state"]["type"] == "FAILED"
    assert "no pseudonymisation key" in run["state"]["message"]
    assert "DIEWELL_TEST_KEY_NOT_SET" in run["state"]["message"]
    assert not (bad / "w").exists()  # failed before touching the warehouse
    shutil.rmtree(bad)
