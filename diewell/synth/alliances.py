"""Catalogue v2's records (indicators.md v2): the alliances' own priorities.

- a children's hospice caseload of young people with dates of birth, their transition plans
  and their moves to adult palliative care (TR01, TR02);
- the GP dementia register, about 0.7% of registered patients (DM01-DM03);
- bereavement support for about half the families of people known to a hospice (BV01, BV02);
- the ICS's care homes (a synthetic CQC list) and education sessions across sectors (ED01,
  ED02), drawn once per ICS from the seed (they hold no people).

Rates are in `parameters` (v2 section). Person-level draws use their own random stream per
chunk, so adding them changed no v1 record; the children's transition has a stream of its own
(TRANSITION_STREAM), so recalibrating it changes no other record.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from diewell.synth import parameters as P
from diewell.synth.activity import Ids, Services
from diewell.synth.events import NO_DATE, Table, expand, pick, rank_within, uniform_day
from diewell.synth.layout import NAME_STEMS, Layout, Window, to_date
from diewell.synth.people import DAYS_PER_YEAR, NO_DEATH, Deaths, People

ALLIANCES_STREAM = 5  # per chunk: SeedSequence([seed, ALLIANCES_STREAM, chunk])
TRANSITION_STREAM = 7  # per chunk: SeedSequence([seed, TRANSITION_STREAM, chunk])
EDUCATION_STREAM = 6  # per ICS: SeedSequence([seed, EDUCATION_STREAM])
CQC_DIGITS = 10  # CQC location ids: "1-" and 10 digits (the contract allows 9 to 11)
CARE_HOME_WORDS = ("House", "Lodge", "Court", "Manor", "Grange", "View", "Gardens")


def _years(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return np.floor((low + rng.random(n) * (high - low)) * DAYS_PER_YEAR).astype(np.int64)


# --- children's transition -------------------------------------------------------------------


def transition_referrals(
    people: People, window: Window, svc: Services, rng: np.random.Generator, ids: Ids
) -> Table:
    """Children's hospice referrals of young people aged 12-19 at some time in the window (with
    a date of birth), the caseload that grows up in it."""
    twelve = people.dob + int(12 * DAYS_PER_YEAR)
    nineteen = people.dob + int(19 * DAYS_PER_YEAR)
    eligible = (twelve <= window.end) & (nineteen >= window.start)
    who = np.flatnonzero(eligible & (rng.random(len(people)) < P.TRANSITION_CASELOAD_SHARE))
    n = len(who)
    dob, dod = people.dob[who], people.dod[who]
    referral = dob + _years(rng, *P.TRANSITION_FIRST_REFERRAL_AGE, n)
    # Delivered in the months of referral, first contact and plan: a caseload referral made
    # before the window is re-sent when it changes; here it is first sent in the window.
    referral = np.maximum(referral, window.start)
    first_contact = referral + rng.integers(0, 4, n)
    keep = (referral <= window.end) & ((dod == NO_DEATH) | (referral < dod))
    return _referrals(
        rows=keep, who=who, hospice=svc.childrens_hospice[who], referral=referral,
        first_contact=first_contact, service=np.full(n, "childrens", dtype=object),
        plan=np.full(n, NO_DATE, dtype=np.int64), with_dob=np.ones(n, bool), rng=rng, ids=ids,
    )  # fmt: skip


def adult_referrals(
    refs: Table, people: People, window: Window, svc: Services, rng: np.random.Generator, ids: Ids
) -> Table:
    """Referrals to an adult hospice service of young people on any children's caseload (every
    person with a children's referral with a date of birth, not only `transition_referrals`'):
    for some, dated from the 16th to the 19th birthday, whenever their children's referral
    was made; only while they are alive. An adult referral made before the window is re-sent
    when it changes: here it is first sent in the window (as the caseload's referrals)."""
    childrens = (refs["service"] == "childrens") & refs["with_dob"].astype(bool)
    who = np.unique(refs["person"][childrens])
    n = len(who)
    dob, dod = people.dob[who], people.dod[who]
    adult_day = np.maximum(dob + _years(rng, *P.ADULT_SERVICES_AGE, n), window.start)
    moves = (
        (rng.random(n) < P.ADULT_SERVICES_SHARE)
        & (adult_day <= window.end)
        & (adult_day < dob + int(P.ADULT_SERVICES_AGE[1] * DAYS_PER_YEAR))
        & ((dod == NO_DEATH) | (adult_day < dod))
    )
    return _referrals(
        rows=moves, who=who, hospice=svc.hospice[who], referral=adult_day,
        first_contact=adult_day + rng.integers(0, 8, n), service=pick(rng, P.ADULT_SERVICES, n),
        plan=np.full(n, NO_DATE, dtype=np.int64), with_dob=rng.random(n) < 0.5, rng=rng, ids=ids,
    )  # fmt: skip


def add_transition_plans(refs: Table, people: People, rng: np.random.Generator) -> Table:
    """Transition plans on children's referrals with a date of birth (every caseload, not only
    `transition_referrals`'): agreed by the 17th birthday for some, from 17 to 18 for others,
    never for the rest; only while the young person is alive. A plan is the young person's,
    agreed with all their children's services: a referral made after it carries it."""
    if not len(refs):
        return refs
    n = len(refs["person"])
    dob, dod = people.dob[refs["person"]], people.dod[refs["person"]]
    kind = pick(rng, P.TRANSITION_PLAN_SHARES, n)
    plan = np.full(n, NO_DATE, dtype=np.int64)
    for name, (low, high) in P.TRANSITION_PLAN_AGE.items():
        rows = np.flatnonzero(kind == name)
        plan[rows] = dob[rows] + _years(rng, low, high, len(rows))
    applies = (refs["service"] == "childrens") & refs["with_dob"].astype(bool)
    alive_then = (dod == NO_DEATH) | (plan < dod)
    plan = np.where(applies & alive_then, plan, NO_DATE)
    return Table({**refs, "transition_plan": plan})


def _referrals(
    *, rows, who, hospice, referral, first_contact, service, plan, with_dob, rng, ids
) -> Table:
    """Referral records (the columns of palliative_care.referral_rows) for the chosen rows."""
    r = np.flatnonzero(rows)
    first = np.minimum(first_contact[r], np.iinfo(np.int64).max)
    return Table(
        ref=ids.take(len(r)),
        person=who[r],
        hospice=hospice[r],
        referral=referral[r],
        first_contact=first,
        discharge=np.full(len(r), NO_DATE, dtype=np.int64),
        source=pick(rng, P.HOSPICE_REFERRAL_SOURCES, len(r)),
        service=service[r],
        with_dob=with_dob[r],
        transition_plan=plan[r],
    )


# --- dementia register -----------------------------------------------------------------------


def dementia_register(
    people: People, deaths: Deaths, window: Window, rng: np.random.Generator
) -> Table:
    """People on the GP dementia register: person, date diagnosed and subtype."""
    last = np.where(people.dod == NO_DEATH, window.end, np.minimum(people.dod, window.end))
    age = people.age_at(last)
    bands = np.array(sorted(P.DEMENTIA_DIAGNOSED_BY_AGE))
    share = np.array([P.DEMENTIA_DIAGNOSED_BY_AGE[b] for b in bands])[
        np.searchsorted(bands, age, side="right") - 1
    ]
    from_cause = np.zeros(len(people), bool)
    category = np.array([str(c).replace(".", "")[:3] for c in deaths.cause], dtype=object)
    from_cause[deaths.person] = np.isin(category, P.DEMENTIA_CAUSE_PREFIXES)
    share = np.where(from_cause, P.DEMENTIA_CAUSE_DIAGNOSED, share)
    started = people.dob <= last
    who = np.flatnonzero(started & (rng.random(len(people)) < share))
    diagnosed = last[who] - _years(rng, *P.DEMENTIA_YEARS_BEFORE, len(who))
    diagnosed = np.maximum(diagnosed, people.dob[who] + int(40 * DAYS_PER_YEAR))
    diagnosed = np.minimum(diagnosed, last[who] - 1)
    return Table(
        person=who,
        diagnosed=diagnosed,
        subtype=pick(rng, P.DEMENTIA_SUBTYPES, len(who)),
    )


# --- bereavement support ---------------------------------------------------------------------


def bereavement_contacts(
    people: People, hospice_contacts: Table, rng: np.random.Generator
) -> Table:
    """Bereavement contacts for the families of about half the decedents a hospice saw in
    their last year: the person who died, day, hospice, support and relationship."""
    if not len(hospice_contacts):
        return Table()
    person, day, hospice = (hospice_contacts[k] for k in ("person", "day", "hospice"))
    dod = people.dod[person]
    known = (dod != NO_DEATH) & (day <= dod) & (day >= dod - 365)
    # Each decedent once, with the hospice of their last contact.
    order = np.lexsort((day[known], person[known]))
    p, h = person[known][order], hospice[known][order]
    last = np.concatenate([p[1:] != p[:-1], [True]]) if len(p) else np.zeros(0, bool)
    decedent, their_hospice = p[last], h[last]
    supported = rng.random(len(decedent)) < P.BEREAVEMENT_SUPPORTED_SHARE
    decedent, their_hospice = decedent[supported], their_hospice[supported]
    n = len(decedent)
    low, mean = P.BEREAVEMENT_FIRST_DAYS
    first = people.dod[decedent] + low + np.floor(rng.exponential(mean, n)).astype(np.int64)
    row = expand(1 + rng.poisson(P.BEREAVEMENT_MORE_CONTACTS_MEAN, n))
    rank = rank_within(row)
    gaps = rng.integers(*P.BEREAVEMENT_DAYS_BETWEEN, len(row))
    offset = np.where(rank == 0, 0, gaps)
    cumulative = np.cumsum(offset) - np.repeat(
        np.cumsum(offset)[np.flatnonzero(rank == 0)], np.bincount(row, minlength=n)
    )
    support = np.where(
        rank == 0,
        pick(rng, P.BEREAVEMENT_FIRST_SUPPORT, len(row)),
        pick(rng, P.BEREAVEMENT_LATER_SUPPORT, len(row)),
    )
    relationship = pick(rng, P.BEREAVEMENT_RELATIONSHIPS, n)[row]
    return Table(
        person=decedent[row],
        day=first[row] + cumulative,
        hospice=their_hospice[row],
        support=support,
        relationship=relationship,
    )


# --- care homes and education (per ICS) ------------------------------------------------------


def care_homes(layout: Layout, rng: np.random.Generator) -> pl.DataFrame:
    """The ICS's care homes, as the ICB's extract of the CQC care directory."""
    n = max(3, round(layout.total_people / P.PEOPLE_PER_CARE_HOME))
    numbers = rng.choice(10**CQC_DIGITS - 10 ** (CQC_DIGITS - 1), n, replace=False)
    ids = [f"1-{10 ** (CQC_DIGITS - 1) + int(x)}" for x in numbers]
    lsoa = np.array(layout.lsoa_codes, dtype=object)[rng.integers(0, len(layout.lsoa_codes), n)]
    names = [
        f"{NAME_STEMS[i % len(NAME_STEMS)]} {CARE_HOME_WORDS[(i * 7 + 3) % len(CARE_HOME_WORDS)]}"
        for i in rng.integers(0, 10_000, n)
    ]
    return pl.DataFrame({
        "location_id": ids,
        "care_home_name": names,
        "lsoa_code": lsoa.astype(str),
        "beds": rng.integers(P.CARE_HOME_BEDS[0], P.CARE_HOME_BEDS[1] + 1, n),
        "nursing": np.where(rng.random(n) < P.CARE_HOME_NURSING_SHARE, "Y", "N"),
    }).sort("location_id")  # fmt: skip


def education_sessions(
    layout: Layout, window: Window, homes: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    """Education sessions of the adult hospices' education teams, one row per session."""
    months = len(window.month_ends)
    per_month = P.EDUCATION_SESSIONS_PER_100K_MONTH * layout.total_people / 100_000
    hospices = np.array([h.code for h in layout.hospices], dtype=object)
    count = rng.poisson(per_month, months)
    month = expand(count)
    n = len(month)
    month_start = np.concatenate([[window.start], window.month_ends[:-1] + 1])
    day = uniform_day(rng, month_start[month], window.month_ends[month])
    sector = pick(rng, P.EDUCATION_SECTORS, n)
    named = rng.random(n) < P.EDUCATION_ORGANISATION_RECORDED
    home_ids = homes["location_id"].to_numpy()
    practices = np.array([p.code for p in layout.practices], dtype=object)
    trusts = np.array([t.code for t in layout.trusts], dtype=object)
    organisation = np.full(n, "", dtype=object)
    for name, codes in (("care_home", home_ids), ("primary_care", practices), ("acute", trusts)):
        rows = np.flatnonzero((sector == name) & named)
        organisation[rows] = codes[rng.integers(0, len(codes), len(rows))]
    care = sector == "care_home"
    (care_low, care_high), (low, high) = (
        P.EDUCATION_ATTENDEES["care_home"],
        P.EDUCATION_ATTENDEES["default"],
    )
    low, high = np.where(care, care_low, low), np.where(care, care_high, high)
    attendees = low + np.floor(rng.random(n) * (high - low + 1)).astype(np.int64)
    return pl.DataFrame({
        "provider": hospices[rng.integers(0, len(hospices), n)].astype(str),
        "period": pl.Series(window.month_ends[month].astype(np.int32)).cast(pl.Date),
        "session_id": [f"E{to_date(int(d)):%Y%m}-{k:05d}" for k, d in enumerate(day)],
        "session_date": pl.Series(day.astype(np.int32)).cast(pl.Date),
        "course": np.array(P.EDUCATION_COURSES, dtype=object)[
            rng.integers(0, len(P.EDUCATION_COURSES), n)
        ].astype(str),
        "audience_sector": sector.astype(str),
        "organisation_code": pl.Series(organisation.astype(str)).replace("", None),
        "attendees": attendees,
        "hours": np.array(P.EDUCATION_HOURS, dtype=object)[
            rng.integers(0, len(P.EDUCATION_HOURS), n)
        ].astype(str),
    }, schema_overrides={"attendees": pl.Int64})  # fmt: skip
