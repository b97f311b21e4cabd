"""One run of the pipeline on the fixed synthetic ICS, shared by every publication test."""

from __future__ import annotations

import os

import pytest

from tests.publication.synthetic_release import SyntheticRun, run_synthetic_ics


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory) -> SyntheticRun:
    saved = os.environ.get("DIEWELL_PSEUDO_KEY")
    run = run_synthetic_ics(tmp_path_factory.mktemp("publication") / "ics")
    yield run
    run.con.close()
    if saved is None:
        os.environ.pop("DIEWELL_PSEUDO_KEY", None)
    else:
        os.environ["DIEWELL_PSEUDO_KEY"] = saved
