"""The synthetic ICS in the national layouts (`synthesize(..., layouts="national")`, issue 38).

One small ICS (10,000 people, 1 year, no defects) is written twice with the same seed: in the
contract layout and in the national layouts. Each national file, put through its built-in
layout by the layout engine, must give back the contract file of the same extract, provider
and period, row for row, for every column the layout carries, with person keys compared as
the data service's pseudonyms and dates as contract strings (`YYYY-MM-DD`).

Contract columns the national layouts do not carry, which legitimately differ:
- deaths: place_of_death_org_code (not in ncdr_deaths); date_of_birth where the NCDR row gives
  the age at death only (age_at_death, new in v3, comes back on every row instead);
- palliative_register: identification_tool, preferred_place_of_death,
  preferred_place_recorded_date, what_matters_date, ethnic_category (not derived from GP
  events in v3: empty);
- dementia_register: dementia_subtype (empty; the DEM_COD code written is the subtype's);
- apc_spells: specialist_palliative_care comes back `N` where the contract left it empty (SUS
  always has a treatment function);
- community_contacts: out_of_hours comes back `Y` for a contact on a weekend or bank holiday
  that the contract marked `N` (CSDS derives it from the contact's date and time);
- ICD-10 codes come back in the layout's form (`C34.9`, `I10`), compared without the dot;
  place_of_death codes (`10`, `41`...) come back as the place they stand for.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from diewell.expectations.layouts import apply_layout, load_layout
from diewell.synth import synthesize
from diewell.synth.deliveries import with_defects
from diewell.synth.layout import NATIONAL_LAYOUTS, Provider
from diewell.synth.national import FILTERED_NAME, person_token
from diewell.synth.national_gp import OTHER_CODES
from diewell.transforms.nhs_number import is_valid_nhs_number

SEED, POPULATION = 7, 10_000
END = dt.date(2026, 9, 30)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DAY_FIRST = re.compile(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$")
DIGIT_RUN = re.compile(r"[0-9]{10,}")
TEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])")
PLACE_CODES = {"10": "hospital", "20": "home", "21": "home", "22": "other", "30": "hospice", "40": "care_home", "41": "care_home", "42": "care_home", "50": "other"}  # fmt: skip
PERSON_COLUMNS = {"nhs_number", "deceased_nhs_number", "der_pseudo_nhs_number", "person_id"}
# Contract columns each layout carries (and so must give back), with the row key.
CARRIED = {
    "deaths": (
        "nhs_number",
        [
            "date_of_death",
            "date_of_registration",
            "sex",
            "underlying_cause_icd10",
            "contributing_causes_icd10",
            "place_of_death",
            "lsoa_code",
            "gp_practice_code",
        ],
    ),
    "apc_spells": (
        "spell_id",
        [
            "nhs_number",
            "admission_date",
            "admission_method",
            "discharge_date",
            "discharge_destination",
            "primary_diagnosis_icd10",
            "specialist_palliative_care",
        ],
    ),
    "ae_attendances": ("attendance_id", ["nhs_number", "arrival_datetime", "department_type"]),
    "community_contacts": (
        "contact_id",
        ["nhs_number", "contact_date", "service", "contact_mode", "out_of_hours"],
    ),
    "palliative_register": (
        "nhs_number",
        ["gp_practice_code", "date_added", "care_plan_date", "respect_date", "dnacpr_date"],
    ),
    "dementia_register": ("nhs_number", ["gp_practice_code", "date_diagnosed"]),
}
NOT_CARRIED = {
    "deaths": ["place_of_death_org_code"],
    "palliative_register": [
        "identification_tool",
        "preferred_place_of_death",
        "preferred_place_recorded_date",
        "what_matters_date",
        "ethnic_category",
    ],
    "dementia_register": ["dementia_subtype"],
}
ICD10_COLUMNS = ("underlying_cause_icd10", "primary_diagnosis_icd10")
# Source column names as the national layouts spell them (the contract's are lower case).
NATIONAL_COLUMN_NAMES = {
    c
    for name in set(NATIONAL_LAYOUTS.values())
    for c in load_layout(name).source_columns
    if c != "gp_practice_code"
}


@pytest.fixture(scope="module")
def ics(tmp_path_factory):
    """(contract folder, national folder): the same ICS written both ways."""
    root = tmp_path_factory.mktemp("national")
    folders = {}
    for layouts in ("contract", "national"):
        folders[layouts] = root / layouts
        synthesize(
            folders[layouts], seed=SEED, population=POPULATION, years=1, end_date=END,
            defect_rate=0.0, layouts=layouts,
        )  # fmt: skip
    return folders["contract"], folders["national"]


def read(path: Path) -> pl.DataFrame:
    """A delivery as the pipeline reads it: every column text, names trimmed and lower-cased."""
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path).cast(pl.String)
    else:
        frame = pl.read_csv(path, infer_schema=False)
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    return frame.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in frame.columns)


def files(folder: Path, extract: str) -> list[Path]:
    return sorted((folder / "landing" / extract).iterdir())


def lsoa_lookup(national: Path) -> dict[str, str]:
    (path,) = files(national, "ref_lsoa_2011")
    table = read(path)
    return dict(zip(table["lsoa11_code"], table["lsoa21_code"], strict=True))


def outcome(path: Path, extract: str, national: Path):
    lookups = {"ref_lsoa_2011": lsoa_lookup(national)} if extract == "deaths" else None
    layout = load_layout(NATIONAL_LAYOUTS[extract])
    return apply_layout(read(path), layout, lookups=lookups, target_extract=extract)


def iso(value: str | None) -> str | None:
    """A contract date as `YYYY-MM-DD` (practices on one system write `DD/MM/YYYY`)."""
    if value is None or not DAY_FIRST.match(value):
        return value
    return dt.datetime.strptime(value, "%d/%m/%Y").date().isoformat()


def icd10(value: str | None) -> str | None:
    if value is None:
        return None
    return ";".join(code.replace(".", "").upper() for code in value.split(";"))


def whole_years(born: str, died: str) -> str:
    b, d = dt.date.fromisoformat(born), dt.date.fromisoformat(died)
    return str(d.year - b.year - ((d.month, d.day) < (b.month, b.day)))


def holidays() -> frozenset[str]:
    return load_layout("csds_contacts").lookups["england_bank_holidays"].keys or frozenset()


def expected_rows(contract: pl.DataFrame, extract: str) -> list[dict]:
    """The contract file's rows as the layout gives them back (see the module docstring)."""
    off_days = holidays()
    rows = []
    for row in contract.to_dicts():
        row = {k: iso(v) for k, v in row.items()}
        row["nhs_number"] = person_token(row["nhs_number"])
        if extract == "deaths":
            row["place_of_death"] = PLACE_CODES.get(row["place_of_death"], row["place_of_death"])
            row["contributing_causes_icd10"] = icd10(row["contributing_causes_icd10"])
        if extract == "apc_spells" and row["specialist_palliative_care"] is None:
            row["specialist_palliative_care"] = "N"
        if extract == "community_contacts" and row["out_of_hours"] == "N":
            day = dt.date.fromisoformat(row["contact_date"])
            if day.weekday() >= 5 or day.isoformat() in off_days:
                row["out_of_hours"] = "Y"
        for column in ICD10_COLUMNS:
            if column in row:
                row[column] = icd10(row[column])
        rows.append(row)
    return rows


def given_back(rows: pl.DataFrame) -> list[dict]:
    out = []
    for row in rows.to_dicts():
        for column in (*ICD10_COLUMNS, "contributing_causes_icd10"):
            if column in row:
                row[column] = icd10(row[column])
        out.append(row)
    return out


def national_files(national: Path):
    for extract in NATIONAL_LAYOUTS:
        for path in files(national, extract):
            yield extract, path


def test_each_layout_gives_back_the_contract_rows(ics):
    contract, national = ics
    compared = dict.fromkeys(NATIONAL_LAYOUTS, 0)
    without_birth_date = 0
    for extract, path in national_files(national):
        got = outcome(path, extract, national)
        assert got.findings.height == 0, (path.name, got.findings.head(3).to_dicts())
        assert set(got.warnings["rule"]) <= {"service_team_type_other"}, path.name
        key, columns = CARRIED[extract]
        sent = read(contract / "landing" / extract / path.name)
        want = {r[key]: r for r in expected_rows(sent, extract)}
        back = {r[key]: r for r in given_back(got.rows)}
        assert back.keys() == want.keys(), path.name
        for k, row in back.items():
            for column in columns:
                assert row[column] == want[k][column], (path.name, column, row, want[k])
            for column in NOT_CARRIED.get(extract, ()):
                assert row.get(column) is None, (path.name, column)
            if extract == "deaths":
                born, died = want[k]["date_of_birth"], want[k]["date_of_death"]
                assert row["date_of_birth"] in (born, None)
                without_birth_date += row["date_of_birth"] is None
                assert row["age_at_death"] == whole_years(born, died)
                young = dt.date.fromisoformat(died) - dt.date.fromisoformat(born)
                assert row["neonatal"] == ("Y" if young.days < 28 else None)
        compared[extract] += len(back)
    assert all(compared.values()), compared
    assert without_birth_date > 0


def test_the_layouts_filter_exactly_the_rows_written_to_be_filtered(ics):
    _, national = ics
    listed = pl.read_csv(national / FILTERED_NAME, infer_schema=False)
    expected = {(row["file"], int(row["source_row"])): row["reason"] for row in listed.to_dicts()}
    filtered = {}
    for extract, path in national_files(national):
        for row in outcome(path, extract, national).filtered.to_dicts():
            filtered[(path.name, row["source_row"])] = row["reason"]
    assert filtered == expected
    kinds = {reason for reason in expected.values()}
    assert kinds == {
        "cancelled_registration", "duplicate_record", "dead_on_arrival", "planned_follow_up",
        "not_attended", "not_in_codelists", "not_on_register",
    }  # fmt: skip


def test_events_outside_the_code_lists_use_codes_in_none_of_them():
    layout = load_layout("gp_events")
    every = set().union(*(codes.codes for codes in layout.codelists.values()))
    assert not set(OTHER_CODES) & every


def all_cells(folder: Path) -> dict[Path, pl.DataFrame]:
    return {p: read(p) for p in sorted((folder / "landing").rglob("*")) if p.is_file()}


def test_no_nhs_number_reaches_the_national_landing_folder_and_one_token_per_person(ics):
    contract, national = ics
    numbers = set()
    for table in all_cells(contract).values():
        for column in PERSON_COLUMNS & set(table.columns):
            numbers |= set(table[column].drop_nulls().str.replace_all(" ", "").to_list())
    assert numbers and all(is_valid_nhs_number(n) for n in numbers)
    keys = set()
    for path, table in all_cells(national).items():
        # Every cell and name (a CSV's text as written; a Parquet file's values).
        text = "\n".join(
            [*table.columns, *(v for c in table.iter_columns() for v in c.drop_nulls())]
        )
        if path.suffix == ".csv":
            text += path.read_text(encoding="utf-8")
        shaped = [m for m in TEN_DIGITS.findall(text) if is_valid_nhs_number(m)]
        assert not shaped, (path.name, shaped[:3])
        # Nor any of the people's numbers inside a longer run of digits.
        runs = DIGIT_RUN.findall(text)
        assert not {r[i : i + 10] for r in runs for i in range(len(r) - 9)} & numbers, path.name
        for column in PERSON_COLUMNS & set(table.columns):
            keys |= set(table[column].drop_nulls().to_list())
    assert all(TOKEN.match(k) for k in keys)
    # One token per person, and one person per token: the people are the same.
    assert keys == {person_token(n) for n in numbers}


def test_contract_layout_extracts_differ_only_by_the_pseudonyms(ics):
    contract, national = ics
    for path, table in all_cells(contract).items():
        extract = path.parent.name
        if extract in NATIONAL_LAYOUTS:
            continue
        other = read(national / "landing" / extract / path.name)
        for column in PERSON_COLUMNS & set(table.columns):
            table = table.with_columns(
                pl.col(column).map_elements(person_token, return_dtype=pl.String)
            )
        assert other.equals(table), path.name


def test_the_config_names_each_layout_and_the_pseudonymised_person_key(ics):
    contract, national = ics
    config = yaml.safe_load((national / "diewell.yaml").read_text(encoding="utf-8"))
    assert config["pseudonymisation"]["person_key"] == "pseudonymised"
    assert config["pseudonymisation"]["domain"] == "synthetic-dscro"
    named = {}
    for provider in config["providers"]:
        for extract, layout in provider.get("layouts", {}).items():
            assert extract in provider["extracts"]
            named.setdefault(extract, set()).add(layout)
        if provider["code"] == config["ics"]["code"]:
            assert "ref_lsoa_2011" in provider["extracts"]
    assert named == {extract: {layout} for extract, layout in NATIONAL_LAYOUTS.items()}
    plain = yaml.safe_load((contract / "diewell.yaml").read_text(encoding="utf-8"))
    assert all("layouts" not in p for p in plain["providers"])
    assert "person_key" not in plain["pseudonymisation"]


def test_contract_mode_writes_no_national_column_lookup_or_list(ics):
    contract, _ = ics
    assert not (contract / FILTERED_NAME).exists()
    assert not (contract / "landing" / "ref_lsoa_2011").exists()
    for path in all_cells(contract):
        header = pl.read_parquet_schema(path) if path.suffix == ".parquet" else None
        names = (
            list(header) if header else path.read_text(encoding="utf-8").split("\n")[0].split(",")
        )
        assert not NATIONAL_COLUMN_NAMES & set(names), path.name


def test_pseudonyms_are_fixed_tokens_and_a_broken_one_is_not_a_token():
    assert person_token(9434765919) == person_token("943 476 5919")
    tokens = [person_token(9000000000 + i) for i in range(200)]
    assert len(set(tokens)) == 200 and all(TOKEN.match(t) for t in tokens)
    table = pl.DataFrame({"nhs_number": tokens, "contact_date": ["2026-01-31"] * 200})
    provider = Provider(code="NH01", name="Hospice", kind="hospice", extracts=())
    rng = np.random.default_rng(1)
    broken = with_defects(table, "hospice_contacts", provider, rng, 0.1)["nhs_number"]
    changed = [t for t in broken if t not in tokens]
    assert changed and not any(TOKEN.match(t) for t in changed)


def test_the_same_seed_writes_the_same_national_files(tmp_path):
    def written(folder: Path) -> dict[str, bytes]:
        synthesize(folder, seed=3, population=2_000, years=1, end_date=END, layouts="national")
        paths = [p for p in folder.rglob("*") if p.is_file() and p.name != "pseudo.key"]
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}

    assert written(tmp_path / "a") == written(tmp_path / "b")
