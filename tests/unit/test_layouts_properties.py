"""The accounting invariant of every built-in layout, on random tables (Hypothesis).

Whatever a delivered table holds, every source row ends in exactly one place: a contract row
(`source_rows`), `filtered`, or `findings`; contract rows are numbered 1..n and each has its
source rows; values shaped like an NHS number never appear unmasked in a finding.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diewell.expectations.layouts import apply_layout, builtin_layout_names, load_layout

# Values that take the layouts' paths: codes each rule knows, their neighbours, dates in every
# format and none, times, code list members, a valid NHS number, junk and empties.
VALUES = [
    None,
    "",
    " ",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "01",
    "02",
    "7",
    "07",
    "7Q",
    "83",
    "99",
    "315",
    "X",
    "Y",
    "N",
    "H",
    "E",
    "0",
    "47",
    "12",
    "63238001",
    "2024-01-01",
    "20240101",
    "31/01/2024",
    "2024-02-30",
    "2007-01-01",
    "07:59",
    "18:30",
    "25:00",
    "I10X",
    "C349",
    "E01000001",
    "103735009",
    "1048611000000104",
    "736366004",
    "10349009",
    "9434765919",
    "junk",
]
KEYS = [None, "a", "b", "c"]  # few values for the columns rows group by, so groups form
POOLS = {
    "apcs_ident": KEYS,
    "der_pseudo_nhs_number": KEYS,
    "person_id": KEYS,
    "episode_number": [None, "01", "1", "2", "10", "x"],
    "admission_date": [None, "2024-01-01", "20240101", "2024-01-02", "2024-02-30"],
    "event_date": [None, "2007-01-01", "2008-04-01", "2015-01-01", "20150101", "2015-13-01"],
}
CASES = [
    (name, extract)
    for name in builtin_layout_names()
    for extract in sorted(load_layout(name).targets)
]


@st.composite
def tables(draw, layout):
    optional = (
        draw(st.lists(st.sampled_from(layout.optional), unique=True)) if layout.optional else []
    )
    columns = [c.lower() for c in (*layout.required, *optional)]
    n = draw(st.integers(0, 25))
    data = {
        c: draw(st.lists(st.sampled_from(POOLS.get(c, VALUES)), min_size=n, max_size=n))
        for c in columns
    }
    return pl.DataFrame(data, schema={c: pl.String for c in columns})


@pytest.mark.parametrize(("name", "extract"), CASES)
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_source_row_ends_in_exactly_one_place(name, extract, data):
    layout = load_layout(name)
    raw = data.draw(tables(layout))
    out = apply_layout(
        raw, layout, lookups={"ref_lsoa_2011": {"E01000001": "E01033333"}}, target_extract=extract
    )
    loaded = out.source_rows["source_row"].to_list()
    filtered = out.filtered["source_row"].to_list()
    quarantined = set(out.findings["source_row"])
    assert len(set(loaded)) == len(loaded) and len(set(filtered)) == len(filtered)
    assert not (set(loaded) & set(filtered)) and not (set(loaded) & quarantined)
    assert not (set(filtered) & quarantined)
    assert set(loaded) | set(filtered) | quarantined == set(range(1, raw.height + 1))
    assert out.rows["row_number"].to_list() == list(range(1, out.rows.height + 1))
    assert set(out.source_rows["row_number"]) == set(out.rows["row_number"])
    assert all(dtype == pl.String for dtype in out.rows.drop("row_number").dtypes)
    assert out.rows_read == raw.height
    assert "9434765919" not in " ".join(
        out.findings["message"].to_list() + out.findings["value"].drop_nulls().to_list()
    )
    assert (out.warnings["rows"] >= 1).all()
