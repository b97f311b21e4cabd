"""SP05 (IPOS improved between first and last assessment) in every reporting period, worked
out person by person from its definition (warehouse/indicators/SP05.sql's header) in plain
Python, against the indicator's SQL run on hand-made tables: several periods that overlap,
people assessed before, inside and after a period, several assessments on one day, and
totals missing.

The definition, for one period: a person's IPOS totals on or before the period end; first =
the earliest (by date, then assessment id), last = the latest; in the cohort if the last is
in the period and at least 1 day after the first; improved if the last total is lower."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import duckdb
import pytest

from diewell.warehouse.indicators import compute as indicators

PERIODS = [  # (period_type, start, end): rolling 12 months, quarters, overlapping
    ("rolling_12m", dt.date(2023, 1, 1), dt.date(2023, 12, 31)),
    ("rolling_12m", dt.date(2023, 7, 1), dt.date(2024, 6, 30)),
    ("rolling_12m", dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
    ("quarter", dt.date(2024, 4, 1), dt.date(2024, 6, 30)),
    ("quarter", dt.date(2024, 10, 1), dt.date(2024, 12, 31)),
]
PRACTICES = ["A81001", "A81002", "A81003"]


def _assessments(seed: int) -> list[tuple[str, str, dt.date, int | None]]:
    """(person_id, assessment_id, assessment_date, ipos_total), unique assessment ids."""
    rng = random.Random(seed)
    rows, n = [], 0
    for person in range(60):
        days = [rng.randrange(0, 800) for _ in range(rng.randrange(1, 7))]
        if rng.random() < 0.3 and days:
            days += [days[0]] * rng.randrange(1, 3)  # several on one day
        for day in days:
            n += 1
            total = None if rng.random() < 0.1 else rng.randrange(0, 60)
            date = dt.date(2022, 11, 1) + dt.timedelta(days=day)
            rows.append((f"P{person:03d}", f"A{rng.randrange(10**6):06d}-{n}", date, total))
    return rows


def _by_definition(rows) -> Counter:
    """(period_type, period_end, practice, numerator) -> people, from the definition."""
    counts: Counter = Counter()
    people = {r[0] for r in rows}
    for period_type, start, end in PERIODS:
        for person in people:
            scored = sorted(
                (date, aid, total)
                for p, aid, date, total in rows
                if p == person and total is not None and date <= end
            )
            if not scored:
                continue
            (first_date, _, first), (last_date, _, last) = scored[0], scored[-1]
            if last_date >= start and (last_date - first_date).days >= 1:
                practice = PRACTICES[int(person[1:]) % len(PRACTICES)]
                counts[(period_type, end, practice, int(last < first))] += 1
    return counts


def _by_sql(rows) -> Counter:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE core_outcome_assessments (person_id VARCHAR, assessment_id VARCHAR, "
        "assessment_date DATE, ipos_total INTEGER)"
    )
    con.executemany("INSERT INTO core_outcome_assessments VALUES (?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE mart_periods (period_type VARCHAR, period_start DATE, period_end DATE)"
    )
    con.executemany("INSERT INTO mart_periods VALUES (?, ?, ?)", PERIODS)
    con.execute(
        "CREATE TABLE mart_person_geography (person_id VARCHAR, place_code VARCHAR, "
        "pcn_code VARCHAR, practice_code VARCHAR)"
    )
    con.executemany(
        "INSERT INTO mart_person_geography VALUES (?, 'P1', 'U1', ?)",
        [(f"P{i:03d}", PRACTICES[i % len(PRACTICES)]) for i in range(60)],
    )
    sql = next(i for i in indicators.catalogue() if i.id == "SP05").sql
    got = con.execute(
        f"SELECT period_type, period_end, practice_code, numerator, count(*) FROM ({sql}) "
        "GROUP BY ALL"
    ).fetchall()
    denominators = con.execute(f"SELECT DISTINCT denominator FROM ({sql})").fetchall()
    assert denominators in ([(1,)], [])
    con.close()
    return Counter({(t, e, p, n): c for t, e, p, n, c in got})


@pytest.mark.parametrize("seed", range(1, 9))
def test_sp05_gives_its_definition_in_every_period(seed):
    rows = _assessments(seed)
    expected = _by_definition(rows)
    # the fixture reaches every case: people in and out of each period, improved and not
    assert {key[1] for key in expected} == {end for _, _, end in PERIODS}
    assert {key[3] for key in expected} == {0, 1}
    assert sum(expected.values()) > 60
    assert _by_sql(rows) == expected
