"""The last year of life of each decedent: the terminal admission of hospital deaths,
emergency and planned admissions, A&E, the palliative care register entry, specialist
palliative care (hospital team, hospice, community SPC), district nursing and SPoC calls.

Every date is on or before the date of death. Deaths up to a year after the window are
included: their care before the window end is delivered, their deaths are not.
"""

from __future__ import annotations

import numpy as np

from diewell.synth import parameters as P
from diewell.synth.activity import (
    AE_HOURS,
    Ids,
    Services,
    ae_before,
    attendance_rows,
    call_rows,
    community_rows,
    spell_rows,
)
from diewell.synth.events import (
    NO_DATE,
    Table,
    concat,
    expand,
    late_day,
    negative_binomial,
    pick,
    rank_within,
    seconds,
    uniform_day,
)
from diewell.synth.layout import Window
from diewell.synth.palliative_care import (
    care_episodes,
    contact_runs,
    hospice_contacts,
    hospice_episode,
    one_episode_per_provider,
    referral_rows,
    register_fields,
)
from diewell.synth.people import GROUP_INDEX, Deaths, People


def end_of_life(
    people: People,
    deaths: Deaths,
    window: Window,
    svc: Services,
    rng: np.random.Generator,
    ids: Ids,
) -> dict[str, Table]:
    """Every decedent's last year: hospital use, register entry, SPC, community and SPoC."""
    in_hospital = deaths.place_is("hospital")
    terminal = _terminal_spells(people, deaths, rng)
    terminal_admission = deaths.dod.copy()
    terminal_admission[in_hospital] = terminal["admission"]
    emergency = _end_of_life_emergencies(people, deaths, terminal_admission, rng)
    elective = _end_of_life_electives(people, deaths, rng)
    register = _register_entries(people, deaths, window, rng)
    on_register = np.zeros(len(deaths), dtype=bool)
    before = register["added"] < deaths.dod[register["decedent"]]
    on_register[register["decedent"][before]] = True
    spc = _specialist_care(people, deaths, on_register, terminal, svc, rng, ids)
    spells = concat([terminal, emergency, elective])
    ae = concat([ae_before(spells, rng), _end_of_life_ae(people, deaths, rng)])
    community = concat([spc["community"], _district_nursing(people, deaths, svc, rng)])
    calls = _end_of_life_calls(people, deaths, svc, rng)
    register.pop("decedent")
    return {
        "apc": spells,
        "ae": ae,
        "community": community,
        "calls": calls,
        "referrals": spc["referrals"],
        "contacts": spc["contacts"],
        "episodes": spc["episodes"],
        "register": register,
    }


def _terminal_spells(people: People, deaths: Deaths, rng: np.random.Generator) -> Table:
    """The spell ending on the date of death (discharge destination 79) of hospital deaths."""
    rows = np.flatnonzero(deaths.place_is("hospital"))
    who, dod = deaths.person[rows], deaths.dod[rows]
    n = len(rows)
    stay = np.where(
        rng.random(n) < P.TERMINAL_SAME_DAY_SHARE,
        0,
        np.maximum(1, np.round(rng.lognormal(np.log(P.TERMINAL_STAY_MEDIAN_DAYS), 0.8, n))),
    ).astype(np.int64)
    stay = np.minimum(stay, 180)
    infant = deaths.group[rows] == GROUP_INDEX["infant"]
    born_here = infant & ((dod - people.dob[who]) < 28)
    stay = np.where(born_here, dod - people.dob[who], stay)
    method = np.where(
        rng.random(n) < P.TERMINAL_EMERGENCY_SHARE,
        pick(rng, P.EMERGENCY_METHOD_SHARES, n),
        pick(rng, {"11": 0.3, "81": 0.7}, n),
    )
    method = np.where(born_here, "82", method).astype(object)
    return Table(
        person=who,
        trust=people.trust[who],
        admission=np.maximum(dod - stay, people.dob[who]),
        discharge=dod,
        method=method,
        destination=np.full(n, P.DIED_DESTINATION, dtype=object),
        diagnosis=deaths.cause[rows],
        spc=np.full(n, "N", dtype=object),
        terminal=np.ones(n, dtype=bool),
    )


def _end_of_life_emergencies(
    people: People, deaths: Deaths, terminal_admission: np.ndarray, rng: np.random.Generator
) -> Table:
    """Emergency admissions in the last 90 days (more near death) and earlier in the last year."""
    group_names = list(GROUP_INDEX)
    mean = np.array([P.EOL_EMERGENCY_MEAN_90D[group_names[g]] for g in deaths.group])
    in_hospital = deaths.place_is("hospital")
    mean_90 = np.where(in_hospital, mean * P.EOL_EMERGENCY_MEAN_HOSPITAL_DEATH_FACTOR, mean)
    first = deaths.dod - 90
    last = np.where(in_hospital, terminal_admission, deaths.dod) - 1
    count = np.where(last >= first, negative_binomial(rng, mean_90, P.EOL_EMERGENCY_DISPERSION), 0)
    rows = expand(count)
    recent = late_day(rng, first[rows], last[rows], 0.6)
    # Earlier in the last year: the same relative risk by group around a mean of 0.5.
    earlier_mean = P.EOL_EMERGENCY_MEAN_91_365D * mean / 0.5
    born = people.dob[deaths.person]
    count = np.where(
        deaths.dod - 365 > born, negative_binomial(rng, earlier_mean, P.EOL_EMERGENCY_DISPERSION), 0
    )
    rows_earlier = expand(count)
    earlier = uniform_day(rng, deaths.dod[rows_earlier] - 365, deaths.dod[rows_earlier] - 91)
    rows = np.concatenate([rows, rows_earlier])
    admission = np.concatenate([recent, earlier])
    spells = spell_rows(people, deaths.person[rows], admission, "emergency", rng)
    # Stays end before death (a discharge on the day of death would be a hospital death).
    spells["discharge"] = np.minimum(spells["discharge"], deaths.dod[rows] - 1)
    spells["discharge"] = np.maximum(spells["discharge"], spells["admission"])
    own_cause = rng.random(len(rows)) < 0.5
    spells["diagnosis"] = np.where(own_cause, deaths.cause[rows], spells["diagnosis"])
    return spells


def _end_of_life_electives(people: People, deaths: Deaths, rng: np.random.Generator) -> Table:
    """Planned admissions in the last year (for cancer: chemotherapy and radiotherapy)."""
    cancer = deaths.group_is("cancer")
    mean = np.where(
        cancer, P.EOL_ELECTIVE_MEAN_365D["cancer"], P.EOL_ELECTIVE_MEAN_365D["other_groups"]
    )
    mean = np.where(deaths.age < 1, 0.0, mean)
    rows = expand(rng.poisson(mean))
    admission = uniform_day(rng, deaths.dod[rows] - 365, deaths.dod[rows] - 14)
    spells = spell_rows(people, deaths.person[rows], admission, "elective", rng)
    spells["discharge"] = np.minimum(spells["discharge"], deaths.dod[rows] - 1)
    spells["diagnosis"] = np.where(cancer[rows], "Z51.1", spells["diagnosis"]).astype(object)
    return spells


def _end_of_life_ae(people: People, deaths: Deaths, rng: np.random.Generator) -> Table:
    """A&E attendances without admission in the last year, more in the last 90 days."""
    adults = deaths.age >= 1
    recent = expand(rng.poisson(np.where(adults, P.EOL_AE_WITHOUT_ADMISSION_MEAN_90D, 0)))
    earlier = expand(rng.poisson(np.where(adults, P.EOL_AE_WITHOUT_ADMISSION_MEAN_91_365D, 0)))
    day = np.concatenate([
        uniform_day(rng, deaths.dod[recent] - 90, deaths.dod[recent] - 1),
        uniform_day(rng, deaths.dod[earlier] - 365, deaths.dod[earlier] - 91),
    ])  # fmt: skip
    rows = np.concatenate([recent, earlier])
    return attendance_rows(people, deaths.person[rows], seconds(rng, day, AE_HOURS), rng)


def _register_entries(
    people: People, deaths: Deaths, window: Window, rng: np.random.Generator
) -> Table:
    """Palliative care register entries of decedents (ID01-ID03, CP01-CP05 targets)."""
    group_names = list(GROUP_INDEX)
    share = np.array([P.REGISTER_SHARE_BY_GROUP[group_names[g]] for g in deaths.group])
    quintile = people.quintile[deaths.person]
    share = share * np.array(P.REGISTER_ODDS_BY_QUINTILE)[quintile - 1]
    share = np.where(deaths.age < 18, share * P.REGISTER_CHILD_FACTOR, share)
    rows = np.flatnonzero(rng.random(len(deaths)) < share)
    n = len(rows)
    dod = deaths.dod[rows]
    u = rng.random(n)
    early = 91 + np.round(
        rng.lognormal(np.log(P.REGISTER_EARLY_MEDIAN_EXTRA_DAYS), P.REGISTER_EARLY_SIGMA, n)
    )
    late = 1 + np.floor(90 * rng.beta(*P.REGISTER_LATE_BETA, n))
    after = -rng.integers(0, 15, n)
    days_before = np.where(
        u < P.REGISTER_AFTER_DEATH_SHARE,
        after,
        np.where(
            u < P.REGISTER_AFTER_DEATH_SHARE + P.REGISTER_EARLY_SHARE,
            np.minimum(early, 15 * 365),
            late,
        ),
    ).astype(np.int64)
    added = dod - days_before
    keep = added <= window.end
    rows, dod, added = rows[keep], dod[keep], added[keep]
    table = register_fields(rng, added, np.maximum(dod - 1, added), len(rows))
    preferred = _preferred_places(deaths.place[rows], rng)
    table["preferred"] = np.where(table["preferred"] == "?", preferred, table["preferred"]).astype(
        object
    )
    table["person"] = deaths.person[rows]
    table["decedent"] = rows
    return table


def _preferred_places(place_of_death: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Preferred place: where the person died for ~70%, else another place people prefer."""
    places = np.array(P.PLACES_OF_DEATH, dtype=object)
    n = len(place_of_death)
    other = pick(rng, P.PREFERRED_PLACE_SHARES, n)
    same = places[place_of_death] == other
    other = np.where(
        same,
        pick(rng, {k: v for k, v in P.PREFERRED_PLACE_SHARES.items() if k != "home"}, n),
        other,
    )
    clash = places[place_of_death] == other
    other = np.where(clash, "home", other)
    return np.where(
        rng.random(n) < P.DIED_IN_PREFERRED_PLACE_SHARE, places[place_of_death], other
    ).astype(object)


def _specialist_care(
    people: People, deaths: Deaths, on_register: np.ndarray, terminal: Table, svc: Services,
    rng: np.random.Generator, ids: Ids,
) -> dict[str, Table]:  # fmt: skip
    """Specialist palliative care in the last year (SP01/SP02 targets): hospice referrals and
    contacts, community SPC contacts, hospital SPC on the terminal spell, outcome episodes."""
    n = len(deaths)
    group_names = list(GROUP_INDEX)
    share = np.array(
        [
            P.SPC_SHARE[group_names[g]][0 if r else 1]
            for g, r in zip(deaths.group, on_register, strict=True)
        ]
    )
    in_hospice = deaths.place_is("hospice")
    hospice_record = in_hospice & (rng.random(n) >= P.HOSPICE_DEATH_WITHOUT_CONTACT_SHARE)
    has_spc = ((rng.random(n) < share) & ~in_hospice) | hospice_record
    late = rng.random(n) < P.SPC_LATE_SHARE
    lead = np.where(
        late,
        rng.integers(0, 15, n),
        15 + np.minimum(rng.exponential(P.SPC_EARLY_MEAN_EXTRA_DAYS, n), 350).astype(np.int64),
    )
    lead = np.minimum(lead, deaths.dod - people.dob[deaths.person])  # not before birth
    stay = np.minimum(rng.geometric(1 / P.HOSPICE_STAY_MEAN_DAYS, n), 60)
    stay = np.minimum(stay, deaths.dod - people.dob[deaths.person])
    lead = np.where(hospice_record, np.maximum(lead, stay), lead)

    in_hospital = deaths.place_is("hospital")
    hospital_team = has_spc & in_hospital & (rng.random(n) < P.SPC_HOSPITAL_TEAM_SHARE)
    terminal_rows = np.flatnonzero(in_hospital)
    terminal["spc"][hospital_team[terminal_rows]] = "Y"
    child = deaths.age < 18
    by_hospice = (
        has_spc
        & ~hospital_team
        & (hospice_record | child | (rng.random(n) < P.SPC_HOSPICE_MODALITY))
    )
    by_community = has_spc & ~hospital_team & ~by_hospice
    second = has_spc & ~hospital_team & ~child & (rng.random(n) < P.SPC_SECOND_SERVICE_SHARE)
    second_lead = np.floor(rng.random(n) * lead).astype(np.int64)

    hospice_provider = np.where(
        child, svc.childrens_hospice[deaths.person], svc.hospice[deaths.person]
    )
    # Hospice: a community-type episode from the first contact, then the IPU stay for hospice deaths.
    community_type = by_hospice & ~(hospice_record & (lead <= stay))
    hospice_second = second & by_community
    starts = np.concatenate([
        np.flatnonzero(community_type), np.flatnonzero(hospice_second)
    ])  # fmt: skip
    first_contact = np.concatenate([
        deaths.dod[community_type] - lead[community_type],
        deaths.dod[hospice_second] - second_lead[hospice_second],
    ])  # fmt: skip
    episode_end = np.where(
        hospice_record[starts], deaths.dod[starts] - stay[starts] - 1, deaths.dod[starts]
    )
    episode_end = np.maximum(episode_end, first_contact)
    services = pick(
        rng, {k: v for k, v in P.HOSPICE_SERVICES.items() if k != "inpatient_unit"}, len(starts)
    )
    services = np.where(child[starts], "childrens", services).astype(object)
    ref_a, con_a = hospice_episode(
        people, deaths.person[starts], hospice_provider[starts], first_contact, episode_end,
        deaths.dod[starts], services, rng, ids,
    )  # fmt: skip
    ipu = np.flatnonzero(hospice_record)
    ref_b, con_b = _inpatient_stays(
        people, deaths, ipu, hospice_provider[ipu], stay[ipu], child[ipu], rng, ids
    )
    unseen = deaths.need & ~has_spc & (rng.random(n) < P.NEVER_SEEN_REFERRAL_SHARE)
    ref_c = _never_seen_referrals(
        people, deaths, np.flatnonzero(unseen), hospice_provider, rng, ids
    )

    community_first = np.flatnonzero(by_community)
    community_second = np.flatnonzero(second & by_hospice & ~child & ~hospice_record)
    c_rows = np.concatenate([community_first, community_second])
    c_start = np.concatenate([
        deaths.dod[community_first] - lead[community_first],
        deaths.dod[community_second] - second_lead[community_second],
    ])  # fmt: skip
    community = contact_runs(deaths.person[c_rows], c_start, deaths.dod[c_rows], 6.0, rng)
    community = community_rows(
        people, community["person"], community["day"],
        np.full(len(community["day"]), "community_palliative_care", dtype=object), svc, rng, face_to_face=0.7,
    )  # fmt: skip

    hospice_people = np.concatenate([starts, ipu])
    hospice_first = np.concatenate([first_contact, deaths.dod[ipu] - stay[ipu]])
    episodes = concat([
        care_episodes(deaths.person[hospice_people], svc.hospice_codes[hospice_provider[hospice_people]],
                  hospice_first, deaths.dod[hospice_people], dying=True),
        care_episodes(deaths.person[c_rows], svc.community_codes[svc.community[deaths.person[c_rows]]],
                  c_start, deaths.dod[c_rows], dying=True),
    ])  # fmt: skip
    episodes = one_episode_per_provider(episodes)
    return {
        "referrals": concat([ref_a, ref_b, ref_c]),
        "contacts": concat([con_a, con_b]),
        "community": community,
        "episodes": episodes,
    }


def _inpatient_stays(
    people: People, deaths: Deaths, rows: np.ndarray, hospice: np.ndarray, stay: np.ndarray,
    child: np.ndarray, rng: np.random.Generator, ids: Ids,
) -> tuple[Table, Table]:  # fmt: skip
    """Hospice deaths: an inpatient unit referral and a contact every day of the stay."""
    who, dod = deaths.person[rows], deaths.dod[rows]
    admitted = dod - stay
    service = np.where(child, "childrens", "inpatient_unit").astype(object)
    lag = np.where(rng.random(len(rows)) < 0.8, 0, 1)
    refs = referral_rows(
        people,
        who,
        hospice,
        np.maximum(admitted - lag, people.dob[who]),
        admitted,
        dod,
        service,
        rng,
        ids,
    )
    row = expand(stay + 1)
    day = admitted[row] + rank_within(row)
    contacts = hospice_contacts(
        who[row],
        hospice[row],
        refs["ref"][row],
        day,
        np.full(len(row), "inpatient_unit", dtype=object),
        rng,
    )
    return refs, contacts


def _never_seen_referrals(
    people: People,
    deaths: Deaths,
    rows: np.ndarray,
    hospice: np.ndarray,
    rng: np.random.Generator,
    ids: Ids,
) -> Table:
    """Referrals of people who died before the hospice saw them (first_contact_date empty)."""
    who, dod = deaths.person[rows], deaths.dod[rows]
    referral = np.maximum(dod - rng.integers(0, 11, len(rows)), people.dob[who])
    service = pick(
        rng, {k: v for k, v in P.HOSPICE_SERVICES.items() if k != "inpatient_unit"}, len(rows)
    )
    service = np.where(deaths.age[rows] < 18, "childrens", service).astype(object)
    return referral_rows(
        people, who, hospice[rows], referral, np.full(len(rows), NO_DATE), dod, service, rng, ids
    )


def _district_nursing(
    people: People, deaths: Deaths, svc: Services, rng: np.random.Generator
) -> Table:
    """District nursing visits in the last 30 days, many for people dying at home."""
    mean = np.where(
        deaths.place_is("home"),
        P.EOL_DISTRICT_NURSING_MEAN_30D["home"],
        np.where(
            deaths.place_is("care_home"),
            P.EOL_DISTRICT_NURSING_MEAN_30D["care_home"],
            P.EOL_DISTRICT_NURSING_MEAN_30D["other_places"],
        ),
    )
    mean = np.where(deaths.age < 18, 0.0, mean)
    rows = expand(rng.poisson(mean))
    day = uniform_day(rng, deaths.dod[rows] - 30, deaths.dod[rows])
    return community_rows(
        people,
        deaths.person[rows],
        day,
        np.full(len(rows), "district_nursing", dtype=object),
        svc,
        rng,
        0.92,
    )


def _end_of_life_calls(
    people: People, deaths: Deaths, svc: Services, rng: np.random.Generator
) -> Table:
    """SPoC calls about people in their last weeks (most of the line's calls)."""
    outside_hospital = ~deaths.place_is("hospital")
    share = np.where(
        deaths.need & outside_hospital,
        P.EOL_SPOC_CALLER_SHARE["need_dying_outside_hospital"],
        P.EOL_SPOC_CALLER_SHARE["others"],
    )
    callers = rng.random(len(deaths)) < share
    count = np.where(callers, 1 + rng.poisson(P.EOL_SPOC_EXTRA_CALLS_MEAN, len(deaths)), 0)
    rows = expand(count)
    before = np.minimum(
        np.floor(rng.exponential(P.EOL_SPOC_DAYS_BEFORE_DEATH_MEAN, len(rows))), 60
    ).astype(np.int64)
    day = np.maximum(deaths.dod[rows] - before, people.dob[deaths.person[rows]])
    return call_rows(people, deaths.person[rows], day, svc, rng)
