"""Specialist palliative care building blocks (hospice referrals and contacts, runs of
contacts, outcome assessment episodes and PCOC/IPOS assessments, register fields), and the
palliative care of people who do not die in the window: hospice and community SPC caseloads
discharged alive, children with life-limiting conditions, and living people on registers.
"""

from __future__ import annotations

import numpy as np

from diewell.synth import parameters as P
from diewell.synth.activity import Ids, Services, community_rows, relative_rate
from diewell.synth.events import NO_DATE, Table, concat, expand, pick, rank_within, uniform_day
from diewell.synth.layout import Window
from diewell.synth.people import NO_DEATH, People

UNSTABLE = 1
DETERIORATING = 2
DYING = 3


def register_fields(
    rng: np.random.Generator, added: np.ndarray, latest: np.ndarray, n: int
) -> Table:
    """Register fields for entries added on `added`, recorded no later than `latest`."""

    def recorded_date(share: float) -> np.ndarray:
        has = rng.random(n) < share
        before = rng.random(n) < P.RECORD_BEFORE_ADDED_SHARE
        day = np.where(before, added - rng.integers(1, 61, n), uniform_day(rng, added, latest))
        return np.where(has, day, NO_DATE)

    preferred_recorded = rng.random(n) < P.PREFERRED_PLACE_RECORDED_SHARE
    not_stated = rng.random(n) < P.PREFERRED_PLACE_NOT_STATED_SHARE
    respect = recorded_date(P.RESPECT_SHARE)
    dnacpr_share = np.where(
        respect != NO_DATE, P.DNACPR_SHARE_WITH_RESPECT, P.DNACPR_SHARE_WITHOUT_RESPECT
    )
    dnacpr = np.where(
        rng.random(n) < dnacpr_share, np.maximum(respect, uniform_day(rng, added, latest)), NO_DATE
    )
    return Table(
        added=added,
        tool=pick(rng, P.IDENTIFICATION_TOOL_SHARES, n),
        preferred=np.where(preferred_recorded, np.where(not_stated, "not_stated", "?"), "").astype(
            object
        ),
        preferred_date=np.where(preferred_recorded, uniform_day(rng, added, latest), NO_DATE),
        care_plan=recorded_date(P.CARE_PLAN_SHARE),
        respect=respect,
        dnacpr=dnacpr,
        what_matters=recorded_date(P.WHAT_MATTERS_SHARE),
        ethnic=pick(rng, P.ETHNIC_CATEGORY_SHARES, n),
    )


def contact_runs(
    who: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    days_per_contact: float,
    rng: np.random.Generator,
) -> Table:
    """Contacts from `first` to `last`: one on the first day, the rest spread over the run."""
    span = np.minimum(last - first, 120)
    count = 1 + rng.poisson(span / days_per_contact)
    row = expand(count)
    is_first = rank_within(row) == 0
    day = np.where(is_first, first[row], uniform_day(rng, first[row], last[row]))
    return Table(person=who[row], day=day, parent=row)


def referral_rows(
    people: People, who: np.ndarray, hospice: np.ndarray, referral: np.ndarray, first_contact: np.ndarray,
    discharge: np.ndarray, service: np.ndarray, rng: np.random.Generator, ids: Ids,
) -> Table:  # fmt: skip
    n = len(who)
    childrens = service == "childrens"
    return Table(
        ref=ids.take(n),
        person=who,
        hospice=hospice,
        referral=referral,
        first_contact=first_contact,
        discharge=discharge,
        source=pick(rng, P.HOSPICE_REFERRAL_SOURCES, n),
        service=service,
        with_dob=childrens | (rng.random(n) < 0.3),
        transition_plan=np.full(n, NO_DATE, dtype=np.int64),
    )


def referral_lag(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days from referral to first contact (SP03: ~75% within one day)."""
    u = rng.random(n)
    long = 2 + rng.geometric(1 / P.HOSPICE_REFERRAL_LAG_MEAN_LONG, n) - 1
    return np.where(
        u < P.HOSPICE_REFERRAL_LAG[0],
        0,
        np.where(u < sum(P.HOSPICE_REFERRAL_LAG.values()), 1, long),
    )


def hospice_episode(
    people: People, who: np.ndarray, hospice: np.ndarray, first_contact: np.ndarray, last: np.ndarray,
    discharge: np.ndarray, service: np.ndarray, rng: np.random.Generator, ids: Ids,
) -> tuple[Table, Table]:  # fmt: skip
    """A hospice referral with its contacts from the first contact to `last`."""
    referral = first_contact - referral_lag(rng, len(who))
    referral = np.maximum(referral, people.dob[who])
    refs = referral_rows(
        people, who, hospice, referral, first_contact, discharge, service, rng, ids
    )
    runs = contact_runs(who, first_contact, last, P.SPC_CONTACT_DAYS_PER_CONTACT, rng)
    row = runs["parent"]
    contacts = hospice_contacts(
        runs["person"], hospice[row], refs["ref"][row], runs["day"], service[row], rng
    )
    return refs, contacts


def hospice_contacts(
    who: np.ndarray,
    hospice: np.ndarray,
    ref: np.ndarray,
    day: np.ndarray,
    service: np.ndarray,
    rng: np.random.Generator,
) -> Table:
    n = len(who)
    setting = np.empty(n, dtype=object)
    for name, shares in P.SETTINGS_BY_SERVICE.items():
        rows = np.flatnonzero(service == name)
        setting[rows] = pick(rng, shares, len(rows))
    return Table(
        person=who,
        hospice=hospice,
        ref=ref,
        day=day,
        setting=setting,
        out_of_hours=np.where(rng.random(n) < P.HOSPICE_CONTACT_OUT_OF_HOURS, "Y", "N").astype(
            object
        ),
    )


# --- outcome assessments ---------------------------------------------------------------


def care_episodes(
    who: np.ndarray, provider: np.ndarray, first: np.ndarray, last: np.ndarray, dying: bool
) -> Table:
    return Table(
        person=who,
        provider=provider,
        first=first,
        last=np.maximum(last, first),
        dying=np.full(len(who), dying),
    )


def one_episode_per_provider(episodes: Table) -> Table:
    """Merge a person's episodes at one provider into one (first to last day)."""
    if not len(episodes):
        return episodes
    key = np.array(
        [f"{p}|{c}" for p, c in zip(episodes["person"], episodes["provider"], strict=True)]
    )
    _, first_row, inverse = np.unique(key, return_index=True, return_inverse=True)
    first = np.full(len(first_row), np.iinfo(np.int64).max)
    last = np.full(len(first_row), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, episodes["first"])
    np.maximum.at(last, inverse, episodes["last"])
    order = np.argsort(first_row, kind="stable")
    merged = episodes.take(first_row[order])
    merged["first"], merged["last"] = first[order], last[order]
    return merged


def assessments(episodes: Table, rng: np.random.Generator) -> Table:
    """PCOC phase, AKPS and IPOS assessments through each episode of care (SP04/SP05 targets).

    Phases follow a Markov chain in which an unstable phase never follows itself and most
    unstable phases end within 3 days; assessments in a dying person's last 3 days are `dying`.
    IPOS improves from first to last for about IPOS_IMPROVES_SHARE of episodes.
    """
    n = len(episodes)
    if n == 0:
        return Table()
    first, last, dying = episodes["first"], episodes["last"], episodes["dying"]
    target = np.clip(
        1 + rng.poisson((last - first) / P.ASSESSMENT_DAYS_APART), 1, P.MAX_ASSESSMENTS
    )
    mean_gap = np.maximum(1.0, (last - first) / target)
    transitions = np.cumsum(np.array(P.PHASE_TRANSITIONS), axis=1)
    phase = rng.choice(4, n, p=np.array(P.FIRST_PHASE_SHARES) / sum(P.FIRST_PHASE_SHARES))
    day = first.copy()
    out_episode, out_day, out_phase, out_step = [], [], [], []
    for step in range(P.MAX_ASSESSMENTS):
        phase = np.where(dying & (day >= last - 2), DYING, phase)
        active = np.flatnonzero((step < target) & (day <= last))
        if active.size == 0:
            break
        out_episode.append(active)
        out_day.append(day[active])
        out_phase.append(phase[active])
        out_step.append(np.full(active.size, step))
        quick = rng.random(n) < P.UNSTABLE_RESOLVED_IN_3_DAYS
        unstable_gap = np.where(quick, rng.integers(1, 4, n), rng.integers(4, 11, n))
        other_gap = 1 + np.floor(rng.exponential(mean_gap - 0.5)).astype(np.int64)
        day = day + np.where(phase == UNSTABLE, unstable_gap, other_gap)
        phase = np.minimum((rng.random(n)[:, None] > transitions[phase]).sum(axis=1), 3)
    episode = np.concatenate(out_episode)
    order = np.lexsort((np.concatenate(out_step), episode))
    episode = episode[order]
    phase = np.concatenate(out_phase)[order]
    # People discharged alive are not in the dying phase.
    phase = np.where(~dying[episode] & (phase == DYING), DETERIORATING, phase)
    m = len(episode)
    return Table(
        person=episodes["person"][episode],
        provider=episodes["provider"][episode],
        day=np.concatenate(out_day)[order],
        phase=np.array(P.PHASES, dtype=object)[phase],
        akps=_akps(phase, rng),
        ipos=_ipos(episode, n, rng, m),
    )


def _akps(phase: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    akps = np.empty(len(phase), dtype=np.int64)
    for p, values in enumerate(P.AKPS_BY_PHASE):
        rows = np.flatnonzero(phase == p)
        akps[rows] = np.array(values)[rng.integers(0, len(values), len(rows))]
    return np.where(rng.random(len(phase)) < P.AKPS_MISSING_SHARE, -1, akps)


def _ipos(episode: np.ndarray, n_episodes: int, rng: np.random.Generator, m: int) -> np.ndarray:
    """IPOS totals drifting from a first to a last score (lower is better)."""
    first = np.clip(np.round(rng.normal(P.IPOS_FIRST_MEAN, P.IPOS_FIRST_SD, n_episodes)), 4, 60)
    improves = rng.random(n_episodes) < P.IPOS_IMPROVES_SHARE
    last = np.where(
        improves, first - rng.integers(2, 16, n_episodes), first + rng.integers(0, 10, n_episodes)
    )
    count = np.bincount(episode, minlength=n_episodes)
    step = rank_within(episode)
    fraction = step / np.maximum(count[episode] - 1, 1)
    value = first[episode] + (last[episode] - first[episode]) * fraction
    middle = (step > 0) & (step < count[episode] - 1)
    value = np.where(middle, value + rng.normal(0, 2.5, m), value)
    value = np.clip(np.round(value), 0, 68).astype(np.int64)
    missing = middle & (rng.random(m) < P.IPOS_MISSING_SHARE)
    return np.where(missing, -1, value)


# --- living people in palliative care --------------------------------------------------


def living_palliative_care(
    people: People, window: Window, svc: Services, rng: np.random.Generator, ids: Ids
) -> dict[str, Table]:
    """Hospice and community SPC caseloads of people who do not die in the window, and living
    people on palliative care registers."""
    alive = people.dod == NO_DEATH
    first = np.maximum(window.start - P.LEAD_IN_DAYS, people.dob)
    years = np.maximum(window.end - first + 1, 0) / 365.25
    age = people.age_at(first)
    weight = relative_rate(people, first, P.REGISTER_LIVING_AGE_WEIGHTS)
    adult_rate = np.where(alive & (age >= 18), P.LIVING_SPC_EPISODES_PER_ADULT_YEAR * weight, 0.0)
    child_rate = np.where(alive & (age < 18), P.LIVING_CHILDRENS_EPISODES_PER_CHILD_YEAR, 0.0)
    adults = expand(rng.poisson(adult_rate * years))
    children = expand(rng.poisson(child_rate * years))
    start = np.concatenate(
        [uniform_day(rng, first[adults], window.end), uniform_day(rng, first[children], window.end)]
    )
    who = np.concatenate([adults, children])
    is_child = np.concatenate([np.zeros(len(adults), bool), np.ones(len(children), bool)])
    length = np.where(
        is_child,
        90 + np.minimum(rng.exponential(180, len(who)), 630),
        14 + np.minimum(rng.exponential(60, len(who)), 170),
    ).astype(np.int64)
    end = start + length
    to_hospice = is_child | (rng.random(len(who)) < P.LIVING_HOSPICE_SHARE)
    unseen = to_hospice & (rng.random(len(who)) < P.LIVING_NEVER_SEEN_SHARE)

    h = np.flatnonzero(to_hospice & ~unseen)
    hospice = np.where(is_child, svc.childrens_hospice[who], svc.hospice[who])
    service = pick(
        rng, {k: v for k, v in P.HOSPICE_SERVICES.items() if k != "inpatient_unit"}, len(who)
    )
    service = np.where(is_child, "childrens", service).astype(object)
    first_contact = start[h] + referral_lag(rng, len(h))
    discharge = np.where(end[h] <= window.end, end[h], NO_DATE)
    refs = referral_rows(
        people, who[h], hospice[h], start[h], first_contact, discharge, service[h], rng, ids
    )
    days_per_contact = np.where(is_child[h], 14.0, 7.0)
    run_last = np.minimum(end[h], window.end)
    span = np.maximum(np.minimum(run_last - first_contact, 365), 0)
    row = expand(1 + rng.poisson(span / days_per_contact))
    is_first = rank_within(row) == 0
    day = np.where(
        is_first, first_contact[row], uniform_day(rng, first_contact[row], run_last[row])
    )
    contacts = hospice_contacts(
        who[h][row], hospice[h][row], refs["ref"][row], day, service[h][row], rng
    )
    keep = contacts["day"] <= window.end
    contacts = contacts.take(np.flatnonzero(keep))

    u = np.flatnonzero(unseen)
    unseen_refs = referral_rows(
        people, who[u], hospice[u], start[u], np.full(len(u), NO_DATE), start[u] + rng.integers(5, 31, len(u)),
        service[u], rng, ids,
    )  # fmt: skip
    unseen_refs["discharge"] = np.where(
        unseen_refs["discharge"] <= window.end, unseen_refs["discharge"], NO_DATE
    )

    c = np.flatnonzero(~to_hospice)
    c_last = np.minimum(end[c], window.end)
    runs = contact_runs(who[c], start[c], c_last, 7.0, rng)
    community = community_rows(
        people, runs["person"], runs["day"], np.full(len(runs["day"]), "community_palliative_care", dtype=object),
        svc, rng, face_to_face=0.7,
    )  # fmt: skip
    episodes = concat([
        care_episodes(who[h], svc.hospice_codes[hospice[h]], first_contact, run_last, dying=False),
        care_episodes(who[c], svc.community_codes[svc.community[who[c]]], start[c], c_last, dying=False),
    ])  # fmt: skip
    episodes = (
        episodes.take(np.flatnonzero(episodes["first"] <= window.end))
        if len(episodes)
        else episodes
    )
    return {
        "referrals": concat([refs, unseen_refs]),
        "contacts": contacts,
        "community": community,
        "episodes": one_episode_per_provider(episodes),
        "register": _living_register(people, window, rng),
    }


def _living_register(people: People, window: Window, rng: np.random.Generator) -> Table:
    """Living people on palliative care registers (with the dying: prevalence ~0.3-0.5%)."""
    alive = people.dod == NO_DEATH
    weight = relative_rate(people, np.full(len(people), window.end), P.REGISTER_LIVING_AGE_WEIGHTS)
    share = np.where(alive, P.REGISTER_LIVING_SHARE * weight, 0.0)
    who = np.flatnonzero(rng.random(len(people)) < share)
    earliest = np.maximum(
        window.start - int(P.REGISTER_LIVING_ADDED_YEARS_BEFORE_START * 365.25), people.dob[who] + 1
    )
    added = uniform_day(rng, earliest, np.full(len(who), window.end))
    latest = np.minimum(added + 365, window.end)
    table = register_fields(rng, added, latest, len(who))
    recorded = table["preferred"] == "?"
    table["preferred"] = np.where(
        recorded, pick(rng, P.PREFERRED_PLACE_SHARES, len(who)), table["preferred"]
    ).astype(object)
    table["person"] = who
    return table
