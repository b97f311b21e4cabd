"""The shape of a synthetic ICS: the reporting window, places, LSOAs, PCNs, practices, the
providers that deliver extracts, the chunks people are generated in, and the ICS config file.

Everything here is small (one row per organisation or LSOA) and drawn from one seed, so the
layout is identical however the people are later chunked.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import yaml

from diewell.synth import parameters as P

EPOCH = dt.date(1970, 1, 1)
ICS_CODE = "QSY"
LAYOUT_STREAM = 1  # SeedSequence spawn keys: layout, chunks, defects use distinct streams
NHS_STREAM = 2

REGISTER_EXTRACTS = ("palliative_register", "dementia_register")
ICB_EXTRACTS = ("deaths", "gp_population", "ref_lsoa", "ref_practice", "ref_care_homes")
TRUST_EXTRACTS = ("apc_spells", "ae_attendances")
HOSPICE_EXTRACTS = (
    "hospice_referrals",
    "hospice_contacts",
    "outcome_assessments",
    "bereavement_contacts",
    "education_sessions",
)
COMMUNITY_EXTRACTS = ("community_contacts", "outcome_assessments")
SPOC_EXTRACTS = ("spoc_calls",)
# `diewell synth --layouts national` (sources.md v3): the extracts that national datasets
# carry, each in its built-in layout; every person key a pseudonym of the synthetic data
# service; and the LSOA 2011 lookup the deaths layout uses, sent by the ICB.
NATIONAL_LAYOUTS = {
    "deaths": "ncdr_deaths",
    "apc_spells": "ncdr_apc_episodes",
    "ae_attendances": "ncdr_ecds",
    "community_contacts": "csds_contacts",
    "palliative_register": "gp_events",
    "dementia_register": "gp_events",
}
PSEUDONYM_DOMAIN = "synthetic-dscro"
ICB_NATIONAL_EXTRACTS = ("ref_lsoa_2011",)

NAME_STEMS = ("Ash", "Brack", "Cold", "Dun", "Elm", "Fallow", "Gor", "Harrow", "Ivy", "Kes", "Lark", "Mer", "Noll", "Oak", "Pen", "Quen", "Rook", "Sel", "Thorn", "Wren", "Yarn", "Bram", "Cran", "Hollin")  # fmt: skip
NAME_ENDINGS = ("combe", "mere", "field", "dene", "holt", "by", "hythe", "cross", "shaw", "wick", "stead", "ford", "ley", "ton", "well", "moor")  # fmt: skip
STREETS = ("Church Lane", "Mill Road", "Station Road", "High Street", "Market Place", "Victoria Road", "Orchard Way", "Bridge Street", "Park Road", "Chapel Street", "Westgate", "Northfield Road")  # fmt: skip
PRACTICE_KINDS = (
    "Surgery",
    "Medical Centre",
    "Health Centre",
    "Medical Practice",
    "Family Practice",
)
PCN_AREAS = (
    "Central",
    "North",
    "South",
    "East",
    "West",
    "Rural",
    "Coastal",
    "Valley",
    "Town",
    "Vale",
)
HOSPICE_WORDS = ("Larkspur House", "Willowbrook", "Kestrel Rise", "Meadowsweet", "Harebell", "Greystones", "Foxglove", "Skylark", "Rowan Lodge", "Heatherbank")  # fmt: skip


@dataclass(frozen=True)
class Window:
    """The reporting window: days since 1970-01-01, and the period ends of each cadence."""

    start: int
    end: int
    month_ends: np.ndarray  # int64 days, ascending; the last equals `end`
    quarter_ends: np.ndarray  # quarter ends inside the window, plus `end` if it is not one

    @property
    def days(self) -> int:
        return self.end - self.start + 1

    @property
    def years(self) -> float:
        return self.days / 365.25


@dataclass(frozen=True)
class Provider:
    """One sender of extracts, with how its system formats files."""

    code: str
    name: str
    kind: str  # icb, trust, hospice, childrens_hospice, community, spoc, practice
    extracts: tuple[str, ...]
    file_format: str = "csv"  # csv or parquet
    spaced_nhs_numbers: bool = False  # '943 476 5919'
    day_first_dates: bool = False  # DD/MM/YYYY


@dataclass
class Layout:
    """Organisations and geography of one synthetic ICS (index arrays point into the lists)."""

    ics_name: str
    place_codes: list[str]
    place_names: list[str]
    lsoa_codes: list[str]
    lsoa_decile: np.ndarray  # int8, 1 = most deprived
    lsoa_place: np.ndarray  # int32
    place_lsoas: list[np.ndarray]  # LSOA indices of each place, ordered by deprivation
    pcn_codes: list[str]
    pcn_names: list[str]
    pcn_place: np.ndarray
    practices: list[Provider]
    practice_place: np.ndarray
    practice_pcn: np.ndarray
    practice_list_size: np.ndarray  # people registered at the window start
    practice_births: np.ndarray  # babies born in the window and registered there
    practice_offset: np.ndarray  # first global person index of each practice
    practice_old_age_factor: np.ndarray
    practice_catchment: np.ndarray  # (centre, width) in positions of the place's LSOA order
    icb: Provider
    trusts: list[Provider]
    hospices: list[Provider]  # adult hospices
    childrens_hospices: list[Provider]
    community: list[Provider]
    spoc_hosts: list[Provider]
    place_trust: np.ndarray
    place_hospice: np.ndarray
    place_childrens_hospice: np.ndarray
    place_community: np.ndarray
    place_spoc: np.ndarray
    chunks: list[tuple[int, int]]  # practice index ranges [start, stop)
    total_people: int
    nhs_multiplier: int
    nhs_offset: int

    def providers(self) -> list[Provider]:
        """Every provider, in config order."""
        return [
            self.icb,
            *self.trusts,
            *self.hospices,
            *self.childrens_hospices,
            *self.community,
            *self.spoc_hosts,
            *self.practices,
        ]

    def providers_for(self, extract: str) -> list[Provider]:
        return [p for p in self.providers() if extract in p.extracts]


# --- the window --------------------------------------------------------------------------


def to_days(day: dt.date) -> int:
    return (day - EPOCH).days


def to_date(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))


def month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def make_window(end_date: dt.date, years: int) -> Window:
    """`years` whole years of calendar months ending on the last month end on or before end_date."""
    if years < 1:
        raise ValueError("years must be at least 1")
    last = month_end(end_date.year, end_date.month)
    if last > end_date:
        first_of_month = end_date.replace(day=1)
        last = first_of_month - dt.timedelta(days=1)
    months = []
    year, month = last.year, last.month
    for _ in range(12 * years):
        months.append(month_end(year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    months.reverse()
    start = months[0].replace(day=1)
    quarters = [m for m in months if m.month in (3, 6, 9, 12)]
    if not quarters or quarters[-1] != last:
        quarters.append(last)
    return Window(
        start=to_days(start),
        end=to_days(last),
        month_ends=np.array([to_days(m) for m in months], dtype=np.int64),
        quarter_ends=np.array([to_days(q) for q in quarters], dtype=np.int64),
    )


# --- counts of organisations -----------------------------------------------------------


def organisation_counts(population: int) -> dict[str, int]:
    """How many of each organisation an ICS of this population has (brief: scale to 57M)."""
    if population <= 1_000_000:
        practices = round(P.PRACTICES_PER_MILLION_SMALL_ICS * population / 1_000_000)
    else:
        extra = (population - 1_000_000) / P.PEOPLE_PER_PRACTICE_NATIONAL
        practices = P.PRACTICES_PER_MILLION_SMALL_ICS + round(extra)
    practices = max(P.MIN_PRACTICES, practices)
    places = max(3, round(population / P.PEOPLE_PER_PLACE))
    hospices = max(4, round(population / P.PEOPLE_PER_HOSPICE))
    childrens = max(1, round(hospices / P.HOSPICES_PER_CHILDRENS_HOSPICE))
    return {
        "places": min(places, practices),
        "lsoas": max(places * 4, round(population / P.PEOPLE_PER_LSOA)),
        "practices": practices,
        "pcns": max(1, round(practices / P.PRACTICES_PER_PCN)),
        "trusts": max(3, round(population / P.PEOPLE_PER_TRUST)),
        "hospices": hospices - childrens,
        "childrens_hospices": childrens,
        "community": max(1, round(population / P.PEOPLE_PER_COMMUNITY_PROVIDER)),
        "spoc": max(1, round(population / P.PEOPLE_PER_SPOC_HOST)),
    }


def split_exactly(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to weights that sum to total (largest remainder)."""
    share = weights / weights.sum() * total
    whole = np.floor(share).astype(np.int64)
    rest = total - int(whole.sum())
    if rest:
        order = np.argsort(-(share - whole), kind="stable")
        whole[order[:rest]] += 1
    return whole


# --- names and codes ---------------------------------------------------------------------


def town_name(i: int) -> str:
    """A fictional town name; distinct for distinct i."""
    n = len(NAME_STEMS) * len(NAME_ENDINGS)
    stem, ending = divmod((i * 151 + 37) % n, len(NAME_ENDINGS))
    base = NAME_STEMS[stem] + NAME_ENDINGS[(ending * 5 + stem) % len(NAME_ENDINGS)]
    return base if i < n else f"{base} {i // n + 1}"


def practice_code(i: int) -> str:
    """ODS-style practice code: a letter and five digits (L81001, L81002, ...)."""
    letters = "LMNPYKJ"
    group, k = divmod(i, 999 * 18)
    region, serial = divmod(k, 999)
    return f"{letters[group % len(letters)]}{81 + region:02d}{serial + 1:03d}"


def numbered(prefix: str, i: int, count: int) -> str:
    width = max(2, len(str(count)))
    return f"{prefix}{i + 1:0{width}d}"


def ics_title(place_names: list[str]) -> str:
    if len(place_names) <= 4:
        return ", ".join(place_names[:-1]) + " and " + place_names[-1] + " Integrated Care System"
    return f"Synthetic England ({len(place_names)} places) Integrated Care System"


# --- the layout --------------------------------------------------------------------------


def make_layout(seed: int, population: int, window: Window) -> Layout:
    """Draw the ICS's geography and organisations for this seed and population."""
    if population < 1_000:
        raise ValueError("population must be at least 1,000")
    rng = np.random.default_rng(np.random.SeedSequence([seed, LAYOUT_STREAM]))
    counts = organisation_counts(population)
    n_places = counts["places"]

    place_weight = rng.uniform(0.8, 1.2, n_places)
    place_people = split_exactly(population, place_weight)
    place_names = [town_name(i) for i in range(n_places)]
    place_codes = [numbered(ICS_CODE, i, n_places) for i in range(n_places)]

    lsoa_place, lsoa_decile, place_lsoas = _lsoas(rng, counts["lsoas"], place_people)
    n_lsoas = len(lsoa_place)  # at least 4 per place, so a small ICS may have more than counted
    base = int(rng.integers(100_000, 999_999 - n_lsoas))
    lsoa_codes = [f"E01{base + i:06d}" for i in range(n_lsoas)]

    practice_place = np.repeat(
        np.arange(n_places), split_exactly(counts["practices"], place_people.astype(float))
    ).astype(np.int32)
    list_size = _list_sizes(rng, practice_place, place_people)
    births = np.round(list_size * P.BIRTH_RATE * window.years).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(list_size + births)[:-1]]).astype(np.int64)
    catchment = _catchments(practice_place, place_lsoas)
    pcn_of_practice, pcn_place = _pcns(practice_place, counts["pcns"])

    day_first = rng.random(len(practice_place)) < P.DD_MM_YYYY_PRACTICE_SHARE
    practices = [
        Provider(
            code=practice_code(i),
            name=_practice_name(i, place_names[practice_place[i]]),
            kind="practice",
            extracts=REGISTER_EXTRACTS,
            day_first_dates=bool(day_first[i]),
        )
        for i in range(len(practice_place))
    ]
    pcn_codes = [f"U{10001 + i}" for i in range(len(pcn_place))]
    pcn_names = [
        f"{place_names[pcn_place[i]]} {PCN_AREAS[i % len(PCN_AREAS)]} PCN"
        + ("" if i < len(PCN_AREAS) * n_places else f" {i}")
        for i in range(len(pcn_place))
    ]
    providers = _providers(counts, place_names)
    total = int(offsets[-1] + list_size[-1] + births[-1])
    multiplier, offset = _nhs_scramble(seed, total)
    return Layout(
        ics_name=ics_title(place_names),
        place_codes=place_codes,
        place_names=place_names,
        lsoa_codes=lsoa_codes,
        lsoa_decile=lsoa_decile,
        lsoa_place=lsoa_place,
        place_lsoas=place_lsoas,
        pcn_codes=pcn_codes,
        pcn_names=pcn_names,
        pcn_place=pcn_place,
        practices=practices,
        practice_place=practice_place,
        practice_pcn=pcn_of_practice,
        practice_list_size=list_size,
        practice_births=births,
        practice_offset=offsets,
        practice_old_age_factor=np.exp(rng.normal(0, P.PRACTICE_OLD_AGE_SPREAD, len(list_size))),
        practice_catchment=catchment,
        place_trust=_spread(n_places, counts["trusts"]),
        place_hospice=_spread(n_places, counts["hospices"]),
        place_childrens_hospice=_spread(n_places, counts["childrens_hospices"]),
        place_community=_spread(n_places, counts["community"]),
        place_spoc=_spread(n_places, counts["spoc"]),
        chunks=_chunks(list_size + births),
        total_people=total,
        nhs_multiplier=multiplier,
        nhs_offset=offset,
        **providers,
    )


def _lsoas(
    rng: np.random.Generator, n_lsoas: int, place_people: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """LSOAs per place with IMD deciles; each place has its own deprivation tilt."""
    n_places = len(place_people)
    per_place = np.maximum(4, split_exactly(n_lsoas, place_people.astype(float)))
    lsoa_place = np.repeat(np.arange(n_places), per_place).astype(np.int32)
    tilt = rng.permutation(np.linspace(-1.0, 1.0, n_places))
    deciles = np.arange(1, 11)
    lsoa_decile = np.empty(len(lsoa_place), dtype=np.int8)
    place_lsoas = []
    for p in range(n_places):
        idx = np.flatnonzero(lsoa_place == p)
        weights = np.exp(tilt[p] * 0.18 * (deciles - 5.5))
        lsoa_decile[idx] = rng.choice(deciles, size=len(idx), p=weights / weights.sum())
        # Neighbouring LSOAs have similar deprivation: order them by decile with some noise.
        order = np.argsort(lsoa_decile[idx] + rng.normal(0, 1.5, len(idx)), kind="stable")
        place_lsoas.append(idx[order])
    return lsoa_place, lsoa_decile, place_lsoas


def _list_sizes(
    rng: np.random.Generator, practice_place: np.ndarray, place_people: np.ndarray
) -> np.ndarray:
    """Registered list size of each practice; the practices of a place hold its people."""
    sizes = np.empty(len(practice_place), dtype=np.int64)
    sigma = math.sqrt(math.log(1 + P.PRACTICE_LIST_SIZE_CV**2))
    for p, people in enumerate(place_people):
        idx = np.flatnonzero(practice_place == p)
        weights = rng.lognormal(0.0, sigma, len(idx)) + 0.25
        sizes[idx] = split_exactly(int(people), weights)
    return sizes


def _catchments(practice_place: np.ndarray, place_lsoas: list[np.ndarray]) -> np.ndarray:
    """Each practice serves a window of its place's LSOAs (in deprivation order)."""
    catchment = np.zeros((len(practice_place), 2))
    for p, lsoas in enumerate(place_lsoas):
        idx = np.flatnonzero(practice_place == p)
        n = len(idx)
        catchment[idx, 0] = (np.arange(n) + 0.5) / n * len(lsoas)
        catchment[idx, 1] = max(2.0, 2.5 * len(lsoas) / n)
    return catchment


def _pcns(practice_place: np.ndarray, n_pcns: int) -> tuple[np.ndarray, np.ndarray]:
    """PCNs group consecutive practices of one place."""
    n_places = int(practice_place.max()) + 1
    per_place = np.bincount(practice_place, minlength=n_places)
    pcn_count = np.maximum(1, split_exactly(n_pcns, per_place.astype(float)))
    pcn_count = np.minimum(pcn_count, per_place)
    practice_pcn = np.empty(len(practice_place), dtype=np.int32)
    pcn_place = []
    next_pcn = 0
    for p in range(n_places):
        idx = np.flatnonzero(practice_place == p)
        groups = np.arange(len(idx)) * pcn_count[p] // len(idx)
        practice_pcn[idx] = next_pcn + groups
        pcn_place += [p] * int(pcn_count[p])
        next_pcn += int(pcn_count[p])
    return practice_pcn, np.array(pcn_place, dtype=np.int32)


def _spread(n_places: int, n_orgs: int) -> np.ndarray:
    """Which organisation serves each place: consecutive places share one."""
    return (np.arange(n_places) * n_orgs // n_places).astype(np.int32)


def _chunks(people_per_practice: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive practices holding about CHUNK_PEOPLE people each."""
    chunks, start, running = [], 0, 0
    for i, n in enumerate(people_per_practice):
        running += int(n)
        if running >= P.CHUNK_PEOPLE:
            chunks.append((start, i + 1))
            start, running = i + 1, 0
    if start < len(people_per_practice):
        chunks.append((start, len(people_per_practice)))
    return chunks


def _nhs_scramble(seed: int, total: int) -> tuple[int, int]:
    """A multiplier coprime to `total` and an offset: i -> (i*a + b) mod total is a bijection."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, NHS_STREAM]))
    a = int(rng.integers(total // 3 + 1, max(total // 3 + 2, total))) | 1
    while math.gcd(a, total) != 1:
        a += 2
    return a, int(rng.integers(0, total))


def _practice_name(i: int, place: str) -> str:
    kind = PRACTICE_KINDS[i % len(PRACTICE_KINDS)]
    street = STREETS[(i * 5) % len(STREETS)]
    if i % 9 == 4:
        return f"The Surgery, {street}, {place}"  # a comma: quoted in CSV
    return f"{town_name(i * 3 + 11)} {kind}"


def _providers(counts: dict[str, int], place_names: list[str]) -> dict:
    """The ICB data service, trusts, hospices, community providers and SPoC hosts."""

    def place_of(i: int, n: int) -> str:
        return place_names[min(len(place_names) - 1, i * len(place_names) // n)]

    n = counts["trusts"]
    trusts = [
        Provider(
            code=numbered("RZ", i, n),
            name=f"{place_of(i, n)} {'University Hospitals' if i % 2 else 'Hospitals'} NHS Foundation Trust",
            kind="trust",
            extracts=TRUST_EXTRACTS,
            spaced_nhs_numbers=(i == 1),
            file_format="parquet" if i == 2 else "csv",
        )
        for i in range(n)
    ]
    n = counts["hospices"]
    hospices = [
        Provider(
            code=numbered("NH", i, n),
            name=f"{HOSPICE_WORDS[i % len(HOSPICE_WORDS)]} Hospice, {place_of(i, n)}",
            kind="hospice",
            extracts=HOSPICE_EXTRACTS,
            file_format="parquet" if i == 0 else "csv",
        )
        for i in range(n)
    ]
    n = counts["childrens_hospices"]
    childrens = [
        Provider(
            code=numbered("NC", i, n),
            name=f"{HOSPICE_WORDS[(i + 5) % len(HOSPICE_WORDS)]} Children's Hospice, {place_of(i, n)}",
            kind="childrens_hospice",
            extracts=HOSPICE_EXTRACTS,
        )
        for i in range(n)
    ]
    n = counts["community"]
    community = [
        Provider(
            code=numbered("RY", i, n),
            name=f"{place_of(i, n)} Community Health Services",
            kind="community",
            extracts=COMMUNITY_EXTRACTS,
        )
        for i in range(n)
    ]
    n = counts["spoc"]
    spoc = [
        Provider(
            code=numbered("SPC", i, n),
            name=f"{place_of(i, n)} Palliative Care Coordination Centre (24/7 single point of contact)",
            kind="spoc",
            extracts=SPOC_EXTRACTS,
        )
        for i in range(n)
    ]
    icb = Provider(
        code=ICS_CODE, name=f"{place_names[0]} ICB data service", kind="icb", extracts=ICB_EXTRACTS
    )
    return {
        "icb": icb,
        "trusts": trusts,
        "hospices": hospices,
        "childrens_hospices": childrens,
        "community": community,
        "spoc_hosts": spoc,
    }


# --- the config file ---------------------------------------------------------------------


def config_text(layout: Layout, header: str, *, national: bool = False) -> str:
    """The ICS config (config.md) naming every provider and the extracts it sends.

    `national`: the national-source extracts arrive in their built-in layouts (each
    provider's `layouts:`), the ICB also sends ref_lsoa_2011, and person keys are the data
    service's pseudonyms (`person_key: pseudonymised` with its `domain`; config.md v3).
    """
    providers = []
    for p in layout.providers():
        extracts = list(p.extracts)
        entry: dict = {"code": p.code, "name": p.name, "extracts": extracts}
        if national:
            if p is layout.icb:
                extracts += [e for e in ICB_NATIONAL_EXTRACTS if e not in extracts]
            layouts = {e: NATIONAL_LAYOUTS[e] for e in extracts if e in NATIONAL_LAYOUTS}
            if layouts:
                entry["layouts"] = layouts
        providers.append(entry)
    pseudonymisation = {"key_env": "DIEWELL_PSEUDO_KEY", "key_file": "pseudo.key"}
    if national:
        pseudonymisation |= {"person_key": "pseudonymised", "domain": PSEUDONYM_DOMAIN}
    config = {
        "ics": {"code": ICS_CODE, "name": layout.ics_name},
        "paths": {
            "landing": "landing",
            "warehouse": "warehouse/diewell.duckdb",
            "outputs": "outputs",
        },
        "providers": providers,
        "pseudonymisation": pseudonymisation,
    }
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)
    return f"# {header}\n{body}"
