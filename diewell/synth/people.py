"""The people of one chunk of practices: who they are, where they live, and who dies when,
of what and where.

All dates are int64 days since 1970-01-01. Deaths are simulated up to RUN_OUT_DAYS after the
window end (their earlier care falls inside the window; their deaths are not delivered); a
person alive after that has `dod == NO_DEATH`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diewell.synth import parameters as P
from diewell.synth.layout import Layout, Window
from diewell.synth.nhs_numbers import nhs_numbers

NO_DEATH = np.int64(2**40)
GROUP_INDEX = {g: i for i, g in enumerate((*P.CONDITION_GROUPS, "infant"))}
NEED_GROUPS = ("cancer", "organ_failure", "dementia_frailty", "neurological", "hiv")
PLACE_INDEX = {p: i for i, p in enumerate(P.PLACES_OF_DEATH)}
DAYS_PER_YEAR = 365.25


@dataclass
class People:
    """One row per person of the chunk (registered at the window start or born in it)."""

    index: np.ndarray  # global person index
    nhs: np.ndarray  # int64 NHS number
    practice: np.ndarray  # global practice index
    place: np.ndarray  # the practice's place
    lsoa: np.ndarray
    decile: np.ndarray
    sex: np.ndarray  # 1 male, 2 female
    dob: np.ndarray
    dod: np.ndarray  # NO_DEATH if alive a year after the window end
    trust: np.ndarray
    born_in_window: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def age_at(self, day: np.ndarray | int) -> np.ndarray:
        """Whole years of age on `day` (approximate: 365.25-day years)."""
        return np.floor((np.asarray(day) - self.dob) / DAYS_PER_YEAR).astype(np.int64)

    @property
    def quintile(self) -> np.ndarray:
        return (self.decile + 1) // 2


@dataclass
class Deaths:
    """One row per decedent of the chunk (positions into People) with cause and place."""

    person: np.ndarray
    dod: np.ndarray
    age: np.ndarray
    group: np.ndarray  # index into GROUP_INDEX
    need: np.ndarray  # bool: palliative care need (Etkind 2017)
    cause: np.ndarray  # ICD-10 as delivered (C34.9 / C349 / C34)
    place: np.ndarray  # index into PLACES_OF_DEATH
    registration: np.ndarray

    def __len__(self) -> int:
        return len(self.person)

    def group_is(self, *names: str) -> np.ndarray:
        return np.isin(self.group, [GROUP_INDEX[n] for n in names])

    def place_is(self, name: str) -> np.ndarray:
        return self.place == PLACE_INDEX[name]


# --- people ------------------------------------------------------------------------------


def make_people(
    layout: Layout, window: Window, practices: range, rng: np.random.Generator
) -> People:
    """Everyone registered with these practices at the window start, and the babies born later."""
    first, stop = practices.start, practices.stop
    settled = layout.practice_list_size[first:stop]
    births = layout.practice_births[first:stop]
    per_practice = settled + births
    practice = np.repeat(np.arange(first, stop), per_practice).astype(np.int64)
    offset = layout.practice_offset[first:stop]
    position = np.arange(len(practice)) - np.repeat(
        np.cumsum(per_practice) - per_practice, per_practice
    )
    index = np.repeat(offset, per_practice) + position
    born_in_window = position >= np.repeat(settled, per_practice)

    band, sex = _age_bands_and_sex(layout, practice, rng)
    age_days = _age_days(band, rng)
    dob = window.start - 1 - age_days
    n_born = int(born_in_window.sum())
    dob[born_in_window] = window.start + rng.integers(0, window.days, n_born)
    sex[born_in_window] = np.where(rng.random(n_born) < 0.512, 1, 2)

    place = layout.practice_place[practice]
    lsoa = _home_lsoas(layout, practice, place, rng)
    decile = layout.lsoa_decile[lsoa].astype(np.int64)
    people = People(
        index=index,
        nhs=nhs_numbers(index, layout.total_people, layout.nhs_multiplier, layout.nhs_offset),
        practice=practice,
        place=place.astype(np.int64),
        lsoa=lsoa,
        decile=decile,
        sex=sex,
        dob=dob,
        dod=np.full(len(index), NO_DEATH, dtype=np.int64),
        trust=_trusts(layout, place, rng),
        born_in_window=born_in_window,
    )
    people.dod = _dates_of_death(people, window, rng)
    return people


def _age_bands_and_sex(
    layout: Layout, practice: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Five-year age band and sex from England's structure, with practices older or younger."""
    counts = np.array(P.ENGLAND_POPULATION_THOUSANDS, dtype=float)
    band_share = counts.sum(axis=1)
    male_share = counts[:, 0] / band_share
    old = np.arange(len(band_share)) >= 13  # 65+
    factors = layout.practice_old_age_factor
    weights = np.where(old[None, :], band_share[None, :] * factors[:, None], band_share[None, :])
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(practice))
    band = (u[:, None] > cumulative[practice, :-1]).sum(axis=1).astype(np.int64)
    sex = np.where(rng.random(len(practice)) < male_share[band], 1, 2).astype(np.int64)
    return band, sex


def _age_days(band: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Age in days at the window start, uniform within the band (90+ thins out with age)."""
    years = band * 5 + rng.random(len(band)) * 5
    oldest = band == len(P.AGE_BANDS) - 1
    extra = rng.exponential(P.NINETY_PLUS_MEAN_EXTRA_YEARS, int(oldest.sum()))
    years[oldest] = 90 + np.minimum(extra, P.OLDEST_AGE - 90 - 0.01)
    return np.floor(years * DAYS_PER_YEAR).astype(np.int64)


def _home_lsoas(
    layout: Layout, practice: np.ndarray, place: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Most people live in their practice's catchment; a few elsewhere in the place or beyond."""
    n = len(practice)
    n_places = len(layout.place_lsoas)
    u = rng.random(n)
    centre = layout.practice_catchment[practice, 0]
    width = layout.practice_catchment[practice, 1]
    position = centre + (rng.random(n) - 0.5) * width
    elsewhere = u >= P.CATCHMENT_SHARE
    other_place = u >= 1 - P.OTHER_PLACE_SHARE
    home_place = np.where(
        other_place, (place + 1 + rng.integers(0, n_places - 1, n)) % n_places, place
    )
    lsoa = np.empty(n, dtype=np.int64)
    for p in np.unique(home_place):
        rows = np.flatnonzero(home_place == p)
        lsoas = layout.place_lsoas[p]
        pos = position[rows]
        anywhere = elsewhere[rows]
        pos[anywhere] = rng.random(int(anywhere.sum())) * len(lsoas)
        lsoa[rows] = lsoas[np.clip(pos.astype(np.int64), 0, len(lsoas) - 1)]
    return lsoa


def _trusts(layout: Layout, place: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The acute trust each person uses: their place's, sometimes a neighbouring one."""
    n_trusts = len(layout.trusts)
    trust = layout.place_trust[place].astype(np.int64)
    neighbour = rng.random(len(place)) < P.NEIGHBOUR_TRUST_SHARE
    step = np.where(rng.random(len(place)) < 0.5, 1, n_trusts - 1)
    return np.where(neighbour, (trust + step) % n_trusts, trust)


def _death_day_weights(first: int, last: int) -> np.ndarray:
    """Cumulative relative death rate by day from `first` to `last` (winter peak), from 0."""
    days = np.arange(first, last + 1)
    day_of_year = days % 365.25  # day 0 is 1 January 1970
    weight = 1 + P.WINTER_EXCESS * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    return np.concatenate([[0.0], np.cumsum(weight)])


def _seasonal_day(
    cumulative: np.ndarray, first: np.ndarray, last: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A day offset in [first, last] of the window, drawn with the seasonal weights."""
    low, high = cumulative[first], cumulative[last + 1]
    target = low + rng.random(len(first)) * (high - low)
    return np.clip(np.searchsorted(cumulative, target, side="right") - 1, first, last)


def _dates_of_death(people: People, window: Window, rng: np.random.Generator) -> np.ndarray:
    """Date of death (or NO_DEATH), year by year from age, sex and IMD, up to a year after the
    window: people who die soon after it have their last months' care inside it."""
    n = len(people)
    dod = np.full(n, NO_DEATH, dtype=np.int64)
    rates = np.array(P.MORTALITY_PER_100K, dtype=float) / 100_000 * P.MORTALITY_SCALE
    deprivation = P.DEPRIVATION_MORTALITY_RATIO ** ((5.5 - people.decile) / 9)
    horizon = window.end + P.RUN_OUT_DAYS
    cumulative = _death_day_weights(window.start, horizon)
    settled = ~people.born_in_window
    for step_start in range(window.start, horizon + 1, 365):
        step_end = min(step_start + 364, horizon)
        at_risk = settled & (dod == NO_DEATH)
        band = np.minimum(people.age_at(step_start) // 5, len(P.AGE_BANDS) - 1)
        rate = rates[band, people.sex - 1] * deprivation
        p_death = 1 - np.exp(-rate * (step_end - step_start + 1) / DAYS_PER_YEAR)
        dies = at_risk & (rng.random(n) < p_death)
        k = int(dies.sum())
        first = np.full(k, step_start - window.start)
        last = np.full(k, step_end - window.start)
        dod[dies] = window.start + _seasonal_day(cumulative, first, last, rng)
    babies = np.flatnonzero(people.born_in_window)
    u = rng.random(len(babies))
    neonatal = u < P.NEONATAL_DEATH_RISK
    postneonatal = ~neonatal & (u < P.NEONATAL_DEATH_RISK + P.POSTNEONATAL_DEATH_RISK)
    age_at_death = np.where(
        neonatal, rng.integers(0, 28, len(babies)), rng.integers(28, 365, len(babies))
    )
    baby_dod = people.dob[babies] + age_at_death
    dying = (neonatal | postneonatal) & (baby_dod <= horizon)
    dod[babies[dying]] = baby_dod[dying]
    return dod


# --- deaths ------------------------------------------------------------------------------


def make_deaths(people: People, rng: np.random.Generator) -> Deaths:
    """Cause, place and registration of every death of the chunk."""
    person = np.flatnonzero(people.dod != NO_DEATH)
    dod = people.dod[person]
    age = np.floor((dod - people.dob[person]) / DAYS_PER_YEAR).astype(np.int64)
    infant = (dod - people.dob[person]) < 365
    group = _cause_groups(age, infant, rng)
    cause = _cause_codes(group, rng)
    quintile = people.quintile[person]
    place = _places_of_death(group, age, quintile, rng)
    external = group == GROUP_INDEX["external"]
    median = np.where(external, P.CORONER_DELAY_MEDIAN_DAYS, P.REGISTRATION_DELAY_MEDIAN_DAYS)
    delay = np.round(rng.lognormal(np.log(median), 0.6)).astype(np.int64)
    need = np.isin(group, [GROUP_INDEX[g] for g in NEED_GROUPS])
    return Deaths(person, dod, age, group, need, cause, place, dod + delay)


def _cause_groups(age: np.ndarray, infant: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Condition group of the underlying cause, by age at death (infants: perinatal causes)."""
    shares = np.array(P.CAUSE_GROUP_SHARES_BY_AGE, dtype=float)
    cumulative = np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1)
    band = np.searchsorted(np.array(P.CAUSE_AGE_BANDS), age, side="right") - 1
    band = np.clip(band, 0, len(shares) - 1)
    u = rng.random(len(age))
    group = (u[:, None] > cumulative[band]).sum(axis=1)
    group = np.minimum(group, len(P.CONDITION_GROUPS) - 1)
    return np.where(infant, GROUP_INDEX["infant"], group).astype(np.int64)


def _cause_codes(group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An ICD-10 code per death, written C34.9, C349 or C34 as the registration system did."""
    codes = np.empty(len(group), dtype=object)
    for name, g in GROUP_INDEX.items():
        rows = np.flatnonzero(group == g)
        table = P.CAUSE_CODES[name]
        weights = np.array(list(table.values()), dtype=float)
        codes[rows] = np.array(list(table), dtype=object)[
            rng.choice(len(table), len(rows), p=weights / weights.sum())
        ]
    style = rng.choice(3, len(group), p=list(P.CODE_FORMAT_SHARES.values()))
    return np.array(
        [_code_as_written(c, s) for c, s in zip(codes, style, strict=True)], dtype=object
    )


def _code_as_written(code: str, style: int) -> str:
    if style == 1:
        return code.replace(".", "")
    if style == 2 and "." in code and code not in P.FOURTH_CHARACTER_MATTERS:
        return code[:3]
    return code


def _places_of_death(
    group: np.ndarray, age: np.ndarray, quintile: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Place of death from condition group, age and deprivation (odds multipliers)."""
    base = np.array([P.PLACE_SHARES_BY_GROUP[g] for g in GROUP_INDEX], dtype=float)
    age_band = np.searchsorted(np.array(P.PLACE_AGE_BANDS), age, side="right")
    odds = (
        base[group]
        * np.array(P.PLACE_ODDS_BY_AGE)[age_band]
        * np.array(P.PLACE_ODDS_BY_QUINTILE)[quintile - 1]
    )
    cumulative = np.cumsum(odds / odds.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(group))
    return np.minimum((u[:, None] > cumulative).sum(axis=1), len(P.PLACES_OF_DEATH) - 1)
