"""The synthetic ICS generator (diewell.synth): what it writes, checked from the files alone.

Every property is computed from the landing files with plain Polars, the contract code and
the NHS number check, never with the generator's own helpers. Sizes are small (60,000 people
over 2 years; 30,000 over 1 year for determinism and defects) so the file runs in well under
a minute; shares are checked within wide ranges for that reason.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from diewell.config import load_config
from diewell.expectations.contracts import load_contract
from diewell.expectations.rules import validate_rows
from diewell.synth import activity, alliances, synthesize
from diewell.synth import parameters as P
from diewell.synth.events import NO_DATE, Table
from diewell.synth.layout import make_layout, make_window, organisation_counts
from diewell.synth.nhs_numbers import nhs_numbers
from diewell.synth.people import DAYS_PER_YEAR, NO_DEATH, People
from diewell.transforms.nhs_number import is_valid_nhs_number

EXTRACTS = {
    "deaths": "monthly",
    "apc_spells": "monthly",
    "ae_attendances": "monthly",
    "hospice_referrals": "monthly",
    "hospice_contacts": "monthly",
    "community_contacts": "monthly",
    "spoc_calls": "monthly",
    "palliative_register": "quarterly",
    "outcome_assessments": "quarterly",
    "gp_population": "quarterly",
    "ref_lsoa": "once",
    "ref_practice": "once",
    "dementia_register": "quarterly",
    "bereavement_contacts": "monthly",
    "education_sessions": "monthly",
    "ref_care_homes": "once",
}
FILE_NAME = re.compile(
    r"^(?P<extract>[a-z_]+?)_(?P<provider>[A-Z0-9]{3,6})_(?P<period>[0-9]{8})\.(csv|parquet)$"
)
END = dt.date(2026, 9, 30)
PLACE_CODES = {"10": "hospital", "20": "home", "21": "home", "22": "other", "30": "hospice", "40": "care_home", "41": "care_home", "42": "care_home", "50": "other"}  # fmt: skip
ACTIVITY_DATES = {
    "apc_spells": ["admission_date", "discharge_date"],
    "ae_attendances": ["arrival_datetime"],
    "hospice_referrals": ["referral_date", "first_contact_date", "discharge_date"],
    "hospice_contacts": ["contact_date"],
    "community_contacts": ["contact_date"],
    "spoc_calls": ["call_datetime"],
    "outcome_assessments": ["assessment_date"],
}
KEYS = {
    "apc_spells": "spell_id",
    "ae_attendances": "attendance_id",
    "hospice_referrals": "referral_id",
    "hospice_contacts": "contact_id",
    "community_contacts": "contact_id",
    "spoc_calls": "call_id",
    "outcome_assessments": "assessment_id",
}


# --- reading what was written ----------------------------------------------------------


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "landing").rglob("*") if p.is_file())


def read_file(path: Path) -> pl.DataFrame:
    """A delivered file as strings (empty fields are null)."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path).cast(pl.String)
    return pl.read_csv(path, infer_schema=False)


def read_extract(root: Path, extract: str) -> pl.DataFrame:
    """Every delivery of one extract, with the file's provider and period end."""
    frames = []
    for path in sorted((root / "landing" / extract).iterdir()):
        m = FILE_NAME.match(path.name)
        frames.append(
            read_file(path).with_columns(
                pl.lit(m["provider"]).alias("_provider"), pl.lit(m["period"]).alias("_period")
            )
        )
    return pl.concat(frames, how="diagonal_relaxed")


def as_date(column: str) -> pl.Expr:
    """A date (or the date of a datetime) written YYYY-MM-DD or DD/MM/YYYY; null if neither."""
    text = pl.col(column).str.slice(0, 10)
    return pl.coalesce(
        text.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        text.str.strptime(pl.Date, "%d/%m/%Y", strict=False),
    ).alias(column)


def nhs_key() -> pl.Expr:
    return pl.col("nhs_number").str.replace_all(" ", "").alias("nhs")


def deaths_of(root: Path) -> pl.DataFrame:
    deaths = read_extract(root, "deaths").with_columns(
        nhs_key(),
        as_date("date_of_death"),
        as_date("date_of_birth"),
        pl.col("place_of_death").replace(PLACE_CODES).alias("place"),
    )
    return deaths.with_columns(
        (pl.col("date_of_death") - pl.col("date_of_birth")).dt.total_days().alias("age_days")
    )


@pytest.fixture(scope="module")
def ics(tmp_path_factory) -> Path:
    """A conforming synthetic ICS: 60,000 people over 2 years, no defects."""
    root = tmp_path_factory.mktemp("ics")
    synthesize(root, seed=11, population=60_000, years=2, defect_rate=0.0)
    return root


@pytest.fixture(scope="module")
def defective(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("defective")
    synthesize(root, seed=5, population=30_000, years=1, defect_rate=0.01)
    return root


# --- files, names, config ------------------------------------------------------------


def test_every_extract_is_delivered_in_its_cadence_with_contract_names(ics):
    months = {dt.date(y, m, 1) for y in (2024, 2025, 2026) for m in range(1, 13)}
    month_ends = {
        (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        for d in months
    }
    periods: dict[str, set[dt.date]] = {e: set() for e in EXTRACTS}
    for path in landing_files(ics):
        m = FILE_NAME.match(path.name)
        assert m, path.name
        assert m["extract"] == path.parent.name
        period = dt.datetime.strptime(m["period"], "%Y%m%d").date()
        assert period in month_ends and period <= END
        periods[m["extract"]].add(period)
    for extract, cadence in EXTRACTS.items():
        expected = {"monthly": 24, "quarterly": 8, "once": 1}[cadence]
        assert len(periods[extract]) == expected, extract
        if cadence == "quarterly":
            assert all(p.month in (3, 6, 9, 12) for p in periods[extract]), extract
    assert periods["ref_lsoa"] == {END}


def test_config_loads_and_registers_every_sender(ics):
    config = load_config(ics / "diewell.yaml")
    assert config.ics_code == "QSY"
    assert config.key_file == (ics / "pseudo.key").resolve()
    senders = set()
    for path in landing_files(ics):
        m = FILE_NAME.match(path.name)
        assert config.is_registered(m["provider"], m["extract"]), path.name
        senders.add(m["provider"])
    assert senders == {p.code for p in config.providers}  # every provider delivers
    assert len(config.providers_for("apc_spells")) == 3
    assert len(config.providers_for("hospice_referrals")) == 4
    assert len(config.providers_for("spoc_calls")) == 1
    assert len(config.providers_for("community_contacts")) == 1
    practices = config.providers_for("palliative_register")
    assert len(practices) >= 6 and all(re.fullmatch(r"[A-Z][0-9]{5}", p.code) for p in practices)
    childrens = read_extract(ics, "hospice_referrals").filter(pl.col("service") == "childrens")
    assert childrens["_provider"].n_unique() == 1  # one children's hospice


V3_NATIONAL_ONLY = {"deaths": {"age_at_death", "neonatal"}}  # extracts.md v3


def test_files_conform_to_the_contract_when_defect_rate_is_zero(ics):
    formats = {"parquet": 0, "day_first": 0, "spaced": 0}
    for path in landing_files(ics):
        m = FILE_NAME.match(path.name)
        table = read_file(path).with_columns(pl.all().fill_null(""))
        contract = load_contract(m["extract"])
        # v3's optional columns for national feeds (age_at_death, neonatal) are left out here
        absent = [c for c in contract.column_names if c not in table.columns]
        assert table.columns == [c for c in contract.column_names if c not in absent], path.name
        assert set(absent) <= V3_NATIONAL_ONLY.get(m["extract"], set()), path.name
        period_end = dt.datetime.strptime(m["period"], "%Y%m%d").date()
        result = validate_rows(table, contract, period_end)
        assert result.findings.height == 0, (path.name, result.findings.head(3).to_dicts())
        formats["parquet"] += path.suffix == ".parquet"
        if "date_added" in table.columns:
            formats["day_first"] += table["date_added"].str.contains("/").any()
        if "nhs_number" in table.columns:
            formats["spaced"] += table["nhs_number"].str.contains(" ").any()
    assert all(n > 0 for n in formats.values()), formats  # each provider quirk occurs


def test_deaths_carry_valid_unique_nhs_numbers(ics):
    numbers = read_extract(ics, "deaths")["nhs_number"]
    assert numbers.n_unique() == len(numbers) > 500
    assert all(is_valid_nhs_number(n) for n in numbers)


def test_nhs_numbers_are_unique_valid_and_not_in_practice_order():
    total = 300_000
    numbers = nhs_numbers(np.arange(total), total, multiplier=1_234_567, offset=890)
    assert len(np.unique(numbers)) == total
    assert all(is_valid_nhs_number(str(n)) for n in numbers[::97])
    assert numbers.min() >= 9_000_000_000
    assert not (np.diff(numbers[:1000]) > 0).all()


def test_csv_quotes_names_with_commas(ics):
    text = next((ics / "landing" / "ref_practice").iterdir()).read_text(encoding="utf-8")
    assert '"The Surgery, ' in text
    assert read_extract(ics, "ref_practice")["practice_name"].str.contains(",").any()


# --- people and deaths ---------------------------------------------------------------


def test_place_of_death_shares_are_plausible_and_depend_on_condition(ics):
    deaths = deaths_of(ics).filter(pl.col("age_days") >= 28)
    share = deaths["place"].value_counts(normalize=True)
    share = dict(zip(share["place"], share["proportion"] * 100, strict=True))
    # ONS/OHID England 2022: hospital 43.4, home 28.7, care home 20.5, hospice 4.7, other 2.6
    for place, (low, high) in {"hospital": (37, 50), "home": (22, 34), "care_home": (15, 26), "hospice": (2.5, 7.5), "other": (0.5, 5)}.items():  # fmt: skip
        assert low <= share[place] <= high, (place, share[place])
    cause = pl.col("underlying_cause_icd10")
    cancer = deaths.filter(cause.str.starts_with("C"))
    dementia = deaths.filter(cause.str.slice(0, 3).is_in(["F01", "F03", "G30"]))
    others = deaths.filter(~cause.str.starts_with("C"))
    home_or_hospice = pl.col("place").is_in(["home", "hospice"])
    assert (
        cancer.select(home_or_hospice.mean()).item()
        > others.select(home_or_hospice.mean()).item() + 0.1
    )
    care_home = pl.col("place") == "care_home"
    assert dementia.select(care_home.mean()).item() > 2 * others.select(care_home.mean()).item()


def test_deaths_include_neonatal_and_external_causes(ics):
    deaths = deaths_of(ics)
    assert 0 < deaths.filter(pl.col("age_days") < 28).height < 0.02 * deaths.height
    code = pl.col("underlying_cause_icd10")
    external = deaths.select(code.str.contains(r"^([VWX]|Y[0-8])").mean()).item()
    assert 0.015 < external < 0.08
    forms = [
        r"^[A-Z][0-9]{2}$",
        r"^[A-Z][0-9]{2}\.[0-9A-Z]$",
        r"^[A-Z][0-9]{3}$",
    ]  # C34, C34.9, C349
    assert all(deaths.select(code.str.contains(form).any()).item() for form in forms)
    assert set(deaths["place_of_death"]) & set(PLACE_CODES) and {"home", "hospital"} <= set(
        deaths["place_of_death"]
    )


def test_death_rate_and_registered_population(ics):
    population = read_extract(ics, "gp_population").with_columns(pl.col("patients").cast(pl.Int64))
    assert set(population["sex"]) == {"1", "2"}
    assert population.group_by("_period", "gp_practice_code").len()["len"].unique().to_list() == [
        38
    ]
    latest = population.filter(pl.col("_period") == population["_period"].max())["patients"].sum()
    assert 57_000 <= latest <= 63_000
    deaths_per_year = deaths_of(ics).height / 2
    assert 0.007 * latest < deaths_per_year < 0.013 * latest


# --- activity ------------------------------------------------------------------------


def test_no_activity_is_dated_after_death(ics):
    deaths = deaths_of(ics).select("nhs", "date_of_death")
    for extract, columns in ACTIVITY_DATES.items():
        activity = read_extract(ics, extract).filter(pl.col("nhs_number").is_not_null())
        dated = activity.select(nhs_key(), *[as_date(c) for c in columns]).join(deaths, on="nhs")
        assert dated.height > 0, extract
        for column in columns:
            late = dated.filter(pl.col(column) > pl.col("date_of_death"))
            assert late.height == 0, (extract, column, late.height)


def test_hospital_deaths_end_a_spell_with_destination_79(ics):
    deaths = deaths_of(ics).filter((pl.col("place") == "hospital") & (pl.col("age_days") >= 0))
    spells = read_extract(ics, "apc_spells").with_columns(nhs_key(), as_date("discharge_date"))
    ended = spells.filter(pl.col("discharge_destination") == "79").select(
        "nhs", pl.col("discharge_date").alias("date_of_death")
    )
    matched = deaths.join(ended.unique(), on=["nhs", "date_of_death"], how="semi")
    assert matched.height >= 0.97 * deaths.height
    outside = deaths_of(ics).filter(pl.col("place") != "hospital").join(ended, on="nhs", how="semi")
    assert outside.height == 0


def test_spells_are_revised_when_discharged_in_a_later_month(ics):
    spells = read_extract(ics, "apc_spells")
    revised = spells.group_by("_provider", "spell_id").agg(
        pl.len(), pl.col("discharge_date").null_count().alias("open")
    )
    assert revised.filter((pl.col("len") == 2) & (pl.col("open") == 1)).height > 100


def test_emergency_admissions_in_the_last_90_days(ics):
    deaths = deaths_of(ics).filter(pl.col("age_days") >= 28).select("nhs", "date_of_death")
    spells = (
        read_extract(ics, "apc_spells")
        .unique(["_provider", "spell_id"])
        .with_columns(nhs_key(), as_date("admission_date"))
    )
    emergency = spells.filter(
        pl.col("admission_method").is_in(
            ["21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"]
        )
    )
    window = deaths.join(emergency.select("nhs", "admission_date"), on="nhs").filter(
        pl.col("admission_date").is_between(
            pl.col("date_of_death") - pl.duration(days=90), pl.col("date_of_death")
        )
    )
    counts = deaths.join(window.group_by("nhs").len(), on="nhs", how="left").fill_null(0)["len"]
    # Decedents of the last year only: earlier ones' 90 days may start before the window.
    assert 0.40 < (counts >= 1).mean() < 0.70
    assert 0.02 < (counts >= 3).mean() < 0.12


def test_register_is_cumulative_and_holds_people_before_death(ics):
    register = read_extract(ics, "palliative_register").with_columns(
        nhs_key(), as_date("date_added")
    )
    periods = sorted(register["_period"].unique())
    deaths = deaths_of(ics).select("nhs", "date_of_death")
    # Someone on a practice's register who is alive at the next quarter end is delivered again.
    earlier = register.filter(pl.col("_period") == periods[-2]).join(deaths, on="nhs", how="anti")
    later = register.filter(pl.col("_period") == periods[-1])
    assert earlier.join(later, on=["nhs", "_provider"], how="anti").height == 0
    latest = register.unique("nhs", keep="last").select("nhs", "date_added")
    on_register = deaths.join(latest, on="nhs")
    before = on_register.filter(pl.col("date_added") < pl.col("date_of_death")).height
    assert 0.2 < before / deaths.height < 0.5
    assert on_register.filter(pl.col("date_added") >= pl.col("date_of_death")).height > 0


# --- determinism, defects and the key file -------------------------------------------


def landing_bytes(root: Path) -> dict[str, bytes]:
    files = {str(p.relative_to(root)): p.read_bytes() for p in landing_files(root)}
    files["diewell.yaml"] = (root / "diewell.yaml").read_bytes()
    return files


# --- catalogue v2 -----------------------------------------------------------------------


def test_dementia_register_is_about_0_7_percent_of_registered_patients(ics):
    register = read_extract(ics, "dementia_register")
    last = register["_period"].max()
    on_register = register.filter(pl.col("_period") == last)["nhs_number"].n_unique()
    population = read_extract(ics, "gp_population").filter(pl.col("_period") == last)
    patients = population["patients"].cast(pl.Int64).sum()
    # QOF 2023-24 recorded dementia prevalence is 0.74%: 0.5% to 1.0% is plausible.
    assert 0.005 < on_register / patients < 0.010, on_register / patients


def test_bereavement_contacts_for_about_half_the_families_of_hospice_patients(ics):
    deaths = read_extract(ics, "deaths").select("nhs_number", "date_of_death")
    contacts = read_extract(ics, "hospice_contacts").select("nhs_number", "contact_date")
    known = (
        contacts.join(deaths, on="nhs_number")
        .filter(pl.col("contact_date") <= pl.col("date_of_death"))
        .filter(pl.col("date_of_death") < "2026-06-30")  # families with time to be reached
    )["nhs_number"].unique()
    supported = read_extract(ics, "bereavement_contacts")["deceased_nhs_number"].unique()
    share = known.is_in(supported.implode()).mean()
    assert 0.4 < share < 0.6, share


def test_education_reaches_every_sector_and_names_listed_care_homes(ics):
    sessions = read_extract(ics, "education_sessions")
    homes = set(read_extract(ics, "ref_care_homes")["location_id"])
    assert set(sessions["audience_sector"]) >= {"care_home", "primary_care", "acute", "prison"}
    care_home_codes = sessions.filter(pl.col("audience_sector") == "care_home")[
        "organisation_code"
    ].drop_nulls()
    assert care_home_codes.len() > 0 and set(care_home_codes) <= homes
    assert sessions["organisation_code"].null_count() > 0  # some sessions name no organisation


def test_childrens_caseload_has_dates_of_birth_and_some_transition_plans(ics):
    childrens = read_extract(ics, "hospice_referrals").filter(pl.col("service") == "childrens")
    assert childrens["date_of_birth"].null_count() == 0
    assert childrens["transition_plan_date"].drop_nulls().len() > 0


def _young_people(n: int, dob: np.ndarray, dod: np.ndarray) -> People:
    zeros = np.zeros(n, dtype=np.int64)
    return People(
        index=np.arange(n), nhs=zeros, practice=zeros, place=zeros, lsoa=zeros, decile=zeros,
        sex=zeros + 1, dob=dob, dod=dod, trust=zeros, born_in_window=np.zeros(n, bool),
    )  # fmt: skip


def test_young_people_on_any_childrens_caseload_move_to_adult_care_from_16(tmp_path):
    """TR02's numerator: 65% of young people reach an adult hospice service on a day drawn
    from their 16th to their 19th birthday (so 65% x 2.5/3 = 54% by 18 1/2), whenever their
    children's referral was made (also after 18 1/2, as v1's children's episodes can be)."""
    window = make_window(dt.date(2026, 9, 30), 3)
    n = 6000
    # 18 1/2 falls in the window's second year, so the 16th birthday is before the window
    # for some (their adult referral, made before it, is first sent at its start).
    dob = window.start + 365 - int(18.5 * DAYS_PER_YEAR) + np.arange(n) % 365
    dod = np.where(np.arange(n) % 10 == 0, dob + int(15.9 * DAYS_PER_YEAR), NO_DEATH)
    people = _young_people(n, dob, dod)
    late = np.arange(n) % 2 == 1  # half first referred to children's care at 18 1/2 or later
    referral = np.where(late, dob + int(18.6 * DAYS_PER_YEAR), window.start)
    refs = Table(
        ref=np.arange(n), person=np.arange(n), hospice=np.zeros(n, np.int64), referral=referral,
        first_contact=referral, discharge=np.full(n, NO_DATE), source=np.full(n, "gp", object),
        service=np.full(n, "childrens", object), with_dob=np.ones(n, bool),
        transition_plan=np.full(n, NO_DATE),
    )  # fmt: skip
    svc = SimpleNamespace(hospice=np.zeros(n, np.int64))
    rng = np.random.default_rng(3)
    adult = alliances.adult_referrals(refs, people, window, svc, rng, activity.Ids())
    assert set(adult["service"]) <= set(P.ADULT_SERVICES) and "childrens" not in adult["service"]
    who, day = adult["person"], adult["referral"]
    assert len(np.unique(who)) == len(who)  # one adult referral a person
    assert (day >= window.start).all() and (day <= window.end).all()
    assert ((dod[who] == NO_DEATH) | (day < dod[who])).all()  # only while alive
    b16, b18_6 = dob + int(16 * DAYS_PER_YEAR), dob + int(18.5 * DAYS_PER_YEAR)
    reached = np.zeros(n, bool)
    reached[who] = (day >= b16[who]) & (day <= b18_6[who])
    alive = dod == NO_DEATH
    for group in (late, ~late):
        share = reached[alive & group].mean()
        assert 0.65 * 2.5 / 3 - 0.04 < share < 0.65 * 2.5 / 3 + 0.04, share
    assert not reached[~alive].any()  # died before 16: no adult referral


def test_transition_plans_by_17_for_half_of_every_childrens_caseload():
    """TR01's numerator: half of the children's referrals carry a plan agreed from 14 to 17,
    a fifth one from 17 to 18, also when the referral came after the plan (it arrives with it);
    never on an adult referral or one without a date of birth, never after death."""
    n = 8000
    dob = np.full(n, 10_000, dtype=np.int64)
    dod = np.where(np.arange(n) % 10 == 0, dob + int(13.5 * DAYS_PER_YEAR), NO_DEATH)
    people = _young_people(n, dob, dod)
    late = np.arange(n) % 2 == 1
    referral = np.where(late, dob + int(17.5 * DAYS_PER_YEAR), dob + int(10 * DAYS_PER_YEAR))
    service = np.where(np.arange(n) % 7 == 3, "community", "childrens").astype(object)
    with_dob = np.arange(n) % 11 != 5
    refs = Table(
        ref=np.arange(n), person=np.arange(n), hospice=np.zeros(n, np.int64), referral=referral,
        first_contact=referral, discharge=np.full(n, NO_DATE), source=np.full(n, "gp", object),
        service=service, with_dob=with_dob, transition_plan=np.full(n, NO_DATE),
    )  # fmt: skip
    plan = alliances.add_transition_plans(refs, people, np.random.default_rng(5))["transition_plan"]
    has = plan != NO_DATE
    assert not has[(service != "childrens") | ~with_dob].any()
    assert not has[dod != NO_DEATH].any()  # died at 13 1/2, before any plan
    counted = (service == "childrens") & with_dob & (dod == NO_DEATH)
    age = (plan - dob) / DAYS_PER_YEAR
    for group in (late, ~late):
        rows = counted & group
        assert 0.46 < (has & (age >= 14) & (age < 17))[rows].mean() < 0.54
        assert 0.17 < (has & (age >= 17) & (age < 18))[rows].mean() < 0.23
        assert not (has & ((age < 14) | (age >= 18)))[rows].any()


def test_same_seed_gives_identical_files_and_the_key_is_written_once(tmp_path):
    steps = []
    first = tmp_path / "a"
    synthesize(
        first, seed=3, population=30_000, years=1, progress=lambda s, d, t: steps.append((s, d, t))
    )
    key = first / "pseudo.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n?", key.read_text())
    key_before = key.read_bytes()
    files = landing_bytes(first)
    synthesize(first, seed=3, population=30_000, years=1)  # again, into the same folder
    assert key.read_bytes() == key_before
    assert landing_bytes(first) == files
    assert not any(p.name.startswith(".") for p in first.iterdir())  # temporary parts removed
    second = tmp_path / "b"
    synthesize(second, seed=3, population=30_000, years=1)
    assert landing_bytes(second) == files
    assert (second / "pseudo.key").read_bytes() != key_before  # keys are random, not seeded
    other = tmp_path / "c"
    synthesize(other, seed=4, population=30_000, years=1)
    changed = landing_bytes(other)
    assert changed.keys() == files.keys()
    assert sum(changed[k] != files[k] for k in files) > len(files) // 2
    assert ("generate", 1, 1) in steps and all(0 < d <= t for _, d, t in steps)
    assert {s for s, _, _ in steps} >= {f"write {e}" for e in ACTIVITY_DATES}


def test_defects_of_each_kind_and_never_over_a_tenth_of_a_file(defective):
    kinds = {
        "bad_check_digit": 0,
        "unparseable_date": 0,
        "discharge_before_admission": 0,
        "duplicate_key": 0,
    }
    for extract in ["deaths", *ACTIVITY_DATES]:
        for path in sorted((defective / "landing" / extract).iterdir()):
            table = read_file(path).with_row_index("_row")
            if not table.height:
                continue
            nhs = table["nhs_number"].drop_nulls()
            bad_nhs = sum(not is_valid_nhs_number(n) for n in nhs)
            date_columns = [
                c
                for c in table.columns
                if c.endswith(("_date", "_datetime", "date_of_birth", "date_of_death"))
            ]
            parsed = table.select(*[as_date(c) for c in date_columns])
            bad_dates = sum(
                (table[c].is_not_null() & parsed[c].is_null()).sum() for c in date_columns
            )
            backwards = 0
            if extract == "apc_spells":
                backwards = parsed.filter(
                    pl.col("discharge_date") < pl.col("admission_date")
                ).height
            repeated = table.height - table[KEYS[extract]].n_unique() if extract in KEYS else 0
            defects = bad_nhs + bad_dates + backwards + repeated
            original_rows = table.height - repeated
            assert defects <= 0.1 * original_rows, (path.name, defects, original_rows)
            for kind, n in zip(kinds, (bad_nhs, bad_dates, backwards, repeated), strict=True):
                kinds[kind] += n
    assert all(n > 0 for n in kinds.values()), kinds


# --- scale ---------------------------------------------------------------------------


def test_organisations_scale_with_the_population():
    default = organisation_counts(1_000_000)
    assert default["practices"] == 60 and default["pcns"] == 10 and default["places"] == 3
    assert (default["trusts"], default["hospices"], default["childrens_hospices"]) == (3, 3, 1)
    national = organisation_counts(57_000_000)
    assert 5_500 <= national["practices"] <= 6_500
    assert 900 <= national["pcns"] <= 1_100
    assert 34_000 <= national["lsoas"] <= 37_000
    assert (
        150 <= national["trusts"] <= 175
        and 200 <= national["hospices"] + national["childrens_hospices"] <= 240
    )
    layout = make_layout(1, 57_000_000, make_window(END, 3))
    codes = [p.code for p in layout.providers()]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"[A-Z0-9]{3,6}", c) for c in codes)
    assert max(hi - lo for lo, hi in layout.chunks) < 60  # chunks of practices stay small
