"""Everyone's ordinary use of services (`background`), and the record builders shared with
the end-of-life and palliative care modules.

Activity comes from three sources, each returning internal tables (one per kind of record):
- `activity.background`: everyone's ordinary hospital, A&E, community and SPoC use over the
  window (for people who die, up to a year before death);
- `end_of_life.end_of_life`: the last year of life of each decedent;
- `palliative_care.living_palliative_care`: hospice and community SPC caseloads of people who
  do not die, and living people on palliative care registers.
No record is dated after its person's death.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diewell.synth import parameters as P
from diewell.synth.events import (
    SECONDS_PER_DAY,
    Table,
    concat,
    expand,
    pick,
    seconds,
    uniform_day,
)
from diewell.synth.layout import Layout, Window
from diewell.synth.people import NO_DEATH, People

AE_HOURS = np.array([2, 1.5, 1.2, 1, 1, 1.2, 2, 3.5, 5, 6, 6.5, 6.5, 6.2, 6, 5.8, 5.8, 6, 6.2, 6, 5.5, 5, 4.2, 3.5, 2.6])  # fmt: skip
EVENING_HOURS = np.array([0] * 18 + [1, 1, 1, 1, 1, 1], dtype=float)
DAY_HOURS = np.array([0] * 8 + [1] * 10 + [0] * 6, dtype=float)
EMERGENCY_AFTER_AE = {"21": 0.93, "2A": 0.07}
UNSTABLE = 1
DETERIORATING = 2
DYING = 3


class Ids:
    """Sequence numbers for records of one chunk (made unique across chunks when delivered)."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


@dataclass
class Services:
    """Which organisation serves each person of the chunk."""

    hospice: np.ndarray  # index into adult hospices + children's hospices
    childrens_hospice: np.ndarray
    community: np.ndarray
    spoc: np.ndarray
    hospice_codes: np.ndarray
    community_codes: np.ndarray


def services(layout: Layout, people: People) -> Services:
    n_adult = len(layout.hospices)
    return Services(
        hospice=layout.place_hospice[people.place].astype(np.int64),
        childrens_hospice=n_adult + layout.place_childrens_hospice[people.place].astype(np.int64),
        community=layout.place_community[people.place].astype(np.int64),
        spoc=layout.place_spoc[people.place].astype(np.int64),
        hospice_codes=np.array(
            [h.code for h in layout.hospices + layout.childrens_hospices], dtype=object
        ),
        community_codes=np.array([c.code for c in layout.community], dtype=object),
    )


# --- background use of services --------------------------------------------------------


def relative_rate(people: People, day: np.ndarray, by_age: tuple[float, ...]) -> np.ndarray:
    """Each person's rate relative to the England average, from their age band."""
    band = np.searchsorted(np.array(P.ACTIVITY_AGE_BANDS), people.age_at(day), side="right")
    return np.array(by_age)[band] / _england_mean(by_age)


def _england_mean(by_age: tuple[float, ...]) -> float:
    """The population-weighted mean of an age profile over England's age structure."""
    people = np.array(P.ENGLAND_POPULATION_THOUSANDS, dtype=float).sum(axis=1)
    lower = np.arange(len(people)) * 5
    band = np.searchsorted(np.array(P.ACTIVITY_AGE_BANDS), lower, side="right")
    return float((np.array(by_age)[band] * people).sum() / people.sum())


def _exposure_years(
    people: People, window: Window
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Year by year, the days each person is at risk of background activity (first, last,
    years), so rates follow their age as they grow older. Exposure runs from a lead-in before
    the window start (so the first months are as busy as the rest; earlier records are not
    delivered) or birth, to the window end, or for decedents to a year before death (the end
    of life covers that)."""
    first = np.maximum(window.start - P.LEAD_IN_DAYS, people.dob)
    last = np.where(people.dod == NO_DEATH, window.end, people.dod - 366)
    years = []
    for step in range(window.start - P.LEAD_IN_DAYS, window.end + 1, 365):
        a = np.maximum(first, step)
        b = np.minimum(last, min(step + 364, window.end))
        years.append((a, b, np.maximum(b - a + 1, 0) / 365.25))
    return years


def background(
    people: People, window: Window, svc: Services, rng: np.random.Generator
) -> dict[str, Table]:
    """Everyone's ordinary hospital, A&E, community and SPoC activity over the window."""
    limit = np.where(people.dod == NO_DEATH, window.end, people.dod - 366)
    tables = [
        _background_year(people, first, last, years, limit, svc, rng)
        for first, last, years in _exposure_years(people, window)
    ]
    return {kind: concat([t[kind] for t in tables]) for kind in tables[0]}


def _background_year(
    people: People, first: np.ndarray, last: np.ndarray, years: np.ndarray, limit: np.ndarray,
    svc: Services, rng: np.random.Generator,
) -> dict[str, Table]:  # fmt: skip
    """Background activity over one year of exposure, at rates for each person's age (a run
    of community visits may go on past the year, up to `limit`)."""
    emergency = _spells(
        people, first, last, rng,
        rate=P.EMERGENCY_ADMISSIONS_PER_YEAR * relative_rate(people, first, P.EMERGENCY_BY_AGE) * years,
        kind="emergency",
    )  # fmt: skip
    elective = _spells(
        people, first, last, rng,
        rate=P.ELECTIVE_ADMISSIONS_PER_YEAR * relative_rate(people, first, P.ELECTIVE_BY_AGE) * years,
        kind="elective",
    )  # fmt: skip
    age = people.age_at(first)
    mothers = (people.sex == 2) & (age >= 15) & (age <= 44)
    maternity = _spells(
        people, first, last, rng,
        rate=np.where(mothers, P.MATERNITY_ADMISSIONS_PER_WOMAN_YEAR, 0.0) * years,
        kind="maternity",
    )  # fmt: skip
    linked_ae = ae_before(emergency, rng)
    standalone_rate = (
        P.AE_ATTENDANCES_PER_YEAR
        - P.AE_BEFORE_EMERGENCY_ADMISSION * P.EMERGENCY_ADMISSIONS_PER_YEAR
    )
    count = rng.poisson(standalone_rate * relative_rate(people, first, P.AE_BY_AGE) * years)
    who = expand(count)
    ae = attendance_rows(
        people, who, seconds(rng, uniform_day(rng, first[who], last[who]), AE_HOURS), rng
    )
    community = _community_episodes(people, first, last, years, limit, svc, rng)
    call_rate = (
        P.SPOC_LIVING_CALLS_PER_YEAR * relative_rate(people, first, P.COMMUNITY_BY_AGE) * years
    )
    who = expand(rng.poisson(call_rate))
    calls = call_rows(people, who, uniform_day(rng, first[who], last[who]), svc, rng)
    return {
        "apc": concat([emergency, elective, maternity]),
        "ae": concat([linked_ae, ae]),
        "community": community,
        "calls": calls,
    }


def _spells(
    people: People,
    first: np.ndarray,
    last: np.ndarray,
    rng: np.random.Generator,
    rate: np.ndarray,
    kind: str,
) -> Table:
    """Admissions at a Poisson rate per person, uniform over each person's exposure."""
    who = expand(rng.poisson(rate))
    admission = uniform_day(rng, first[who], last[who])
    return spell_rows(people, who, admission, kind, rng)


def spell_rows(
    people: People, who: np.ndarray, admission: np.ndarray, kind: str, rng: np.random.Generator,
    diagnosis: np.ndarray | None = None,
) -> Table:  # fmt: skip
    """Spells of one kind: method, length of stay, destination and diagnosis."""
    n = len(who)
    if kind == "emergency":
        stay = np.where(
            rng.random(n) < P.DAY_CASE_SHARE_EMERGENCY,
            0,
            rng.geometric(1 / P.MEAN_STAY_EMERGENCY_DAYS, n),
        )
        methods, codes = P.EMERGENCY_METHOD_SHARES, P.EMERGENCY_DIAGNOSES
    elif kind == "elective":
        stay = np.where(
            rng.random(n) < P.DAY_CASE_SHARE_ELECTIVE,
            0,
            rng.geometric(1 / P.MEAN_STAY_ELECTIVE_DAYS, n),
        )
        methods, codes = P.ELECTIVE_METHOD_SHARES, P.ELECTIVE_DIAGNOSES
    else:
        stay = rng.geometric(0.6, n) - 1
        methods, codes = P.MATERNITY_METHOD_SHARES, P.MATERNITY_DIAGNOSES
    if diagnosis is None:
        diagnosis = np.array(codes, dtype=object)[rng.integers(0, len(codes), n)]
    return Table(
        person=who,
        trust=people.trust[who],
        admission=admission,
        discharge=admission + np.minimum(stay, 60),
        method=pick(rng, methods, n),
        destination=pick(rng, P.DISCHARGE_DESTINATIONS, n),
        diagnosis=diagnosis,
        spc=np.full(n, "N", dtype=object),
        terminal=np.zeros(n, dtype=bool),
    )


def ae_before(spells: Table, rng: np.random.Generator) -> Table:
    """An A&E arrival before most emergency admissions (same day, or the evening before); the
    admission method of those spells becomes 21 (or 2A)."""
    if not len(spells):
        return Table()
    emergency = np.isin(spells["method"], list(P.EMERGENCY_METHOD_SHARES))
    linked = emergency & (rng.random(len(spells)) < P.AE_BEFORE_EMERGENCY_ADMISSION)
    rows = np.flatnonzero(linked)
    spells["method"][rows] = pick(rng, EMERGENCY_AFTER_AE, len(rows))
    unlinked = np.flatnonzero(
        emergency & ~linked & np.isin(spells["method"], list(EMERGENCY_AFTER_AE))
    )
    others = {k: v for k, v in P.EMERGENCY_METHOD_SHARES.items() if k not in EMERGENCY_AFTER_AE}
    spells["method"][unlinked] = pick(rng, others, len(unlinked))
    day = spells["admission"][rows]
    evening_before = rng.random(len(rows)) < 0.2
    arrival = np.where(
        evening_before,
        seconds(rng, day - 1, EVENING_HOURS),
        seconds(rng, day, AE_HOURS),
    )
    return Table(
        person=spells["person"][rows],
        trust=spells["trust"][rows],
        arrival=arrival,
        department=np.full(len(rows), "01", dtype=object),
    )


def attendance_rows(
    people: People, who: np.ndarray, arrival: np.ndarray, rng: np.random.Generator
) -> Table:
    return Table(
        person=who,
        trust=people.trust[who],
        arrival=arrival,
        department=pick(rng, P.AE_DEPARTMENT_SHARES, len(who)),
    )


def _community_episodes(
    people: People, first: np.ndarray, last: np.ndarray, years: np.ndarray, limit: np.ndarray,
    svc: Services, rng: np.random.Generator,
) -> Table:  # fmt: skip
    """Runs of community visits (district nursing, rapid response, other)."""
    rate = P.COMMUNITY_CONTACTS_PER_YEAR / P.COMMUNITY_CONTACTS_PER_EPISODE
    episodes = expand(rng.poisson(rate * relative_rate(people, first, P.COMMUNITY_BY_AGE) * years))
    start = uniform_day(rng, first[episodes], last[episodes])
    service = pick(rng, P.COMMUNITY_SERVICE_SHARES, len(episodes))
    visits = 1 + rng.poisson(P.COMMUNITY_CONTACTS_PER_EPISODE - 1, len(episodes))
    row = expand(visits)
    who = episodes[row]
    day = start[row] + np.floor(rng.random(len(row)) * P.COMMUNITY_EPISODE_DAYS).astype(np.int64)
    keep = day <= limit[who]
    return community_rows(people, who[keep], day[keep], service[row][keep], svc, rng)


def community_rows(
    people: People, who: np.ndarray, day: np.ndarray, service: np.ndarray, svc: Services, rng: np.random.Generator,
    face_to_face: float = P.FACE_TO_FACE_SHARE,
) -> Table:  # fmt: skip
    n = len(who)
    return Table(
        person=who,
        provider=svc.community[who],
        day=day,
        service=service,
        mode=np.where(rng.random(n) < face_to_face, "face_to_face", "telephone_video").astype(
            object
        ),
        out_of_hours=pick(rng, P.OUT_OF_HOURS_FLAG, n),
    )


def call_rows(
    people: People, who: np.ndarray, day: np.ndarray, svc: Services, rng: np.random.Generator
) -> Table:
    """SPoC calls on these days: out of hours on weekends or weekday nights (SC01 target)."""
    n = len(who)
    weekend = ((day + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    weekday_night_share = (P.SPOC_OUT_OF_HOURS_SHARE - 2 / 7) / (5 / 7)
    night = rng.random(n) < weekday_night_share
    # Weekday nights: 00:00-08:00 and 18:30-24:00 (13.5 hours); days: 08:00-18:30.
    night_second = rng.integers(0, 48_600, n)
    night_second = np.where(night_second < 28_800, night_second, night_second - 28_800 + 66_600)
    day_second = 28_800 + rng.integers(0, 37_800, n)
    weekday_second = np.where(night, night_second, day_second)
    time = np.where(weekend, seconds(rng, day, AE_HOURS), day * SECONDS_PER_DAY + weekday_second)
    return Table(
        person=who,
        spoc=svc.spoc[who],
        time=time,
        caller=pick(rng, P.SPOC_CALLER_SHARES, n),
        outcome=pick(rng, P.SPOC_OUTCOME_SHARES, n),
        identified=rng.random(n) >= P.SPOC_UNIDENTIFIED_SHARE,
    )


# --- spells of one person must not overlap ---------------------------------------------


def tidy_spells(apc: Table, n_people: int) -> Table:
    """Spells of one person never overlap: nothing starts after a terminal admission, one
    spell per admission day (the terminal one wins), and each spell ends before the same
    person's next admission."""
    if not len(apc):
        return apc
    terminal_admission = np.full(n_people, np.iinfo(np.int64).max)
    terminal_admission[apc["person"][apc["terminal"]]] = apc["admission"][apc["terminal"]]
    apc = apc.take(
        np.flatnonzero(apc["terminal"] | (apc["admission"] < terminal_admission[apc["person"]]))
    )
    order = np.lexsort((~apc["terminal"], apc["admission"], apc["person"]))
    apc = apc.take(order)
    person, admission = apc["person"], apc["admission"]
    same = np.concatenate(
        [[False], (person[1:] == person[:-1]) & (admission[1:] == admission[:-1])]
    )
    apc = apc.take(np.flatnonzero(~same))
    next_same = np.concatenate([apc["person"][1:] == apc["person"][:-1], [False]])
    next_admission = np.concatenate([apc["admission"][1:], [0]])
    capped = np.where(next_same, np.minimum(apc["discharge"], next_admission - 1), apc["discharge"])
    apc["discharge"] = np.maximum(capped, apc["admission"])
    return apc
