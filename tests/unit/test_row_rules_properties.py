"""Row rules as properties, for every extract contract (Hypothesis).

Rows generated from a contract's own column types, allowed sets and ranges must all pass
`validate_rows`; the same rows with one defect of a known kind injected into one row must
quarantine that row, and only that row, with exactly the defect's rule and column.

The generators are written from extracts.md, not from the validator's patterns: NHS numbers
get their modulus 11 check digit computed here, ICD-10 and LSOA codes are built from their
published shapes.
"""

from __future__ import annotations

import datetime as dt
import string

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diewell.expectations.contracts import Column, Contract, all_contracts
from diewell.expectations.rules import validate_rows

PERIOD_END = dt.date(2024, 12, 31)
EARLIEST = dt.date(1904, 12, 1)  # 120 years before the period end's month
FIRST_SAFE = EARLIEST + dt.timedelta(days=2)  # a date one day earlier is still plausible
CONTRACTS = all_contracts()
EXAMPLES = settings(
    max_examples=50, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def check_digit(stem: int) -> int | None:
    """Modulus 11 check digit of a 9-digit stem (weights 10..2); None when no valid number exists."""
    total = sum(int(d) * w for d, w in zip(f"{stem:09d}", range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return None if check == 10 else check % 11


# --- valid values, from the contract's column types -------------------------------------------

DIGITS = string.digits
UPPER = string.ascii_uppercase


def _chars(alphabet: str, n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n)


@st.composite
def nhs_numbers(draw) -> str:
    """A valid NHS number in the 999 test range, written plain, spaced or hyphenated."""
    stem = draw(st.integers(999_000_000, 999_999_999).filter(lambda s: check_digit(s) is not None))
    digits = f"{stem}{check_digit(stem)}"
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join([digits[:3], digits[3:6], digits[6:]]) if sep else digits


def icd10() -> st.SearchStrategy[str]:
    return st.builds(
        lambda letter, digits, dot, tail: letter + digits + (dot + tail if tail else ""),
        st.sampled_from(UPPER),
        _chars(DIGITS, 2),
        st.sampled_from(["", "."]),
        st.text(alphabet=DIGITS + UPPER, min_size=0, max_size=2),
    )


def _cqc_digits() -> st.SearchStrategy[str]:
    return st.integers(9, 11).flatmap(lambda n: _chars(DIGITS, n))


def plain_value(col: Column) -> st.SearchStrategy:
    """A valid value of the column: a string, or a date/datetime formatted later."""
    if col.type == "nhs_number":
        return nhs_numbers()
    if col.type == "date":
        return st.dates(FIRST_SAFE, PERIOD_END)
    if col.type == "datetime":
        return st.datetimes(
            dt.datetime.combine(FIRST_SAFE, dt.time()),
            dt.datetime.combine(PERIOD_END, dt.time(23, 59)),
        )
    if col.type == "code":
        return st.sampled_from(col.allowed)
    if col.type == "code_text":
        return st.text(alphabet=DIGITS + UPPER, min_size=1, max_size=3)
    if col.type == "integer":
        low = col.min if col.min is not None else 0
        high = col.max if col.max is not None else 1_000_000
        step = col.multiple_of or 1
        return st.integers(-(-low // step), high // step).map(lambda k: str(k * step))
    if col.type == "number":  # hours: more than 0, at most 40, up to 2 decimals
        return st.integers(1, int(col.max * 100)).map(lambda k: f"{k / 100:g}")
    if col.type == "cqc_location":
        return st.builds(str.__add__, st.just("1-"), _cqc_digits())
    if col.type == "ods_or_cqc":
        return st.one_of(
            st.text(alphabet=DIGITS + UPPER, min_size=3, max_size=9),
            st.builds(str.__add__, st.just("1-"), _cqc_digits()),
        )
    if col.type == "icd10":
        return icd10()
    if col.type == "icd10_list":
        return st.lists(icd10(), min_size=1, max_size=3).map(";".join)
    if col.type in ("lsoa", "lsoa_2011"):
        return st.builds(str.__add__, st.sampled_from(["E01", "W01"]), _chars(DIGITS, 6))
    if col.type == "ods_practice":
        return st.builds(str.__add__, st.sampled_from(UPPER), _chars(DIGITS, 5))
    if col.type == "ods_code":
        return st.text(alphabet=DIGITS + UPPER, min_size=3, max_size=9)
    if col.type == "text":
        return st.text(
            alphabet=string.ascii_letters + DIGITS + " -'&,", min_size=1, max_size=40
        ).filter(lambda s: s.strip())
    raise AssertionError(f"no generator for column type {col.type}")


def order_columns(contract: Contract) -> list[str]:
    """The columns of the contract's order rules, earlier ones first (a topological order)."""
    rules = [(r.earlier, r.later) for r in contract.order_rules]
    names = sorted({c for pair in rules for c in pair})
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [
            n
            for n in names
            if n not in ordered and all(e in ordered for e, later in rules if later == n)
        ]
        ordered.append(ready[0])
    return ordered


def fmt(col: Column, value, style: int) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if col.type == "date":
        return value.strftime("%Y-%m-%d" if style % 2 else "%d/%m/%Y")
    if col.type == "datetime":
        return value.strftime(
            ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"][
                style % 4
            ]
        )
    return value


@st.composite
def valid_row(draw, contract: Contract) -> dict:
    """A conforming row as Python values (dates unformatted); optional values may be absent."""
    present = {col.name: col.required or draw(st.booleans()) for col in contract.columns}
    for rule in contract.row_rules:  # one_of_required: at least the first of the pair present
        if rule.check == "one_of_required" and not any(present[c] for c in rule.columns):
            present[rule.columns[0]] = True
    row = {}
    for col in contract.columns:
        row[col.name] = draw(plain_value(col)) if present[col.name] else None
    # Dates of the order rules in order: sorted values assigned along a topological order.
    chain = [c for c in order_columns(contract) if row[c] is not None]
    for name, value in zip(chain, sorted(row[c] for c in chain), strict=True):
        row[name] = value
    return satisfy_row_rules(contract, row)


def completed_years(born: dt.date, died: dt.date) -> int:
    return died.year - born.year - ((died.month, died.day) < (born.month, born.day))


def satisfy_row_rules(contract: Contract, row: dict) -> dict:
    """The row rules (extracts.md v3) made true: one of each pair present, an age that agrees."""
    columns = {c.name: c for c in contract.columns}
    for rule in contract.row_rules:
        if rule.check == "age_agrees":
            born, died, age = rule.columns
            if None not in (row[born], row[died], row[age]):
                years = completed_years(row[born], row[died])
                col = columns[age]
                fits = (col.min is None or years >= col.min) and (
                    col.max is None or years <= col.max
                )
                row[age] = str(years) if fits else None  # the date of birth is there
    return row


def key_of(contract: Contract, row: dict) -> tuple:
    return tuple(
        str(row[k]).replace(" ", "").replace("-", "") if k == "nhs_number" else str(row[k]).strip()
        for k in contract.key
    )


@st.composite
def valid_table(draw, contract: Contract, min_rows: int = 1) -> tuple[list[dict], list[int]]:
    rows = draw(
        st.lists(
            valid_row(contract),
            min_size=min_rows,
            max_size=8,
            unique_by=lambda r: key_of(contract, r),
        )
    )
    styles = draw(st.lists(st.integers(0, 3), min_size=len(rows), max_size=len(rows)))
    return rows, styles


def to_frame(
    contract: Contract, rows: list[dict], styles: list[int], drop: set[str]
) -> pl.DataFrame:
    columns = [c for c in contract.columns if c.name not in drop]
    data = {
        c.name: [fmt(c, r[c.name], s) for r, s in zip(rows, styles, strict=True)] for c in columns
    }
    return pl.DataFrame(data, schema={c.name: pl.String for c in columns})


def optional_absent(contract: Contract) -> st.SearchStrategy[set[str]]:
    """A set of optional columns left out of the file altogether (the contract allows it)."""
    # Columns of a one_of_required rule stay: without one, its rows would break the rule.
    paired = {c for r in contract.row_rules if r.check == "one_of_required" for c in r.columns}
    optional = [c.name for c in contract.columns if not c.required and c.name not in paired]
    return st.sets(st.sampled_from(optional)) if optional else st.just(set())


def findings(result) -> set[tuple[int, str, str]]:
    return {
        (r["row_number"], r["rule"], r["column"]) for r in result.findings.iter_rows(named=True)
    }


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.extract for c in CONTRACTS])
@EXAMPLES
@given(data=st.data())
def test_generated_valid_rows_all_pass(contract, data):
    rows, styles = data.draw(valid_table(contract))
    drop = data.draw(optional_absent(contract))
    for name in drop:
        for r in rows:
            r[name] = None
    result = validate_rows(to_frame(contract, rows, styles, drop), contract, PERIOD_END)
    assert findings(result) == set()
    assert result.rows_read == result.rows.height == len(rows)
    for col in contract.columns:
        if col.type == "nhs_number":
            assert result.rows[col.name].drop_nulls().str.contains(r"^[0-9]{10}$").all()


# --- one injected defect -------------------------------------------------------------------------


def defects(contract: Contract) -> list[tuple[str, str]]:
    """(rule, column) for every defect that can be injected into one row of this contract alone."""
    earlier = {r.earlier for r in contract.order_rules}
    later = {r.later for r in contract.order_rules}
    out = [("missing_required_value", c.name) for c in contract.columns if c.required]
    for c in contract.columns:
        if c.type == "nhs_number":
            out.append(("invalid_nhs_number", c.name))
        elif c.type in ("date", "datetime"):
            out.append(("unparseable_date", c.name))
            if c.name not in earlier:  # a later date must not also break an order rule
                out.append(("date_after_period_end", c.name))
            if c.name not in later:
                out.append(("date_implausibly_early", c.name))
        elif c.type == "code":
            out.append(("value_not_allowed", c.name))
        elif c.type in ("integer", "number"):
            out.append(("not_an_integer" if c.type == "integer" else "not_a_number", c.name))
            if c.min is not None or c.max is not None or c.multiple_of:
                out.append(("value_out_of_range", c.name))
        elif c.type == "text":
            out.append(("value_too_long", c.name))
        else:
            out.append(("invalid_code", c.name))
    out += [(r.rule, r.later) for r in contract.order_rules]
    out.append(("duplicate_key", ",".join(contract.key)))
    return out


def bad_value(rule: str, col: Column, data) -> object:
    """A value of the column that breaks `rule` (and no other rule)."""
    draw = data.draw
    if rule == "missing_required_value":
        return None
    if rule == "invalid_nhs_number":
        stem = draw(st.integers(999_000_000, 999_999_999))
        check = check_digit(stem)
        wrong = draw(st.integers(0, 9).filter(lambda d: d != check))
        return draw(
            st.sampled_from(
                [f"{stem}{wrong}", f"{stem}", f"{stem}{wrong}0", f"{str(stem)[:8]}A{wrong}"]
            )
        )
    if rule == "unparseable_date":
        if col.type == "datetime":
            return draw(
                st.sampled_from(["05/12/2024 10:00", "2024-12-01T25:00", "today", "2024-12"])
            )
        return draw(
            st.sampled_from(["12/25/2024", "31/02/2024", "2024-13-01", "2024/12/01", "unknown"])
        )
    if rule == "date_after_period_end":
        day = PERIOD_END + dt.timedelta(days=draw(st.integers(1, 400)))
        return dt.datetime.combine(day, dt.time(9)) if col.type == "datetime" else day
    if rule == "date_implausibly_early":
        day = draw(st.dates(dt.date(1800, 1, 1), EARLIEST - dt.timedelta(days=1)))
        return dt.datetime.combine(day, dt.time(9)) if col.type == "datetime" else day
    if rule == "value_not_allowed":
        wrong_case = [v.swapcase() for v in col.allowed if v.swapcase() not in col.allowed]
        # "unknown" is itself allowed in some sets (identification_tool): never offer it there.
        others = [v for v in ("zz", "unknown", "99x") if v not in col.allowed]
        return draw(st.sampled_from([*wrong_case, *others]))
    if rule == "not_an_integer":
        return draw(st.sampled_from(["1,234", "12.5", "ten", "1 000"]))
    if rule == "not_a_number":
        return draw(st.sampled_from(["1,5", "2h", "ten", "-1", "1.2.3"]))
    if rule == "value_out_of_range" and col.type == "number":  # at or under an exclusive minimum
        low = f"{col.min:g}" if col.min_exclusive else f"{col.min - 1:g}"
        return draw(st.sampled_from([low, f"{col.max + 0.5:g}", f"{col.max + 100:g}"]))
    if rule == "value_out_of_range":
        options = []
        if col.min is not None:
            options.append(str(col.min - draw(st.integers(1, 1000))))
        if col.max is not None:
            options.append(str(col.max + draw(st.integers(1, 1000))))
        if col.multiple_of:
            options.append(str(col.multiple_of * draw(st.integers(1, 9)) + 1))
        return draw(st.sampled_from(options))
    if rule == "value_too_long":
        return "x" * draw(st.integers(256, 400))
    if rule == "invalid_code":
        return draw(st.sampled_from(["??", "not a code", "1234567890A"]))
    raise AssertionError(rule)


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.extract for c in CONTRACTS])
@EXAMPLES
@given(data=st.data())
def test_one_injected_defect_is_quarantined_with_exactly_its_rule(contract, data):
    rule, column = data.draw(st.sampled_from(defects(contract)))
    rows, styles = data.draw(valid_table(contract, min_rows=2 if rule == "duplicate_key" else 1))
    i = data.draw(st.integers(0, len(rows) - 1))
    expected = {(i + 1, rule, column)}
    order = {r.rule: r for r in contract.order_rules}
    if rule == "duplicate_key":
        j = data.draw(st.integers(0, len(rows) - 1).filter(lambda j: j != i))
        for k in contract.key:
            rows[i][k] = rows[j][k]
        expected.add((j + 1, rule, column))
    elif rule in order:
        r = order[rule]
        if rows[i][r.earlier] is None:  # only an optional earlier date can be absent
            # not after any date that must not precede it (a date of birth given for a
            # transition plan must not put the referral before birth too)
            laters = [
                rows[i][o.later]
                for o in contract.order_rules
                if o.earlier == r.earlier and rows[i][o.later] is not None
            ]
            rows[i][r.earlier] = min(laters, default=PERIOD_END - dt.timedelta(days=30))
        room = (rows[i][r.earlier] - EARLIEST).days  # stay plausible: at least 2 days
        days = data.draw(st.integers(1, min(60, room)))
        rows[i][r.later] = rows[i][r.earlier] - dt.timedelta(days=days)
    else:
        rows[i][column] = bad_value(rule, contract.column(column), data)
    result = validate_rows(to_frame(contract, rows, styles, set()), contract, PERIOD_END)
    assert findings(result) == expected
    quarantined = {row for row, _, _ in expected}
    assert result.rows_quarantined == len(quarantined)
    assert result.rows.height == len(rows) - len(quarantined)
    assert set(result.rows["row_number"]) == set(range(1, len(rows) + 1)) - quarantined
