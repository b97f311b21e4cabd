"""A practice's register rows, written as the SNOMED CT coded events the gp_events layout
derives them from (sources.md v3): one delivery per practice and quarter, holding the coded
events (to the quarter's end) of the people it covers.

palliative_register: a PALCARE_COD event on date_added and a care plan, ReSPECT and DNACPR
event on each of those dates, as the contract row of the quarter has them. REENTRY_SHARE of
the people on the register had an earlier episode on it, ended by a PALCARENI_COD event before
the window (and before date_added): their deliveries carry that history, and the current
episode still starts on date_added; for those added in the window, each quarter's delivery
before they were added again holds the history alone, which the layout filters
(`not_on_register`).
dementia_register: a DEM_COD event (of the person's subtype) on date_diagnosed.
Both: NOISE_SHARE of people also have an event outside the code lists (`not_in_codelists`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from diewell.synth.layout import Window
from diewell.synth.national_rows import FILTERED, unit

NOISE_SHARE = 0.15
REENTRY_SHARE = 0.1
# Codes from the lists gp_events reads (expectations/layouts/codelists).
PALCARE_CODES = ("103735009", "305496007", "201511000000105", "162608008", "182964004")
PALCARENI_CODE = "1048611000000104"  # palliative care not currently clinically indicated
CARE_PLAN_CODES = ("736366004", "713603004", "1095081000000100", "773981004")
RESPECT_CODES = ("1107891000000106",)
DNACPR_CODES = ("450476008", "304253006")
DEMENTIA_CODES = {
    "alzheimers": "26929004",
    "vascular": "429998004",
    "mixed": "79341000119107",
    "lewy_body": "312991009",
    "frontotemporal": "230270009",
    "other": "15662003",  # senile dementia
}
DEMENTIA_CODE = "52448006"  # dementia (unspecified)
# In none of the lists: hypertension, type 2 diabetes, systolic blood pressure, body mass
# index, asthma, memory impairment.
OTHER_CODES = ("38341003", "44054006", "271649006", "60621009", "195967001", "386807006")
GP_EVENT_COLUMNS = ["person_id", "gp_practice_code", "event_date", "snomed_code"]
EVENT_SCHEMA = {
    "provider": pl.String,
    "period": pl.Date,
    "nhs_number": pl.Int64,
    "gp_practice_code": pl.String,
    "event_date": pl.Date,
    "snomed_code": pl.String,
    FILTERED: pl.String,
}


def _code(keys: np.ndarray, seed: int, name: str, codes: tuple[str, ...]) -> pl.Series:
    index = (unit(keys, seed, name) * len(codes)).astype(np.int64)
    return pl.Series(np.array(codes, dtype=object)[index], dtype=pl.String)


def _events(rows: pl.DataFrame, date: pl.Expr, code: pl.Series | str, reason: str | None):
    return rows.select(
        "provider",
        "period",
        "nhs_number",
        "gp_practice_code",
        date.alias("event_date"),
        pl.lit(code, dtype=pl.String).alias("snomed_code"),
        pl.lit(reason, dtype=pl.String).alias(FILTERED),
    ).cast(EVENT_SCHEMA)


def _keys(rows: pl.DataFrame) -> np.ndarray:
    return rows["nhs_number"].to_numpy()


def _before(date: pl.Expr, days: np.ndarray) -> pl.Expr:
    """The date so many whole days (one per row) earlier."""
    return date - pl.duration(days=pl.lit(pl.Series(np.asarray(days).astype(np.int64))))


def _with_other_events(rows: pl.DataFrame, anchor: str, seed: int) -> pl.DataFrame:
    """NOISE_SHARE of people's event outside the code lists, 2 weeks to 2 years before the
    anchor date, in the deliveries whose quarter it falls in or before."""
    key = _keys(rows)
    chosen = rows.filter(pl.lit(pl.Series(unit(key, seed, "other event") < NOISE_SHARE)))
    key = _keys(chosen)
    date = _before(pl.col(anchor), 14 + unit(key, seed, "other event date") * 700)
    events = _events(chosen, date, _code(key, seed, "other event code", OTHER_CODES), None)
    return events.filter(pl.col("event_date") <= pl.col("period")).with_columns(
        pl.lit("not_in_codelists").alias(FILTERED)
    )


def palliative_events(register: pl.DataFrame, window: Window, seed: int) -> pl.DataFrame:
    """The coded events of every practice-quarter delivery of the palliative care register
    (`register`: the contract rows of every quarter of some practices)."""
    if not register.height:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    key = _keys(register)
    parts = [
        _events(register, pl.col("date_added"), _code(key, seed, "palcare", PALCARE_CODES), None)
    ]
    for column, codes in (
        ("care_plan_date", CARE_PLAN_CODES),
        ("respect_date", RESPECT_CODES),
        ("dnacpr_date", DNACPR_CODES),
    ):
        rows = register.filter(pl.col(column).is_not_null())
        parts.append(_events(rows, pl.col(column), _code(_keys(rows), seed, column, codes), None))

    # An earlier episode, ended before the window: PALCARE_COD on d1, PALCARENI_COD on d2.
    first = register.group_by("nhs_number").agg(pl.col("period").min().alias("first_period"))
    history = register.filter(
        pl.lit(pl.Series(unit(key, seed, "earlier episode") < REENTRY_SHARE))
    ).join(first, on="nhs_number", how="left", maintain_order="left")
    hkey = _keys(history)
    start = pl.lit(window.start, dtype=pl.Int32).cast(pl.Date)
    ended = pl.min_horizontal(
        _before(pl.col("date_added"), 120 + unit(hkey, seed, "d2") * 240),
        _before(start, 1 + unit(hkey, seed, "d2 before window") * 90),
    )
    history = history.with_columns(ended.alias("d2")).with_columns(
        _before(pl.col("d2"), 60 + unit(hkey, seed, "d1") * 500).alias("d1")
    )
    hkey = _keys(history)
    for date, code in (
        (pl.col("d1"), _code(hkey, seed, "palcare", PALCARE_CODES)),
        (pl.col("d2"), PALCARENI_CODE),
    ):
        parts.append(_events(history, date, code, None))
    # ... and in each quarter of the window before they were added again: not on the register.
    quarters = pl.DataFrame(
        {"quarter": pl.Series(window.quarter_ends, dtype=pl.Int32).cast(pl.Date)}
    )
    off = (
        history.filter(pl.col("period") == pl.col("first_period"))
        .join(quarters, how="cross")
        .filter((pl.col("quarter") < pl.col("first_period")) & (pl.col("quarter") >= pl.col("d2")))
        .with_columns(pl.col("quarter").alias("period"))
    )
    okey = _keys(off)
    for date, code in (
        (pl.col("d1"), _code(okey, seed, "palcare", PALCARE_CODES)),
        (pl.col("d2"), PALCARENI_CODE),
    ):
        parts.append(_events(off, date, code, "not_on_register"))
    parts.append(_with_other_events(register, "date_added", seed))
    parts.append(_with_other_events(off, "date_added", seed))
    return pl.concat(parts)


def dementia_events(register: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The coded events of every practice-quarter delivery of the dementia register."""
    if not register.height:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    subtype = register["dementia_subtype"].fill_null("").to_list()
    code = pl.Series([DEMENTIA_CODES.get(s, DEMENTIA_CODE) for s in subtype], dtype=pl.String)
    diagnosed = _events(register, pl.col("date_diagnosed"), code, None)
    return pl.concat([diagnosed, _with_other_events(register, "date_diagnosed", seed)])


def gp_event_file(events: pl.DataFrame, day_first_dates: bool) -> pl.DataFrame:
    """One delivery's events in file order (person, date, code), as the practice writes them;
    the person key still an NHS number."""
    date_format = "%d/%m/%Y" if day_first_dates else "%Y-%m-%d"
    return events.sort("nhs_number", "event_date", "snomed_code").select(
        pl.col("nhs_number").alias("person_id"),
        "gp_practice_code",
        pl.col("event_date").dt.strftime(date_format),
        "snomed_code",
        FILTERED,
    )
