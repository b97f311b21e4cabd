"""The publication audit's rules on hand-worked tiny tables (no pipeline run).

Each published table is written out by hand as disclosure control should (or should not)
have left it, and set against the exact warehouse rows it came from.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import polars as pl
import pyarrow as pa
import pytest

from diewell.release import audit, audit_rules, control
from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.transforms import disclosure
from diewell.warehouse.indicators import schema as output_schema
from diewell.warehouse.indicators.schema import dtypes
from tests.integration.publication import release_helpers

PERIOD_END = dt.date(2024, 3, 31)
EXACT_SCHEMA = dtypes(
    "indicator_id",
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
    "breakdown_value",
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_99_8",
    "upper_99_8",
    "statistic",
    "polarity",
)
PUBLISHED_SCHEMA = {
    **EXACT_SCHEMA,
    "comparator_value": pl.Float64,
    "comparison": pl.String,
    "trend": pl.String,
    "suppressed": pl.Boolean,
}


Z = {"95": NormalDist().inv_cdf(0.975), "99_8": NormalDist().inv_cdf(0.999)}


def proportion_figures(x, n) -> list[float | None]:
    """100 x / n with its Wilson limits (95%, then 99.8%), as the spec writes them."""
    if x is None or not n:
        return [None] * 5
    out = [100 * x / n]
    for level in ("95", "99_8"):
        z = Z[level]
        spread = z * math.sqrt(z * z + 4 * x * (1 - x / n))
        lower = 0.0 if x == 0 else 100 * (2 * x + z * z - spread) / (2 * (n + z * z))
        upper = 100.0 if x == n else 100 * (2 * x + z * z + spread) / (2 * (n + z * z))
        out += [lower, upper]
    return out


def exact(breakdown, category, x, n, level="place", code="P1", indicator="PD01"):
    """One exact warehouse row: a proportion, with the value and limits of x/n."""
    statistic = "sii" if breakdown == "imd_sii" else "proportion"
    return dict(
        zip(
            EXACT_SCHEMA,
            [indicator, "rolling_12m", PERIOD_END, level, code, breakdown, category, x, n]
            + proportion_figures(x, n)
            + [statistic, "none"],
            strict=True,
        )
    )


def shown(row, x, n, comparator=None, comparison="not_compared", trend=None, **changes):
    """The row as published with counts x and n (already rounded): its value and limits
    worked out from x and n, one period so no trend can be calculated."""
    figures = dict(zip(disclosure.STATISTIC_COLUMNS, proportion_figures(x, n), strict=True))
    if row["statistic"] == "sii":
        figures = {c: row[c] for c in disclosure.STATISTIC_COLUMNS}
    elif trend is None:
        trend = "could_not_be_calculated"
    return {
        **row,
        **figures,
        "numerator": x,
        "denominator": n,
        "comparator_value": comparator,
        "comparison": comparison,
        "trend": trend,
        "suppressed": False,
        **changes,
    }


def hidden(row, comparator=None, **changes):
    """The exact row published as suppressed: no counts, value, limits or trend."""
    out = {**row, "comparator_value": comparator, "comparison": "not_compared", "trend": None}
    out.update({c: None for c in ("numerator", "denominator", *disclosure.STATISTIC_COLUMNS)})
    out.update(suppressed=True, **changes)
    return out


def problems(published_rows, exact_rows, threshold=7, multiple=5, not_people=()):
    published = pl.DataFrame(published_rows, schema=PUBLISHED_SCHEMA)
    warehouse = pl.DataFrame(exact_rows, schema=EXACT_SCHEMA)
    return audit_rules.disclosure_problems(
        published, warehouse, threshold, multiple, not_people=not_people
    )


def sex_table(male=(50, 100), female=(40, 120)):
    rows = [exact("sex", "male", *male), exact("sex", "female", *female)]
    total = (male[0] + female[0], male[1] + female[1])
    return rows, exact("all", "all", *total)


# --------------------------------------------------------------------------------------------
# Disclosure rules


def test_a_correct_publication_has_no_problems():
    (male, female), total = sex_table(male=(52, 101), female=(40, 118))
    published = [shown(male, 50, 100), shown(female, 40, 120), shown(total, 90, 220)]
    assert problems(published, [male, female, total]) == []


def test_unrounded_counts_are_found():
    (male, female), total = sex_table(male=(52, 100))
    published = [shown(male, 52, 100), shown(female, 40, 120), shown(total, 90, 220)]
    found = problems(published, [male, female, total])
    assert "1 published numerators are not the true count rounded to the nearest 5" in found
    assert "1 published numerators are not multiples of 5" in found


def test_a_small_count_published_is_found():
    (male, female), total = sex_table(male=(5, 100))
    published = [shown(male, 5, 100), shown(female, 40, 120), shown(total, 45, 220)]
    found = problems(published, [male, female, total])
    assert "1 published rows show a numerator whose true count is 1-7" in found
    assert "1 published numerators lie in 1-9" in found


def test_a_small_count_rounded_to_a_multiple_is_still_found():
    # 6 rounds to 5: a multiple of 5, but the true count is small.
    (male, female), total = sex_table(male=(6, 100))
    published = [shown(male, 5, 100), shown(female, 40, 120), shown(total, 45, 220)]
    found = problems(published, [male, female, total])
    assert "1 published rows show a numerator whose true count is 1-7" in found


def test_suppressed_rows_carrying_figures_are_found():
    (male, female), total = sex_table(male=(5, 100))
    published = [
        hidden(male, value=5.0),
        hidden(female, trend="increasing"),
        shown(total, 45, 220),
    ]
    found = problems(published, [male, female, total])
    assert "2 suppressed rows still carry counts, a value, an interval or a trend" in found


def test_a_suppressed_row_still_compared_is_found():
    (male, female), total = sex_table(male=(5, 100))
    published = [hidden(male, comparison="lower"), hidden(female), shown(total, 45, 220)]
    assert "1 suppressed rows are still compared with the ICS" in problems(
        published, [male, female, total]
    )


def test_values_from_the_exact_counts_are_found():
    # v1 published 52/101's value and limits beside the rounded 50/100: an intruder trying
    # the counts near 50 and 100 finds exactly one pair giving them, the true one.
    (male, female), total = sex_table(male=(52, 101))
    exact_figures = {c: male[c] for c in disclosure.STATISTIC_COLUMNS}
    published = [
        shown(male, 50, 100, **exact_figures),
        shown(female, 40, 120),
        shown(total, 90, 220),
    ]
    assert "1 published values or intervals do not follow from the published counts" in problems(
        published, [male, female, total]
    )


def test_a_lower_limit_alone_from_the_exact_counts_is_found():
    (male, female), total = sex_table(male=(52, 101))
    published = [
        shown(male, 50, 100, lower_95=male["lower_95"]),
        shown(female, 40, 120),
        shown(total, 90, 220),
    ]
    assert "1 published values or intervals do not follow from the published counts" in problems(
        published, [male, female, total]
    )


def place_of_death_set(numerators):
    n = sum(numerators)
    return [exact("all", "all", x, n, indicator=f"PD0{i}") for i, x in enumerate(numerators, 1)]


def test_a_place_of_death_set_hiding_one_place_is_found():
    # Home 3 of 100 hidden alone: 100 - 20 - 40 - 10 - 25 = 5 gives it back (within rounding).
    rows = place_of_death_set([3, 22, 39, 11, 25])
    published = [hidden(rows[0])] + [
        shown(r, x, 100) for r, x in zip(rows[1:], [20, 40, 10, 25], strict=True)
    ]
    assert "1 shared-denominator sets (such as PD01-PD05) hide exactly one cell" in problems(
        published, rows
    )
    published[3] = hidden(rows[3])  # hospice hidden too: nothing to subtract
    assert problems(published, rows) == []


def test_a_median_over_fewer_than_10_people_is_found():
    row = exact("all", "all", None, 9, indicator="ID03")
    row.update(statistic="median", value=41.0, **dict.fromkeys(disclosure.STATISTIC_COLUMNS[1:]))
    published = [{**shown(row, None, 10), "value": 41.0, "trend": None}]
    published[0].update(dict.fromkeys(disclosure.STATISTIC_COLUMNS[1:]))
    assert "1 published median rows have a denominator under 10" in problems(published, [row])


def test_a_single_hidden_category_is_found():
    (male, female), total = sex_table(male=(5, 100))
    published = [hidden(male), shown(female, 40, 120), shown(total, 45, 220)]
    assert "1 breakdown groups hide exactly one category" in problems(
        published, [male, female, total]
    )


def test_an_empty_complement_beside_a_published_total_is_found():
    # male 5/100 hidden with an empty `not_known` (0/0): anyone would read not_known as 0 and
    # recover male = all - female.
    male, female = exact("sex", "male", 5, 100), exact("sex", "female", 40, 120)
    not_known = exact("sex", "not_known", 0, 0)
    total = exact("all", "all", 45, 220)
    published = [hidden(male), hidden(not_known), shown(female, 40, 120), shown(total, 45, 220)]
    found = problems(published, [male, female, not_known, total])
    assert "1 breakdown groups hide one non-empty category beside empty ones" in found
    # With the total itself suppressed there is nothing to subtract from.
    published[-1] = hidden(total)
    found = problems(published, [male, female, not_known, total])
    assert not [p for p in found if "breakdown groups" in p]


def test_two_small_cells_hiding_each_other_are_fine():
    male, female = exact("sex", "male", 5, 100), exact("sex", "female", 3, 120)
    unknown = exact("sex", "not_known", 40, 60)
    total = exact("all", "all", 48, 280)
    published = [hidden(male), hidden(female), shown(unknown, 40, 60), shown(total, 50, 280)]
    assert problems(published, [male, female, unknown, total]) == []


def quintiles(small: str | None):
    rows = [exact("imd_quintile", q, 3 if q == small else 30, 100) for q in "12345"]
    rows.append(exact("imd_sii", "sii", None, None))
    rows[-1].update(value=-4.2, lower_95=-8.0, upper_95=-0.4, lower_99_8=-10.0, upper_99_8=1.6)
    return rows


def test_an_sii_row_published_beside_a_small_quintile_is_found():
    rows = quintiles(small="2")
    # quintile 2 (3/100) hidden by rule 1, quintile 1 as its complement; SII published.
    published = [hidden(rows[0]), hidden(rows[1])]
    published += [shown(r, 30, 100) for r in rows[2:5]]
    published.append(shown(rows[5], None, None, comparator=None, comparison="not_compared"))
    assert "1 SII rows are published beside a suppressed IMD quintile" in problems(published, rows)
    published[5] = hidden(rows[5], comparator=None)
    assert problems(published, rows) == []


def test_an_sii_row_beside_a_complement_only_is_found_too():
    # v2: the SII is derived from published quintiles only, so a quintile hidden as a
    # complement (`unknown` 4/10 is small, quintile 1 its complement) hides it as well.
    rows = quintiles(small=None)
    rows.append(exact("imd_quintile", "unknown", 4, 10))
    published = [hidden(rows[0])] + [shown(r, 30, 100) for r in rows[1:5]]
    published.append(shown(rows[5], None, None, comparator=None, comparison="not_compared"))
    published.append(hidden(rows[6]))
    assert "1 SII rows are published beside a suppressed IMD quintile" in problems(published, rows)


def test_a_comparator_that_is_not_the_published_ics_value_is_found():
    ics_male = exact("sex", "male", 5, 40, level="ics", code="Q1")
    ics_female = exact("sex", "female", 30, 60, level="ics", code="Q1")
    ics_unknown = exact("sex", "not_known", 61, 99, level="ics", code="Q1")
    place_male = exact("sex", "male", 20, 40)
    place_female = exact("sex", "female", 20, 50)
    place_unknown = exact("sex", "not_known", 20, 50)
    published = [
        hidden(ics_male),
        hidden(ics_female),
        shown(ics_unknown, 60, 100, comparator=60.0),  # the ICS row quotes itself
        shown(place_male, 20, 40, comparator=ics_male["value"]),  # leaks 5/40
        shown(place_female, 20, 50),
        shown(place_unknown, 20, 50, comparator=ics_unknown["value"]),  # 61/99, not 60/100
    ]
    exact_rows = [ics_male, ics_female, ics_unknown, place_male, place_female, place_unknown]
    assert problems(published, exact_rows) == [
        "2 rows quote a comparator_value that is not the published ICS value"
    ]
    published[3]["comparator_value"] = None
    published[5]["comparator_value"] = 60.0
    assert problems(published, exact_rows) == []


@pytest.mark.parametrize(
    "threshold, multiple, found",
    [
        (10, 10, []),  # 13 is publishable under 10/10 and rounds to 10
        (7, 5, ["1 published numerators are not the true count rounded to the nearest 5"]),
    ],
)
def test_the_rules_follow_the_configured_threshold_and_multiple(threshold, multiple, found):
    row = exact("all", "all", 13, 300)
    assert problems([shown(row, 10, 300)], [row], threshold, multiple) == found


def test_a_published_row_missing_from_the_warehouse_is_found():
    row = exact("all", "all", 40, 100)
    other = exact("all", "all", 40, 100, code="P9")
    assert "1 published rows have no row in the warehouse" in problems(
        [shown(other, 40, 100)], [row]
    )


# --------------------------------------------------------------------------------------------
# Table Schema conformance

TINY_SCHEMA = {
    "fields": [
        {
            "name": "id",
            "type": "string",
            "constraints": {"required": True, "pattern": "^[A-Z]\\d$"},
        },
        {"name": "kind", "type": "string", "constraints": {"required": True, "enum": ["a", "b"]}},
        {"name": "n", "type": "integer", "constraints": {"minimum": 0}},
        {"name": "on", "type": "date"},
    ],
    "primaryKey": ["id"],
}


def tiny(ids=("A1", "B2"), kinds=("a", "b"), ns=(0, 5), n_type=None) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "kind": pa.array(kinds, pa.string()),
            "n": pa.array(ns, n_type or pa.int64()),
            "on": pa.array([PERIOD_END] * len(ids), pa.date32()),
        }
    )


@pytest.mark.parametrize(
    "table, message",
    [
        (tiny(), None),
        (tiny(n_type=pa.float64()), "differ from the committed schema"),
        (tiny().select(["kind", "id", "n", "on"]), "differ from the committed schema"),
        (tiny(ids=("A1", None)), "t.id: 1 nulls in a required column"),
        (tiny(ids=("A1", "b2")), "t.id: 1 value(s) not matching the pattern"),
        (tiny(kinds=("a", "c")), "t.kind: 1 value(s) outside ['a', 'b']"),
        (tiny(ns=(0, -1)), "t.n: values below 0"),
        (tiny(ids=("A1", "A1")), "t: rows repeat the primary key (id)"),
    ],
)
def test_table_schema_problems(table, message):
    found = release_schema.table_schema_problems(table, TINY_SCHEMA, "t")
    if message is None:
        assert found == []
    else:
        assert any(message in p for p in found), found


# --------------------------------------------------------------------------------------------
# Privacy shapes


@pytest.mark.parametrize(
    "text, nhs_like",
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("person 9434765919 died", True),
        ("2024-03-31", False),
        ("20240331", False),
        ("E01012345", False),  # an LSOA code
        ("deaths_QOX_20240331.csv", False),
        ("94347659191", False),  # 11 digits
        ("a3f9434765919b", False),  # inside a hex string
        ("line-height:1.4736842105}", False),  # the digits of a decimal fraction
        ("Total: 9434765919.", True),  # a full stop ending a sentence is not a decimal
    ],
)
def test_nhs_number_shape(text, nhs_like):
    assert bool(audit.NHS_NUMBER_IN_TEXT.search(text)) is nhs_like


@pytest.mark.parametrize(
    "text, pseudonym_like",
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("id=0123456789ABCDEF0123456789ABCDEF.", True),
        ("0123456789abcdef" * 4, False),  # a SHA-256 checksum (64 hex) is not a pseudonym
        ("r0123456789abcdef", False),  # a release id
    ],
)
def test_pseudonym_shape(text, pseudonym_like):
    assert bool(audit.PSEUDONYM_SHAPE.search(text)) is pseudonym_like


def test_person_level_columns_and_shaped_values_are_found(tmp_path):
    df = pl.DataFrame(
        {
            "geography_name": ["Surgery 943 476 5919", "Fine Surgery"],
            "person_id": ["0123456789abcdef0123456789abcdef", None],
        }
    )
    (tmp_path / "manifest.json").write_text('{"note": "9434765919"}', encoding="utf-8")
    found = release_helpers.privacy_problems(tmp_path, {"indicators": df})
    assert found == [
        "indicators: person-level column(s) person_id",
        "indicators.geography_name: 1 strings shaped like an NHS number",
        "indicators.person_id: 1 strings shaped like a pseudonym (32 hex characters)",
        "manifest.json: 1 strings shaped like an NHS number",
    ]


# --------------------------------------------------------------------------------------------
# Counts that are not of people (ED01, ED02): rules 1 and 3 do not apply, rule 2 does


def test_a_small_count_not_of_people_is_published_rounded_without_a_problem():
    # ED02: 3 of 41 care homes reached, published as 5 of 40 (12.5%, Wilson of 5/40).
    reached = exact("all", "all", 3, 41, indicator="ED02")
    published = [shown(reached, 5, 40)]
    assert problems(published, [reached], not_people={"ED02"}) == []
    # Counted as people the same row breaks rule 1.
    assert any("true count is 1-7" in p for p in problems(published, [reached]))


def test_a_count_not_of_people_must_still_be_rounded():
    reached = exact("all", "all", 3, 41, indicator="ED02")
    published = [shown(reached, 3, 40)]
    found = problems(published, [reached], not_people={"ED02"})
    assert any("not the true count rounded" in p for p in found)


def test_the_audit_in_parts_finds_what_the_whole_audit_finds_with_the_counts_summed():
    """The release is audited an indicator (or a shared-denominator set) at a time; the
    problems and their counts are those of the whole table at once."""
    tables = []
    for indicator, small in (("PD01", (5, 100)), ("PD02", (52, 100)), ("HU01", (6, 100))):
        rows = [
            exact("sex", "male", *small, indicator=indicator),
            exact("sex", "female", 40, 120, indicator=indicator),
            exact("all", "all", small[0] + 40, 220, indicator=indicator),
        ]
        published = [
            shown(rows[0], small[0], 100),  # PD01 and HU01: a small count; PD02: unrounded 52
            shown(rows[1], 40, 120),
            shown(rows[2], small[0] + 40, 220),
        ]
        tables.append((published, rows))
    published = pl.DataFrame([r for p, _ in tables for r in p], schema=PUBLISHED_SCHEMA)
    warehouse = pl.DataFrame([r for _, e in tables for r in e], schema=EXACT_SCHEMA)
    whole = audit_rules.disclosure_problems(published, warehouse, 7, 5)
    parts = release_helpers.disclosure_problems_in_parts(published, warehouse, 7, 5)
    assert sorted(parts) == sorted(whole)
    # hand-counted: PD01's 5 and HU01's 6 are true counts of 1-7; PD02's 52 and 92 and HU01's
    # 6 and 46 are not multiples of 5 (published as the true counts, unrounded)
    assert "2 published rows show a numerator whose true count is 1-7" in parts
    assert "4 published numerators are not multiples of 5" in parts


def test_the_flat_files_must_hold_exactly_the_released_rows(tmp_path):
    import datetime as _dt

    from diewell.warehouse.indicators.schema import OUTPUT_DTYPES

    names = release_schema.OUTPUT_SCHEMA.names
    base = {c: None for c in names}
    base.update(indicator_id="PD01", period_type="rolling_12m", period_end=_dt.date(2024, 3, 31))
    base.update(geography_level="ics", geography_code="QTT", breakdown="all")
    base.update(breakdown_value="all", numerator=50, denominator=100, value=50.0)
    base.update(suppressed=False, run_id="r1", schema_version=output_schema.SCHEMA_VERSION)
    rows = [base, {**base, "geography_level": "place", "geography_code": "P1", "value": 0.1}]
    released = pl.DataFrame(rows, schema={c: OUTPUT_DTYPES[c] for c in names})
    expected = audit._row_fingerprints(released)

    def write_flat_files(folder, frame):
        folder.mkdir(exist_ok=True)
        with control.rows_in_duckdb(frame) as con:
            return release_files._write_flat_files(folder, con, control.PUBLICATION_TABLE)

    assert write_flat_files(tmp_path, released) == 2
    assert (tmp_path / release_files.FLAT_CSV_FILE).read_bytes().startswith(b"\xef\xbb\xbf")
    assert audit._flat_problems(tmp_path, expected, released.schema) == []
    released.reverse().write_parquet(tmp_path / release_files.FLAT_PARQUET_FILE)  # any order
    assert audit._flat_problems(tmp_path, expected, released.schema) == []

    changed = released.with_columns(
        pl.when(pl.col("geography_code") == "P1")
        .then(0.2)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    write_flat_files(tmp_path / "changed", changed)
    (tmp_path / "changed" / release_files.FLAT_CSV_FILE).replace(
        tmp_path / release_files.FLAT_CSV_FILE
    )
    assert audit._flat_problems(tmp_path, expected, released.schema) == [
        f"{release_files.FLAT_CSV_FILE} does not hold exactly the rows of {release_files.INDICATORS_DIR}/"
    ]
    (tmp_path / release_files.FLAT_PARQUET_FILE).unlink()
    assert audit._flat_problems(tmp_path, expected, released.schema)[0].startswith(
        "the flat files cannot be read back"
    )


def _released_rows(n: int) -> pl.DataFrame:
    from diewell.warehouse.indicators.schema import OUTPUT_DTYPES

    names = release_schema.OUTPUT_SCHEMA.names
    return (
        pl.DataFrame(
            {"geography_code": [f"L{i:06d}" for i in range(n)], "numerator": list(range(n))}
        )
        .with_columns(
            pl.lit(None).alias(c) for c in names if c not in ("geography_code", "numerator")
        )
        .select(pl.col(c).cast(OUTPUT_DTYPES[c]) for c in names)
    )


def test_the_row_fingerprint_holds_nothing_per_row():
    """The audit compares the partitions with the flat files by fingerprint: its size must not
    grow with the release (at 20M people, 22M rows; some 40 bytes a row held sorted)."""
    import pickle

    small, large = (audit._row_fingerprints(_released_rows(n)) for n in (10, 100_000))
    assert len(pickle.dumps(small)) < 200 and len(pickle.dumps(large)) < 200


def test_the_row_fingerprint_tells_rows_apart_in_any_order_and_any_number():
    """Equal fingerprints: the same rows, each as many times, in any order. A row repeated in
    place of another, a row missing, or two rows swapping a value all differ."""
    rows = _released_rows(1_000)
    fingerprint = audit._row_fingerprints
    assert fingerprint(rows) == fingerprint(rows.reverse()) == fingerprint(rows.lazy())
    assert fingerprint(rows) == fingerprint(pl.concat([rows[500:], rows[:500]]))
    repeated = pl.concat([rows[:999], rows[:1]])  # the first row twice, the last gone
    assert fingerprint(repeated) != fingerprint(rows)
    assert fingerprint(rows[:999]) != fingerprint(rows)
    swapped = rows.with_columns(
        pl.when(pl.col("numerator") == 1)
        .then(2)
        .when(pl.col("numerator") == 2)
        .then(1)
        .otherwise(pl.col("numerator"))
        .alias("numerator")
    )
    assert fingerprint(swapped) != fingerprint(rows)
    assert fingerprint(rows[:0]) == fingerprint(rows[:0].lazy())


def test_a_table_checked_in_parts_gives_the_whole_tables_problems():
    """The audit checks a release a part at a time: counts add up across the parts, a bad
    value met in several parts counts once, and the messages are the whole table's."""
    first = tiny(ids=("A1", None, "b2"), kinds=("a", "c", "c"), ns=(0, 5, -1))
    second = tiny(ids=("c3", "C3", "E5", "F6"), kinds=("c", "d", "a", "a"), ns=(1, 2, 3, 4))
    whole = pa.concat_tables([first, second])
    check = release_schema.TableSchemaCheck(TINY_SCHEMA, "t")
    check.add(first)
    check.add(second)
    # hand-counted: one id is null; "b2" and "c3" fail the pattern; kinds "c" (in both
    # parts, counted once) and "d" are outside the enum; -1 is below 0
    assert check.problems() == [
        "t.id: 1 nulls in a required column",
        "t.id: 2 value(s) not matching the pattern",
        "t.kind: 2 value(s) outside ['a', 'b']",
        "t.n: values below 0",
    ]
    assert check.problems() == release_schema.table_schema_problems(whole, TINY_SCHEMA, "t")


def test_a_part_with_other_columns_is_named_as_the_whole_table_would_be():
    check = release_schema.TableSchemaCheck(TINY_SCHEMA, "t")
    check.add(tiny())
    check.add(tiny(n_type=pa.float64()))
    (problem,) = check.problems()
    assert "differ from the committed schema" in problem and "double" in problem


def test_privacy_checked_in_parts_counts_each_shaped_string_once(tmp_path):
    first = pl.DataFrame({"geography_name": ["Surgery 943 476 5919", "Fine Surgery"]})
    second = pl.DataFrame({"geography_name": ["Surgery 943 476 5919", "Other 401 023 2137"]})
    check = audit.PrivacyCheck()
    check.add("indicators", first)
    check.add("indicators", second)
    assert check.problems(tmp_path) == [
        "indicators.geography_name: 2 strings shaped like an NHS number"
    ]
