"""From a chunk's internal tables to extract records: one typed Polars frame per extract with
the sender (`provider`) and the delivery it belongs to (`period`, the period end).

Upsert extracts are delivered as their records change: a spell appears in the file of the
month it starts (without a discharge if that comes later) and again, revised, in the month
it ends; a hospice referral in the months of its referral, first contact and discharge. A
date later than a delivery's period end is never in that delivery.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from diewell.synth import parameters as P
from diewell.synth.deliveries import empty_records
from diewell.synth.events import NO_DATE, SECONDS_PER_DAY, Table
from diewell.synth.layout import Layout, Window
from diewell.synth.people import NO_DEATH, Deaths, People

ID_PREFIX = {
    "apc_spells": "S",
    "ae_attendances": "A",
    "hospice_referrals": "R",
    "hospice_contacts": "H",
    "community_contacts": "C",
    "spoc_calls": "K",
    "outcome_assessments": "O",
    "bereavement_contacts": "B",
}
ID_DIGITS = 8  # sequence digits within a chunk, after a 5-digit chunk number


def _date(days: np.ndarray) -> pl.Series:
    """Days since 1970 as a Date series; NO_DATE becomes null."""
    days = np.asarray(days, dtype=np.int64)
    missing = days == NO_DATE
    return (
        pl.Series(np.where(missing, 0, days).astype(np.int32))
        .cast(pl.Date)
        .scatter(np.flatnonzero(missing), None)
    )


def _datetime(epoch_seconds: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(epoch_seconds, dtype=np.int64) * 1000).cast(pl.Datetime("ms"))


def _ints(values: np.ndarray) -> pl.Series:
    """Integers; -1 means missing."""
    values = np.asarray(values, dtype=np.int64)
    return pl.Series(values).scatter(np.flatnonzero(values < 0), None)


def _strings(values: np.ndarray) -> pl.Series:
    """Strings; '' means missing."""
    series = pl.Series(np.asarray(values, dtype=object).astype(str))
    return series.replace("", None)


def record_ids(extract: str, chunk: int, sequence: np.ndarray) -> pl.Series:
    """Identifiers unique within the ICS: extract letter, chunk number, sequence in the chunk."""
    number = chunk * 10**ID_DIGITS + np.asarray(sequence, dtype=np.int64)
    digits = pl.Series(number, dtype=pl.Int64).cast(pl.String).str.zfill(5 + ID_DIGITS)
    return digits.to_frame("d").select(pl.lit(ID_PREFIX[extract]) + pl.col("d")).to_series()


def delivery_rows(
    dates: list[np.ndarray], period_ends: np.ndarray, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """(row, period index) for every delivery a record is in: the periods holding one of its
    dates inside the window. Rows with no date in the window are not delivered."""
    rows, periods = [], []
    for day in dates:
        inside = np.flatnonzero((day >= window.start) & (day <= window.end))
        rows.append(inside)
        periods.append(np.searchsorted(period_ends, day[inside]))
    row = np.concatenate(rows)
    period = np.concatenate(periods)
    pairs = np.unique(row * 10_000 + period)
    return pairs // 10_000, pairs % 10_000


def masked(day: np.ndarray, period_end: np.ndarray) -> np.ndarray:
    """A date as delivered on a period end: missing (NO_DATE) if it is still in the future."""
    return np.where((day != NO_DATE) & (day <= period_end), day, NO_DATE)


# --- one frame per extract -------------------------------------------------------------


def deaths_frame(
    layout: Layout, window: Window, people: People, deaths: Deaths, rng: np.random.Generator
) -> pl.DataFrame:
    """The deaths extract rows, delivered in the month of registration."""
    delivered = np.flatnonzero(deaths.registration <= window.end)
    d = Deaths(*(getattr(deaths, f)[delivered] for f in deaths.__dataclass_fields__))
    n = len(d)
    who = d.person
    period = window.month_ends[np.searchsorted(window.month_ends, d.registration)]
    places = np.array(P.PLACES_OF_DEATH, dtype=object)[d.place]
    as_code = rng.random(n) < P.PLACE_CODE_SHARE
    codes = np.array(
        [
            P.PLACE_CODES[p][i % len(P.PLACE_CODES[p])]
            for i, p in zip(rng.integers(0, 6, n), places, strict=True)
        ],
        dtype=object,
    )
    practice_codes = np.array([p.code for p in layout.practices], dtype=object)
    practice = np.where(
        rng.random(n) < P.NO_PRACTICE_CODE_SHARE, "", practice_codes[people.practice[who]]
    )
    frame = pl.DataFrame({
        "provider": pl.Series([layout.icb.code] * n, dtype=pl.String),
        "period": _date(period),
        "nhs_number": pl.Series(people.nhs[who], dtype=pl.Int64),
        "date_of_birth": _date(people.dob[who]),
        "date_of_death": _date(d.dod),
        "date_of_registration": _date(d.registration),
        "sex": _strings(people.sex[who].astype(str)),
        "underlying_cause_icd10": _strings(d.cause),
        "contributing_causes_icd10": _strings(_contributing_causes(rng, n)),
        "place_of_death": _strings(np.where(as_code, codes, places)),
        "place_of_death_org_code": _strings(_org_codes(layout, people, d, rng)),
        "lsoa_code": _strings(np.array(layout.lsoa_codes, dtype=object)[people.lsoa[who]]),
        "gp_practice_code": _strings(practice),
    })  # fmt: skip
    return frame


def _contributing_causes(rng: np.random.Generator, n: int) -> np.ndarray:
    count = rng.choice(
        len(P.CONTRIBUTING_CAUSE_COUNT_SHARES), n, p=P.CONTRIBUTING_CAUSE_COUNT_SHARES
    )
    codes = np.array(P.CONTRIBUTING_CAUSES, dtype=object)
    undotted = rng.random(n) < 0.4
    out = []
    for k, plain in zip(count, undotted, strict=True):
        chosen = codes[rng.choice(len(codes), k, replace=False)] if k else []
        out.append(";".join(c.replace(".", "") if plain else c for c in chosen))
    return np.array(out, dtype=object)


def _org_codes(layout: Layout, people: People, d: Deaths, rng: np.random.Generator) -> np.ndarray:
    """ODS code of the establishment: the trust or hospice, or a care home code."""
    trust_codes = np.array([t.code for t in layout.trusts], dtype=object)
    adult = np.array([h.code for h in layout.hospices], dtype=object)
    children = np.array([h.code for h in layout.childrens_hospices], dtype=object)
    place = people.place[d.person]
    hospice = np.where(
        d.age < 18,
        children[layout.place_childrens_hospice[place]],
        adult[layout.place_hospice[place]],
    )
    care_home = np.array(
        [f"VC{(lsoa * 37) % 90_000 + 10_000:05d}" for lsoa in people.lsoa[d.person] // 3],
        dtype=object,
    )
    code = np.full(len(d), "", dtype=object)
    code = np.where(d.place_is("hospital"), trust_codes[people.trust[d.person]], code)
    code = np.where(d.place_is("hospice"), hospice, code)
    code = np.where(d.place_is("care_home") & (rng.random(len(d)) < 0.7), care_home, code)
    return code


def apc_frame(
    layout: Layout, window: Window, people: People, apc: Table, chunk: int, rng: np.random.Generator
) -> pl.DataFrame:
    """apc_spells rows, in the month of admission and (revised) the month of discharge."""
    trust_codes = np.array([t.code for t in layout.trusts], dtype=object)
    spc = np.where(
        (apc["trust"] > 0) & (rng.random(len(apc)) > P.SPC_FLAG_FILLED_SHARE) & (apc["spc"] == "N"),
        "",
        apc["spc"],
    )
    ids = record_ids("apc_spells", chunk, np.arange(len(apc)))
    row, period_index = delivery_rows(
        [apc["admission"], apc["discharge"]], window.month_ends, window
    )
    period = window.month_ends[period_index]
    discharge = masked(apc["discharge"][row], period)
    return pl.DataFrame({
        "provider": _strings(trust_codes[apc["trust"][row]]),
        "period": _date(period),
        "spell_id": ids.gather(row),
        "nhs_number": pl.Series(people.nhs[apc["person"][row]], dtype=pl.Int64),
        "admission_date": _date(apc["admission"][row]),
        "admission_method": _strings(apc["method"][row]),
        "discharge_date": _date(discharge),
        "discharge_destination": _strings(np.where(discharge != NO_DATE, apc["destination"][row], "")),
        "primary_diagnosis_icd10": _strings(apc["diagnosis"][row]),
        "specialist_palliative_care": _strings(spc[row]),
    })  # fmt: skip


def ae_frame(layout: Layout, window: Window, people: People, ae: Table, chunk: int) -> pl.DataFrame:
    trust_codes = np.array([t.code for t in layout.trusts], dtype=object)
    day = ae["arrival"] // SECONDS_PER_DAY
    row, period_index = delivery_rows([day], window.month_ends, window)
    ids = record_ids("ae_attendances", chunk, np.arange(len(ae)))
    return pl.DataFrame({
        "provider": _strings(trust_codes[ae["trust"][row]]),
        "period": _date(window.month_ends[period_index]),
        "attendance_id": ids.gather(row),
        "nhs_number": pl.Series(people.nhs[ae["person"][row]], dtype=pl.Int64),
        "arrival_datetime": _datetime(ae["arrival"][row]),
        "department_type": _strings(ae["department"][row]),
    })  # fmt: skip


def referrals_frame(
    window: Window, people: People, refs: Table, hospice_codes: np.ndarray, chunk: int
) -> pl.DataFrame:
    """hospice_referrals rows, in the months of referral, first contact, discharge and
    transition plan (a plan agreed before the referral arrives with it: no month of its own)."""
    plan = refs["transition_plan"]
    plan_month = np.where(plan >= refs["referral"], plan, NO_DATE)
    row, period_index = delivery_rows(
        [refs["referral"], refs["first_contact"], refs["discharge"], plan_month],
        window.month_ends,
        window,
    )
    period = window.month_ends[period_index]
    who = refs["person"][row]
    ids = record_ids("hospice_referrals", chunk, refs["ref"])
    return pl.DataFrame({
        "provider": _strings(hospice_codes[refs["hospice"][row]]),
        "period": _date(period),
        "referral_id": ids.gather(row),
        "nhs_number": pl.Series(people.nhs[who], dtype=pl.Int64),
        "date_of_birth": _date(np.where(refs["with_dob"][row], people.dob[who], NO_DATE)),
        "referral_date": _date(refs["referral"][row]),
        "referral_source": _strings(refs["source"][row]),
        "service": _strings(refs["service"][row]),
        "first_contact_date": _date(masked(refs["first_contact"][row], period)),
        "discharge_date": _date(masked(refs["discharge"][row], period)),
        "transition_plan_date": _date(masked(refs["transition_plan"][row], period)),
    })  # fmt: skip


def contacts_frame(
    window: Window, people: People, contacts: Table, hospice_codes: np.ndarray, chunk: int
) -> pl.DataFrame:
    row, period_index = delivery_rows([contacts["day"]], window.month_ends, window)
    ids = record_ids("hospice_contacts", chunk, np.arange(len(contacts)))
    referral_ids = record_ids("hospice_referrals", chunk, contacts["ref"])
    return pl.DataFrame({
        "provider": _strings(hospice_codes[contacts["hospice"][row]]),
        "period": _date(window.month_ends[period_index]),
        "contact_id": ids.gather(row),
        "referral_id": referral_ids.gather(row),
        "nhs_number": pl.Series(people.nhs[contacts["person"][row]], dtype=pl.Int64),
        "contact_date": _date(contacts["day"][row]),
        "setting": _strings(contacts["setting"][row]),
        "out_of_hours": _strings(contacts["out_of_hours"][row]),
    })  # fmt: skip


def community_frame(
    window: Window, people: People, community: Table, codes: np.ndarray, chunk: int
) -> pl.DataFrame:
    row, period_index = delivery_rows([community["day"]], window.month_ends, window)
    ids = record_ids("community_contacts", chunk, np.arange(len(community)))
    return pl.DataFrame({
        "provider": _strings(codes[community["provider"][row]]),
        "period": _date(window.month_ends[period_index]),
        "contact_id": ids.gather(row),
        "nhs_number": pl.Series(people.nhs[community["person"][row]], dtype=pl.Int64),
        "contact_date": _date(community["day"][row]),
        "service": _strings(community["service"][row]),
        "contact_mode": _strings(community["mode"][row]),
        "out_of_hours": _strings(community["out_of_hours"][row]),
    })  # fmt: skip


def calls_frame(
    layout: Layout, window: Window, people: People, calls: Table, chunk: int
) -> pl.DataFrame:
    codes = np.array([s.code for s in layout.spoc_hosts], dtype=object)
    row, period_index = delivery_rows([calls["time"] // SECONDS_PER_DAY], window.month_ends, window)
    ids = record_ids("spoc_calls", chunk, np.arange(len(calls)))
    nhs = pl.Series(people.nhs[calls["person"][row]], dtype=pl.Int64)
    nhs = nhs.scatter(np.flatnonzero(~calls["identified"][row]), None)
    return pl.DataFrame({
        "provider": _strings(codes[calls["spoc"][row]]),
        "period": _date(window.month_ends[period_index]),
        "call_id": ids.gather(row),
        "call_datetime": _datetime(calls["time"][row]),
        "nhs_number": nhs,
        "caller_type": _strings(calls["caller"][row]),
        "outcome": _strings(calls["outcome"][row]),
    })  # fmt: skip


def assessments_frame(window: Window, people: People, rows: Table, chunk: int) -> pl.DataFrame:
    """outcome_assessments rows, delivered quarterly."""
    row, period_index = delivery_rows([rows["day"]], window.quarter_ends, window)
    ids = record_ids("outcome_assessments", chunk, np.arange(len(rows)))
    return pl.DataFrame({
        "provider": _strings(rows["provider"][row]),
        "period": _date(window.quarter_ends[period_index]),
        "assessment_id": ids.gather(row),
        "nhs_number": pl.Series(people.nhs[rows["person"][row]], dtype=pl.Int64),
        "assessment_date": _date(rows["day"][row]),
        "phase_of_illness": _strings(rows["phase"][row]),
        "akps": _ints(rows["akps"][row]),
        "ipos_total": _ints(rows["ipos"][row]),
    })  # fmt: skip


# --- palliative care register and registered population --------------------------------


def register_frame(
    layout: Layout, window: Window, people: People, register: Table, rng: np.random.Generator
) -> pl.DataFrame:
    """Quarterly cumulative register deliveries per practice: everyone on the register at any
    time in the quarter (those who died in it included), with fields recorded by its end."""
    quarter_end = window.quarter_ends
    quarter_start = np.concatenate([[window.start], quarter_end[:-1] + 1])
    who = register["person"]
    dod = people.dod[who]
    last_day = np.where(dod == NO_DEATH, np.iinfo(np.int64).max, np.maximum(dod, register["added"]))
    on = (register["added"][:, None] <= quarter_end[None, :]) & (
        last_day[:, None] >= quarter_start[None, :]
    )
    row, quarter = np.nonzero(on)
    period = quarter_end[quarter]
    as_code = rng.random(len(register)) < 0.25
    preferred = np.array(
        [
            _place_as_written(p, c, i)
            for i, (p, c) in enumerate(zip(register["preferred"], as_code, strict=True))
        ],
        dtype=object,
    )
    preferred_date = masked(register["preferred_date"][row], period)
    practice_codes = np.array([p.code for p in layout.practices], dtype=object)
    frame = {
        "provider": _strings(practice_codes[people.practice[who[row]]]),
        "period": _date(period),
        "nhs_number": pl.Series(people.nhs[who[row]], dtype=pl.Int64),
        "gp_practice_code": _strings(practice_codes[people.practice[who[row]]]),
        "date_added": _date(register["added"][row]),
        "identification_tool": _strings(register["tool"][row]),
        "preferred_place_of_death": _strings(
            np.where(preferred_date != NO_DATE, preferred[row], "")
        ),
        "preferred_place_recorded_date": _date(preferred_date),
    }
    for column, field in (
        ("care_plan_date", "care_plan"),
        ("respect_date", "respect"),
        ("dnacpr_date", "dnacpr"),
        ("what_matters_date", "what_matters"),
    ):
        frame[column] = _date(masked(register[field][row], period))
    frame["ethnic_category"] = _strings(register["ethnic"][row])
    return pl.DataFrame(frame)


def _place_as_written(place: str, as_code: bool, i: int) -> str:
    if not as_code or place in ("", "not_stated"):
        return place
    codes = P.PLACE_CODES[place]
    return codes[i % len(codes)]


def registered_counts(
    people: People, window: Window, n_practices: int, first_practice: int
) -> np.ndarray:
    """Living registered patients at each quarter end: [practice, sex, age band, quarter]."""
    n_bands = len(P.AGE_BANDS)
    counts = np.zeros((n_practices, 2, n_bands, len(window.quarter_ends)), dtype=np.int64)
    for q, day in enumerate(window.quarter_ends):
        alive = (people.dob <= day) & (people.dod > day)
        band = np.minimum(people.age_at(day)[alive] // 5, n_bands - 1)
        key = (
            (people.practice[alive] - first_practice) * 2 + people.sex[alive] - 1
        ) * n_bands + band
        counts[..., q] = np.bincount(key, minlength=n_practices * 2 * n_bands).reshape(
            n_practices, 2, n_bands
        )
    return counts


def hospice_codes(layout: Layout) -> np.ndarray:
    return np.array([h.code for h in layout.hospices + layout.childrens_hospices], dtype=object)


def community_codes(layout: Layout) -> np.ndarray:
    return np.array([c.code for c in layout.community], dtype=object)


def dementia_register_frame(
    layout: Layout, window: Window, people: People, register: Table
) -> pl.DataFrame:
    """Quarterly cumulative dementia register deliveries per practice: everyone diagnosed by
    the quarter end and alive at some time in the quarter."""
    quarter_end = window.quarter_ends
    quarter_start = np.concatenate([[window.start], quarter_end[:-1] + 1])
    who, diagnosed = register["person"], register["diagnosed"]
    dod = people.dod[who]
    last_day = np.where(dod == NO_DEATH, np.iinfo(np.int64).max, dod)
    on = (diagnosed[:, None] <= quarter_end[None, :]) & (
        last_day[:, None] >= quarter_start[None, :]
    )
    row, quarter = np.nonzero(on)
    practice_codes = np.array([p.code for p in layout.practices], dtype=object)
    code = _strings(practice_codes[people.practice[who[row]]])
    return pl.DataFrame({
        "provider": code,
        "period": _date(quarter_end[quarter]),
        "nhs_number": pl.Series(people.nhs[who[row]], dtype=pl.Int64),
        "gp_practice_code": code,
        "date_diagnosed": _date(diagnosed[row]),
        "dementia_subtype": _strings(register["subtype"][row]),
    })  # fmt: skip


def bereavement_frame(
    window: Window, people: People, contacts: Table, hospice_codes: np.ndarray, chunk: int
) -> pl.DataFrame:
    """bereavement_contacts rows, in the month of the contact (contacts after the window end
    are not delivered yet)."""
    if not len(contacts):
        return empty_records("bereavement_contacts")
    row, period_index = delivery_rows([contacts["day"]], window.month_ends, window)
    ids = record_ids("bereavement_contacts", chunk, np.arange(len(contacts)))
    return pl.DataFrame({
        "provider": _strings(hospice_codes[contacts["hospice"][row]]),
        "period": _date(window.month_ends[period_index]),
        "contact_id": ids.gather(row),
        "deceased_nhs_number": pl.Series(people.nhs[contacts["person"][row]], dtype=pl.Int64),
        "contact_date": _date(contacts["day"][row]),
        "support": _strings(contacts["support"][row]),
        "relationship": _strings(contacts["relationship"][row]),
    })  # fmt: skip
