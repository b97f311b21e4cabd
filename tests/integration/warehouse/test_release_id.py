"""The release id covers everything that shapes a published figure (issue 11, item 8).

Before, it hashed the inputs, the SQL and the settings but not the Python: after a fix to a
statistic or to disclosure control the same id was found and `current` pointed back at the
old release, so the fix published nothing.
"""

from __future__ import annotations

import shutil

import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.release import identity
from tests.conftest import TinyIcs

PROVIDERS = [{"code": "QTT", "name": "ICB", "extracts": ["deaths", "ref_lsoa", "ref_practice"]}]


@pytest.fixture
def code_copy(tmp_path, monkeypatch):
    """A copy of the project's code packages that the release id reads instead of the real ones."""
    roots = []
    for root in identity.code_roots():
        copy = tmp_path / "code" / root.name
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
        roots.append(copy)
    monkeypatch.setattr(identity, "code_roots", lambda: roots)
    return tmp_path / "code"


@pytest.fixture
def warehouse(tmp_path, pseudo_key):
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    config = load_config(ics.config_path)
    con = pipeline.open_warehouse(config)
    yield con, config
    con.close()


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    "file, old, new",
    [
        # a disclosure rule, a statistic, a trend threshold: Python that shapes the figures
        ("transforms/disclosure.py", "MEDIAN_DECIMALS = 0", "MEDIAN_DECIMALS = 1"),
        ("transforms/statistics.py", "MIN_EVENTS_FOR_BYARS = 10", "MIN_EVENTS_FOR_BYARS = 11"),
        ("transforms/trend.py", "POINTS = 5", "POINTS = 6"),
        # an indicator's SQL and a validation suite (what loads) shape them too
        ("warehouse/indicators/PD01.sql", "SELECT", "SELECT  "),
    ],
)
def test_a_change_to_code_that_shapes_the_figures_gives_a_new_release_id(
    code_copy, warehouse, file, old, new
):
    con, config = warehouse
    before = identity.release_id(con, config)
    assert identity.release_id(con, config) == before  # the same code: the same id
    edit(code_copy / file, old, new)
    assert identity.release_id(con, config) != before


def test_a_changed_suite_gives_a_new_release_id(code_copy, warehouse):
    con, config = warehouse
    before = identity.release_id(con, config)
    suite = code_copy / "expectations" / "suites" / "deaths.json"
    suite.write_text(suite.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert identity.release_id(con, config) != before


def test_files_that_shape_nothing_leave_the_release_id(code_copy, warehouse):
    con, config = warehouse
    before = identity.release_id(con, config)
    (code_copy / "transforms" / "__pycache__").mkdir()
    (code_copy / "transforms" / "__pycache__" / "disclosure.cpython-311.pyc").write_bytes(b"x")
    (code_copy / "transforms" / "NOTES.md").write_text("a note", encoding="utf-8")
    assert identity.release_id(con, config) == before


def test_the_ics_name_is_published_so_it_is_in_the_release_id(warehouse):
    con, config = warehouse
    import dataclasses

    renamed = dataclasses.replace(config, ics_name="Another name")
    assert identity.release_id(con, renamed) != identity.release_id(con, config)


def test_registrations_are_in_the_release_id_and_names_and_order_are_not(warehouse):
    """data_complete depends on which providers are registered for an extract, so a new or
    removed registration gives a new id; provider names are not published, and the order the
    file lists them in means nothing."""
    import dataclasses

    from diewell.config import Provider

    con, config = warehouse
    same = identity.release_id(con, config)
    hospice = Provider(code="NEW01", name="A hospice", extracts=("deaths",))
    added = dataclasses.replace(config, providers=(*config.providers, hospice))
    assert identity.release_id(con, added) != same
    renamed_hospice = hospice.model_copy(update={"name": "Another name"})
    reordered = dataclasses.replace(config, providers=(renamed_hospice, *config.providers))
    assert identity.release_id(con, reordered) == identity.release_id(con, added)
    icb = config.providers[0]
    fewer = icb.model_copy(update={"extracts": tuple(e for e in icb.extracts if e != "deaths")})
    assert identity.release_id(con, dataclasses.replace(config, providers=(fewer,))) != same
