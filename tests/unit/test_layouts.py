"""Layouts as data: loading, a layout added as a file, bad layout files, and the accounting
the provenance of the data they use.

The built-in layouts' rules are tested in test_layouts_deaths.py, test_layouts_hospital.py and
test_layouts_community_gp.py; the accounting invariant in test_layouts_properties.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import textwrap
from pathlib import Path

import polars as pl
import pytest

from diewell.expectations.layouts import (
    LayoutError,
    LayoutNotFound,
    apply_layout,
    builtin_layout_names,
    load_layout,
)
from diewell.expectations.layouts.loading import BUILTIN_CODELISTS, BUILTIN_LOOKUPS

BUILTINS = ("csds_contacts", "gp_events", "ncdr_apc_episodes", "ncdr_deaths", "ncdr_ecds")


def frame(*rows: dict) -> pl.DataFrame:
    names = list(dict.fromkeys(k for row in rows for k in row))
    data = {n.lower(): [row.get(n) for row in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in data})


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


# --- the built-in layouts and their data --------------------------------------------------------


def test_the_five_built_in_layouts_load():
    assert builtin_layout_names() == BUILTINS
    targets = {name: sorted(load_layout(name).targets) for name in BUILTINS}
    assert targets == {
        "csds_contacts": ["community_contacts"],
        "gp_events": ["dementia_register", "palliative_register"],
        "ncdr_apc_episodes": ["apc_spells"],
        "ncdr_deaths": ["deaths"],
        "ncdr_ecds": ["ae_attendances"],
    }


def test_code_lists_carry_their_provenance():
    gp = load_layout("gp_events")
    sizes = {name: len(c.codes) for name, c in gp.codelists.items()}
    assert sizes == {
        "PALCARE_COD": 72,
        "PALCARENI_COD": 2,
        "DEM_COD": 154,
        "CARE_PLAN": 4,
        "RESPECT": 1,
        "DNACPR": 2,
    }
    assert gp.codelists["PALCARENI_COD"].codes == {"1048611000000104", "1095141000000109"}
    assert gp.codelists["DNACPR"].codes == {"450476008", "304253006"}
    assert "opencodelists" in gp.codelists["DEM_COD"].provenance[0].source.lower()
    assert "sources.md v3" in gp.codelists["CARE_PLAN"].provenance[0].source
    for data in [*BUILTIN_CODELISTS.glob("*.csv"), *BUILTIN_LOOKUPS.glob("*.csv")]:
        assert data.with_suffix(".source").is_file(), data.name


def test_the_bank_holiday_calendar_2000_to_2035():
    with (BUILTIN_LOOKUPS / "england-bank-holidays.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    dates = [dt.date.fromisoformat(r["date"]) for r in rows]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert {d.year for d in dates} == set(range(2000, 2036))
    assert all(d.weekday() < 5 for d in dates)  # a bank holiday is never a Saturday or Sunday
    assert {r["source"] for r in rows} == {"govuk", "rules", "rules_and_announcement"}
    for year in range(2000, 2036):  # eight a year, more in years with an extra one
        assert sum(d.year == year for d in dates) >= 8
    by_date = {r["date"]: r for r in rows}
    assert by_date["2022-09-19"]["source"] == "govuk"  # the Queen's state funeral
    assert by_date["2011-04-29"]["source"] == "rules_and_announcement"
    assert "2002-05-27" not in by_date and "2002-06-04" in by_date  # moved for the Jubilee
    assert "2030-12-25" in by_date and by_date["2030-12-25"]["source"] == "rules"


# --- a new layout is a file ---------------------------------------------------------------------

DARS = """
    layout: dars_deaths
    description: Identifiable DARS civil registration deaths, to deaths.
    source:
      required: [DEC_NHS_NUMBER, REG_DATE_OF_DEATH, DEC_SEX, S_UNDERLYING_COD_ICD10, PLACE, LSOAR]
      optional: [DEC_DATE_OF_BIRTH, IS_CURRENT]
    codelists:
      STILLBIRTH: {file: stillbirth-causes.csv}
    lookups:
      lsoa: {file: lsoa11-lsoa21.csv, key: lsoa11, value: lsoa21}
    targets:
      deaths:
        filters:
          - {reason: not_current_version, when: {IS_CURRENT: {not_in: ["True"]}}}
          - {reason: stillbirth, when: {S_UNDERLYING_COD_ICD10: {in_codelists: [STILLBIRTH]}}}
        columns:
          nhs_number: {from: DEC_NHS_NUMBER}
          date_of_birth: {form: date, from: DEC_DATE_OF_BIRTH, formats: [YYYYMMDD]}
          date_of_death: {form: date, from: REG_DATE_OF_DEATH, formats: [YYYYMMDD]}
          sex: {from: DEC_SEX}
          underlying_cause_icd10: {form: icd10, from: S_UNDERLYING_COD_ICD10}
          place_of_death:
            form: map
            from: PLACE
            codes: {"H": home, "CH": care_home, "HOS": hospital, "HSP": hospice}
            meaning: a place of death this ICS knows
          lsoa_code: {form: lookup, from: LSOAR, table: lsoa}
"""


def ics_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "layouts"
    folder.mkdir()
    write(folder, "dars_deaths.yaml", DARS)
    write(folder, "stillbirth-causes.csv", "code,term\nP95,Fetal death of unspecified cause\n")
    write(folder, "stillbirth-causes.source", "source: the ICS's own list (a test)\n")
    write(folder, "lsoa11-lsoa21.csv", "lsoa11,lsoa21\nE01000001,E01033333\n")
    write(
        folder, "lsoa11-lsoa21.source", "source: ONS LSOA (2011) to LSOA (2021) lookup (a test)\n"
    )
    return folder


def test_a_layout_written_as_a_file_loads_rows_with_no_code(tmp_path):
    layout = load_layout("dars_deaths", [ics_folder(tmp_path)])
    base = {
        "DEC_NHS_NUMBER": "943 476 5919",
        "REG_DATE_OF_DEATH": "20240131",
        "DEC_SEX": "1",
        "S_UNDERLYING_COD_ICD10": "C349",
        "PLACE": "H",
        "LSOAR": "E01000001",
        "DEC_DATE_OF_BIRTH": "19300201",
        "IS_CURRENT": "True",
    }
    raw = frame(
        base,
        {**base, "IS_CURRENT": "False"},
        {**base, "S_UNDERLYING_COD_ICD10": "P95"},
        {**base, "PLACE": "7Q"},
        {**base, "PLACE": "HOS", "LSOAR": "E01000002", "REG_DATE_OF_DEATH": "31/01/2024"},
    )
    out = apply_layout(raw, layout, target_extract="deaths")
    assert out.rows.drop("row_number").to_dicts() == [
        {
            "nhs_number": "943 476 5919",
            "date_of_birth": "1930-02-01",
            "date_of_death": "2024-01-31",
            "sex": "1",
            "underlying_cause_icd10": "C34.9",
            "place_of_death": "home",
            "lsoa_code": "E01033333",
        },
        # only YYYYMMDD is listed, so 31/01/2024 is left as it came, for the contract (which
        # reads DD/MM/YYYY itself)
        {
            "nhs_number": "943 476 5919",
            "date_of_birth": "1930-02-01",
            "date_of_death": "31/01/2024",
            "sex": "1",
            "underlying_cause_icd10": "C34.9",
            "place_of_death": "hospital",
            "lsoa_code": "E01000002",
        },
    ]
    assert out.source_rows["source_row"].to_list() == [1, 5]
    assert out.filtered.to_dicts() == [
        {"source_row": 2, "reason": "not_current_version"},
        {"source_row": 3, "reason": "stillbirth"},
    ]
    assert out.findings.to_dicts() == [
        {
            "source_row": 4,
            "rule": "unknown_code",
            "column": "PLACE",
            "value": "7Q",
            "message": "PLACE '7Q' is not a place of death this ICS knows",
        }
    ]
    assert out.column_sources["nhs_number"] == "DEC_NHS_NUMBER"
    assert layout.lookups["lsoa"].provenance[0].source.startswith("ONS")


def test_an_unknown_code_that_looks_like_an_nhs_number_is_masked(tmp_path):
    layout = load_layout("dars_deaths", [ics_folder(tmp_path)])
    raw = frame(
        {
            "DEC_NHS_NUMBER": "x",
            "REG_DATE_OF_DEATH": "20240131",
            "DEC_SEX": "1",
            "S_UNDERLYING_COD_ICD10": "C349",
            "PLACE": "9434765919",
            "LSOAR": "E01000001",
            "IS_CURRENT": "True",
        }
    )
    found = apply_layout(raw, layout, target_extract="deaths").findings.to_dicts()[0]
    assert found["value"] == "********19"
    assert "9434765919" not in found["message"]


def test_an_ics_layout_comes_before_a_built_in_one_and_can_extend_it(tmp_path):
    folder = tmp_path / "ics"
    folder.mkdir()
    write(
        folder,
        "gp_events.yaml",
        """
        layout: gp_events
        extends: gp_events
        codelists:
          CARE_PLAN:
            - {file: alliance-gp-lists.csv, list: care_plan}
            - {file: our-care-plans.csv}
    """,
    )
    write(
        folder,
        "our-care-plans.csv",
        "code,term\n1187911000000105,Personalised care and support plan agreed\n",
    )
    write(folder, "our-care-plans.source", "source: the ICS's own addition (a test)\n")
    layout = load_layout("gp_events", [folder])
    assert layout.path.parent == folder
    assert len(layout.codelists["CARE_PLAN"].codes) == 5
    assert len(layout.codelists["CARE_PLAN"].provenance) == 2
    raw = frame(
        {
            "person_id": "a",
            "gp_practice_code": "A81001",
            "event_date": "2020-01-01",
            "snomed_code": "103735009",
        },
        {
            "person_id": "a",
            "gp_practice_code": "A81001",
            "event_date": "2019-01-01",
            "snomed_code": "1187911000000105",
        },
    )
    out = apply_layout(raw, layout, target_extract="palliative_register")
    assert out.rows["care_plan_date"].to_list() == ["2019-01-01"]
    # The built-in layout, unextended, filters that code out.
    builtin = apply_layout(raw, load_layout("gp_events"), target_extract="palliative_register")
    assert builtin.rows["care_plan_date"].to_list() == [None]


def test_a_supplied_lookup_may_be_required(tmp_path):
    folder = ics_folder(tmp_path)
    text = DARS.replace("dars_deaths", "strict_deaths").replace(
        "lsoa: {file: lsoa11-lsoa21.csv, key: lsoa11, value: lsoa21}",
        "lsoa: {supplied: true, required: true}",
    )
    write(folder, "strict_deaths.yaml", text)
    layout = load_layout("strict_deaths", [folder])
    raw = frame(
        {
            "DEC_NHS_NUMBER": "x",
            "REG_DATE_OF_DEATH": "20240131",
            "DEC_SEX": "1",
            "S_UNDERLYING_COD_ICD10": "C349",
            "PLACE": "H",
            "LSOAR": "E01000001",
            "IS_CURRENT": "True",
        }
    )
    with pytest.raises(LayoutError, match="needs the lookup lsoa"):
        apply_layout(raw, layout, target_extract="deaths")
    out = apply_layout(
        raw, layout, lookups={"lsoa": {"E01000001": "E01000009"}}, target_extract="deaths"
    )
    assert out.rows["lsoa_code"].to_list() == ["E01000009"]


# --- bad layout files -----------------------------------------------------------------------------


def bad(tmp_path: Path, old: str, new: str, name: str = "dars_deaths") -> str:
    """The error loading the DARS layout with `old` replaced by `new`."""
    folder = ics_folder(tmp_path)
    assert old in DARS
    write(folder, "dars_deaths.yaml", DARS.replace(old, new))
    with pytest.raises(LayoutError) as caught:
        load_layout(name, [folder])
    return str(caught.value)


def test_an_unknown_layout(tmp_path):
    with pytest.raises(LayoutNotFound, match="no layout 'sus_unified'.*ncdr_deaths"):
        load_layout("sus_unified", [tmp_path])


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{from: DEC_SEX}",
            "{form: gender, from: DEC_SEX}",
            r"dars_deaths.yaml: targets.deaths.columns.sex.form: unknown operation 'gender'",
        ),
        (
            "            from: PLACE\n",
            "",
            r"targets.deaths.columns.place_of_death: missing required key \['from'\]",
        ),
        (
            'codes: {"H": home',
            "codes: {01: home",
            r"targets.deaths.columns.place_of_death.codes: must be text .*quote codes",
        ),
        (
            "{from: DEC_SEX}",
            "{from: DEC_GENDER}",
            r"targets.deaths.columns.sex.from: 'DEC_GENDER' is not a source column",
        ),
        (
            "{from: DEC_SEX}",
            "{from: DEC_SEX, colour: red}",
            r"targets.deaths.columns.sex.colour: unknown key",
        ),
        (
            "in_codelists: [STILLBIRTH]",
            "in_codelists: [NEONATAL]",
            r"targets.deaths.filters\[1\].when.S_UNDERLYING_COD_ICD10.in_codelists\[0\]: unknown code list 'NEONATAL'",
        ),
        (
            "DEC_DATE_OF_BIRTH, formats: [YYYYMMDD]",
            "DEC_DATE_OF_BIRTH, formats: [MM/DD/YYYY]",
            r"targets.deaths.columns.date_of_birth.formats\[0\]: unknown date format 'MM/DD/YYYY'",
        ),
        (
            "table: lsoa}",
            "table: lsoa_2011}",
            r"columns.lsoa_code.table: unknown lookup 'lsoa_2011'",
        ),
        ("layout: dars_deaths", "layout: deaths_dars", r"layout: must be the file's name"),
        ("source:\n", "sources:\n", r"dars_deaths.yaml: sources: unknown key"),
        (
            "{reason: stillbirth, ",
            "{",
            r"targets.deaths.filters\[1\]: missing required key \['reason'\]",
        ),
        ("targets:", "targets: [\n", r"is not valid YAML"),
        (
            '{IS_CURRENT: {not_in: ["True"]}}',
            "{IS_CURRENT: {as: integer}}",
            r"filters\[0\].when.IS_CURRENT: must hold at least one of",
        ),
    ],
)
def test_a_bad_layout_file_names_the_file_and_the_key(tmp_path, old, new, expected):
    message = bad(tmp_path, old, new)
    assert re.search(expected, message), message


def test_a_code_list_without_provenance_does_not_load(tmp_path):
    folder = ics_folder(tmp_path)
    (folder / "stillbirth-causes.source").unlink()
    with pytest.raises(
        LayoutError, match=r"codelists.STILLBIRTH: stillbirth-causes.csv has no provenance"
    ):
        load_layout("dars_deaths", [folder])


def test_an_unknown_aggregation_pick(tmp_path):
    folder = tmp_path / "ics"
    folder.mkdir()
    text = load_layout("gp_events").path.read_text(encoding="utf-8")
    write(
        folder,
        "gp_events.yaml",
        text.replace("gp_practice_code: last", "gp_practice_code: commonest"),
    )
    with pytest.raises(
        LayoutError, match=r"aggregate.columns.gp_practice_code.pick: unknown operation 'commonest'"
    ):
        load_layout("gp_events", [folder])


def test_layouts_that_extend_each_other_in_a_circle(tmp_path):
    write(tmp_path, "one.yaml", "layout: one\nextends: two\n")
    write(tmp_path, "two.yaml", "layout: two\nextends: one\n")
    with pytest.raises(LayoutError, match="in a circle"):
        load_layout("one", [tmp_path])


def test_a_target_the_layout_does_not_form():
    with pytest.raises(LayoutError, match="forms no apc_spells rows"):
        apply_layout(frame({"x": "1"}), load_layout("ncdr_deaths"), target_extract="apc_spells")


def test_a_rules_column_names_each_source_column_once():
    """A rule whose condition and value name one column (the confirmed NHS number, else the
    potential one) named each twice in every reason."""
    from diewell.expectations.layouts.forms import FormBuilder

    layout = load_layout("ncdr_deaths")
    spec = {
        "form": "rules",
        "rules": [
            {"when": {"DEC_SEX": {"empty": False}}, "from": "DEC_SEX"},
            {"when": {"POD_CODE": {"empty": False}}, "from": "POD_CODE"},
        ],
        "otherwise": {"value": None},
    }
    assert FormBuilder(layout, None).build("sex", spec).sources == ("DEC_SEX", "POD_CODE")
