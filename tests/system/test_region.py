"""A region run as a region would run it: a real Prefect server, one process work pool, TWO
process workers, one refresh-and-publish deployment per ICS (three tiny ICSs, each with its
own config), and the regional deployment from prefect.yaml, which runs the three ICS
deployments and publishes the regional release.

Each worker takes at most two runs at a time (`--limit 2`): the regional run holds one slot
of one worker, so the three ICS runs cannot all land on the same worker. The figures are
checked against sums worked out here from the three ICS releases' published rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import polars as pl
import pytest
import yaml

from tests.conftest import DEATHS_COLUMNS, REPO, TEST_KEY, TinyIcs
from tests.system.prefect_stack import (
    Stack,
    region_deployments,
    server_dependencies_problem,
    write_prefect_file,
    write_region_config,
)
from tests.system.tiny_cli import ICB, deaths

pytestmark = pytest.mark.slow

# ICS code -> (decedents, every how many dies in hospital rather than at home)
ICSS = {"QAA": (30, 3), "QBB": (20, 2), "QCC": (45, 5)}
WORKERS = ("worker-a", "worker-b")
KEYS = ["indicator_id", "period_type", "period_end", "breakdown", "breakdown_value"]
SUBMITTED = re.compile(r"Worker '[^']+' submitting flow run '([0-9a-f-]+)'")
ABORTED = re.compile(r"Aborted submission of flow run '([0-9a-f-]+)'")


def tiny_ics(root, code, n, every):
    ics = TinyIcs(root / code, [ICB], code=code, name=f"ICS {code}")
    rows = deaths(n)
    for i, r in enumerate(rows):
        r["place_of_death"] = "hospital" if i % every == 0 else "home"
    ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)
    ics.deliver("deaths_QTT_20241231.csv", rows, DEATHS_COLUMNS)
    return ics


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    if problem := server_dependencies_problem():
        pytest.fail(problem)
    root = tmp_path_factory.mktemp("region")
    icss = {code: tiny_ics(root, code, n, every) for code, (n, every) in ICSS.items()}
    config = write_region_config(root / "region.yaml", "Test region", list(icss))
    # the repository's regional deployment, and one publication deployment per ICS made from
    # the repository's monthly one (its own config_path, no schedule)
    regional, per_ics = region_deployments({code: ics.config_path for code, ics in icss.items()})
    # and one whose ICS cannot run (its key is not set where the workers run)
    broken = TinyIcs(root / "QZZ", [ICB], code="QZZ", name="ICS without a key")
    raw = yaml.safe_load(broken.config_path.read_text(encoding="utf-8"))
    raw["pseudonymisation"] = {"key_env": "DIEWELL_TEST_KEY_NOT_SET"}
    broken.config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    per_ics.append(
        {**per_ics[0], "name": "ics-qzz", "parameters": {"config_path": str(broken.config_path)}}
    )
    prefect_file = write_prefect_file(root / "prefect.yaml", [regional, *per_ics])

    (root / "stack").mkdir()
    stack = Stack(root / "stack")
    try:
        stack.serve()
        stack.cli(
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(prefect_file),
            cwd=REPO,
            env={"DIEWELL_REGION_CONFIG": str(config)},
        )
        for name in WORKERS:
            env = {"DIEWELL_HOME": str(REPO), "DIEWELL_PSEUDO_KEY": TEST_KEY}
            stack.worker(name, env, "--limit", "2")
        run = stack.wait(stack.trigger("diewell-region/regional-publication"))
        yield stack, run, config, icss
    finally:
        stack.close()


def ran_by(stack: Stack, worker: str) -> set[str]:
    """The flow runs the worker submitted and did not abort, from its own log."""
    text = (stack.root / f"{worker}.log").read_text(errors="replace")
    return set(SUBMITTED.findall(text)) - set(ABORTED.findall(text))


def published(outputs) -> tuple[dict, pl.DataFrame]:
    release = (outputs / "current").resolve()
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    return manifest, pl.read_parquet(release / "indicators.parquet")


def test_the_three_ics_runs_completed_on_both_workers(region):
    stack, run, _, icss = region
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    workers = {}
    for code in icss:
        deployment = stack.deployment(f"diewell-refresh/ics-{code.lower()}")
        response = stack.http.post(
            "/flow_runs/filter",
            json={"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}},
        )
        [ics_run] = response.json()
        assert ics_run["state"]["type"] == "COMPLETED", stack.logs()
        assert ics_run["parent_task_run_id"]  # run by the regional flow
        # Two workers polling at once may both try a run; the server lets one have it and
        # the other logs "Aborted submission" (Prefect records no worker on the flow run).
        [workers[code]] = [w for w in WORKERS if ics_run["id"] in ran_by(stack, w)]
    assert set(workers.values()) == set(WORKERS), workers


def test_the_regional_release_is_the_sum_of_the_ics_releases(region):
    stack, run, config, icss = region
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    manifest, rows = published(config.parent / "region-outputs")
    ics_manifests, ics_rows = {}, []
    for code, ics in icss.items():
        m, r = published(ics.root / "outputs")
        ics_manifests[code] = m["run_id"]
        ics_rows.append(r.filter(pl.col("geography_level") == "ics"))
    assert {i["code"]: i["run_id"] for i in manifest["ics_releases"]} == ics_manifests
    assert manifest["region"] == {"code": "Y60", "name": "Test region"}

    # worked out here: per cell, the three published counts, summed where all are published
    every = pl.concat(ics_rows).filter(~pl.col("statistic").is_in(["median", "dsr"]))
    sums = every.group_by(KEYS).agg(
        pl.len().alias("ics"),
        (~pl.col("suppressed")).all().alias("all_published"),
        pl.col("numerator").sum().alias("sum_numerator"),
        pl.col("denominator").sum().alias("sum_denominator"),
        pl.col("denominator").is_null().all().alias("no_denominator"),
    )
    assert set(rows["geography_level"]) == {"region"}
    assert set(rows["statistic"]) & {"median", "dsr"} == set()
    joined = rows.filter(pl.col("breakdown") != "imd_sii").join(sums, on=KEYS, how="left")
    assert joined["ics"].to_list() == [3] * joined.height  # every cell from all three ICSs
    shown = joined.filter(~pl.col("suppressed"))
    assert shown.height > 0 and shown["all_published"].all()
    assert shown["numerator"].to_list() == shown["sum_numerator"].to_list()
    expected_denominator = [
        None if n else d for n, d in shown.select("no_denominator", "sum_denominator").rows()
    ]
    assert shown["denominator"].to_list() == expected_denominator
    # an ICS's hidden cell hides the region's
    assert joined.filter(~pl.col("all_published"))["suppressed"].all()
    # disclosure control at region level: counts multiples of 5, nothing hidden shown
    for c in ("numerator", "denominator"):
        assert (shown[c].drop_nulls() % 5 == 0).all()
        assert rows.filter(pl.col("suppressed"))[c].null_count() == rows["suppressed"].sum()
    proportions = shown.filter((pl.col("statistic") == "proportion") & (pl.col("denominator") > 0))
    assert proportions.height > 0
    for num, den, value in proportions.select("numerator", "denominator", "value").rows():
        assert value == pytest.approx(100 * num / den)

    # the whole-cohort deaths: 30 + 20 + 45 decedents, each ICS publishing its own rounded
    pd = shown.filter(
        (pl.col("breakdown") == "all") & (pl.col("period_end") == dt.date(2024, 12, 31))
    )
    assert pd.height > 0
    assert pd.filter(pl.col("statistic") == "proportion")["denominator"].max() == 95


def test_an_ics_run_that_fails_is_named_and_nothing_regional_is_published(region, tmp_path):
    stack, run, config, _ = region
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    other = tmp_path / "region.yaml"
    other.write_text(
        yaml.safe_dump(
            {
                "region": {"code": "Y61", "name": "Region with a failing ICS"},
                "outputs": "outputs",
                "ics": [
                    {
                        "deployment": "diewell-refresh/ics-qaa",
                        "outputs": str(config.parent / "QAA/outputs"),
                    },
                    {
                        "deployment": "diewell-refresh/ics-qzz",
                        "outputs": str(config.parent / "QZZ/outputs"),
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    failed = stack.wait(
        stack.trigger("diewell-region/regional-publication", config_path=str(other))
    )
    assert failed["state"]["type"] == "FAILED"
    message = failed["state"]["message"]
    assert "diewell-refresh/ics-qzz" in message and "no regional release" in message
    assert "ics-qaa" not in message  # the ICS that completed is not blamed
    assert not (tmp_path / "outputs" / "current").exists()
