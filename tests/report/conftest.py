"""One published release of the fixed synthetic ICS, shared by the report tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.publication.synthetic_release import run_synthetic_ics
from tests.validation.test_data_docs_browser import chromium  # noqa: F401  (the fixture)


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Path:
    """The release folder of a pipeline run on the publication tests' synthetic ICS."""
    saved = os.environ.get("DIEWELL_PSEUDO_KEY")
    run = run_synthetic_ics(tmp_path_factory.mktemp("report") / "ics")
    run.con.close()
    yield run.release
    if saved is None:
        os.environ.pop("DIEWELL_PSEUDO_KEY", None)
    else:
        os.environ["DIEWELL_PSEUDO_KEY"] = saved
