"""The published monthly series charted (transforms/spc_series.chart_table, spc.parquet's chart
columns) and disclosure-controlled (release/spc.py): a suppressed month is not plotted and
breaks no run; the limits come from the published values only; every month follows the
indicators' disclosure rules."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from diewell.release.spc import SPC_DTYPES, controlled_months, spc_rows
from diewell.transforms.spc import xmr
from diewell.transforms.spc_series import CHART_COLUMNS, chart_table
from diewell.warehouse.indicators.catalogue import catalogue
from diewell.warehouse.indicators.monthly import calendar_months, series_start


def month_ends(n: int, start: dt.date = dt.date(2025, 1, 1)) -> list[dt.date]:
    return [last for _, last in calendar_months(start, dt.date(2100, 1, 1))[:n]]


def series(indicator: str, values: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "indicator_id": [indicator] * len(values),
            "period_end": month_ends(len(values)),
            "value": values,
        },
        schema={"indicator_id": pl.String, "period_end": pl.Date, "value": pl.Float64},
    )


STEADY = [50.0, 52, 49, 51, 50, 53, 48, 50, 51, 49, 52, 50]


def test_the_chart_columns_are_xmr_of_the_published_values():
    values = [*STEADY, 70.0]  # the 13th month far above the limits
    charted = chart_table(series("PD06", values), {"PD06": "higher_is_better"})
    expected = xmr(values, improvement="increase")
    assert charted["centre_line"].to_list() == [p.mean for p in expected.points]
    assert charted["upper_process_limit"].to_list() == [p.upl for p in expected.points]
    last = charted.row(-1, named=True)
    assert last["outside_limits"] and last["special_cause"] == "improvement"
    assert last["special_cause_side"] == "high"
    assert set(charted["variation_icon"]) == {"improvement_high"}
    assert set(charted["reading"]) == {"special cause: improving in January 2026"}
    assert set(charted.columns) >= set(CHART_COLUMNS)


def test_a_suppressed_month_is_not_plotted_and_breaks_no_run():
    # 7 months above the centre line with a suppressed month among them: still a shift
    values = [*STEADY, 60.0, 61, 62, None, 60, 61, 62, 60]
    charted = chart_table(series("PD01", values), {"PD01": "none"})
    gap = charted.row(15, named=True)
    assert gap["value"] is None
    assert gap["shift"] is None and gap["special_cause"] is None  # not plotted
    assert gap["centre_line"] == charted["centre_line"][0]  # the lines run on across it
    after = charted.slice(12).filter(pl.col("value").is_not_null())
    assert after["shift"].all() and set(after["special_cause"]) == {"neither"}


def test_the_baseline_is_the_first_12_published_months():
    values = [None, *STEADY, 90.0, 95.0]
    charted = chart_table(series("HU02", values), {"HU02": "lower_is_better"})
    assert charted["baseline_months"][0] == 12
    assert charted["centre_line"][0] == pytest.approx(sum(STEADY) / 12, rel=1e-12)
    assert charted.row(-1, named=True)["special_cause"] == "concern"  # higher is worse


def test_each_indicator_is_its_own_chart_and_a_target_gives_assurance():
    both = pl.concat([series("PD03", STEADY), series("ID01", [v + 20 for v in STEADY])])
    charted = chart_table(
        both, {"PD03": "none", "ID01": "higher_is_better"}, targets={"ID01": 99.0}
    )
    by_id = {k[0]: g for k, g in charted.group_by("indicator_id")}
    assert by_id["ID01"]["centre_line"][0] == pytest.approx(by_id["PD03"]["centre_line"][0] + 20)
    assert set(by_id["ID01"]["assurance_icon"]) == {"consistent_fail"}  # 99% above the limits
    assert by_id["PD03"]["assurance_icon"].is_null().all()  # no target
    assert set(by_id["PD03"]["target"].to_list()) == {None}


def test_an_unknown_polarity_is_refused():
    with pytest.raises(ValueError, match="polarity"):
        chart_table(series("PD03", STEADY), {})


def test_calendar_months_are_whole_months_inside_the_span():
    months = calendar_months(dt.date(2024, 1, 15), dt.date(2024, 4, 29))
    assert months == [
        (dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 31)),
    ]
    assert calendar_months(dt.date(2024, 12, 1), dt.date(2025, 1, 31))[-1][1] == dt.date(
        2025, 1, 31
    )


def test_a_series_starts_once_its_events_cover_the_look_back():
    by_id = {i.id: i for i in catalogue()}
    first = {"deaths": dt.date(2023, 10, 1), "ae_attendances": dt.date(2023, 10, 1)}
    start = dt.date(2023, 10, 1)
    # HU06 looks back 90 days over A&E: deaths from January 2024 only
    assert series_start(by_id["HU06"], first, start) == dt.date(2024, 1, 1)
    # PD03 reads deaths alone: from the first month
    assert series_start(by_id["PD03"], first, start) == start
    # ID01 reads the register, whose every delivery holds its history
    register = {**first, "palliative_register": dt.date(2024, 6, 1)}
    assert series_start(by_id["ID01"], register, start) == start


def exact(rows: list[tuple[str, int, int]], end: dt.date = dt.date(2025, 1, 31)) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator_id": i,
                "period_start": end.replace(day=1),
                "period_end": end,
                "numerator": n,
                "denominator": d,
                "data_complete": True,
            }
            for i, n, d in rows
        ]
    )


def test_a_month_follows_the_disclosure_rules():
    deaths = 203
    place = [("PD01", 60, deaths), ("PD02", 41, deaths), ("PD03", 94, deaths)]
    place += [("PD04", 5, deaths), ("PD05", 3, deaths)]  # both small: hidden (rule 1)
    months = controlled_months(exact([*place, ("HU06", 117, 201)]), "QXX").to_dicts()
    shown = {r["indicator_id"]: r for r in months}
    assert shown["PD04"]["suppressed"] and shown["PD05"]["suppressed"]
    assert shown["PD04"]["numerator"] is None and shown["PD04"]["value"] is None
    assert (shown["PD01"]["numerator"], shown["PD01"]["denominator"]) == (60, 205)
    assert shown["PD01"]["value"] == pytest.approx(100 * 60 / 205, rel=1e-12)  # rule 2
    assert (shown["HU06"]["numerator"], shown["HU06"]["denominator"]) == (115, 200)


def test_one_small_place_hides_the_next_smallest_in_the_same_month():
    deaths = 200
    place = [("PD01", 60, deaths), ("PD02", 41, deaths), ("PD03", 84, deaths)]
    place += [("PD04", 12, deaths), ("PD05", 3, deaths)]
    shown = {r["indicator_id"]: r for r in controlled_months(exact(place), "QXX").to_dicts()}
    assert shown["PD05"]["suppressed"] and shown["PD04"]["suppressed"]  # rule 3
    assert not shown["PD02"]["suppressed"]


def test_spc_rows_hold_the_schema_columns_in_key_order():
    rows = []
    for k, end in enumerate(month_ends(14)):
        rows += exact([("PD03", 80 + k, 200), ("HU06", 3 if k == 5 else 100, 200)], end).to_dicts()
    out = spc_rows(pl.DataFrame(rows), ics_code="QXX", ics_name="An ICS", run_id="r1")
    assert out.schema == pl.Schema(SPC_DTYPES)
    assert out["indicator_id"].to_list() == ["HU06"] * 14 + ["PD03"] * 14
    hidden = out.filter(pl.col("suppressed"))
    assert hidden.height == 1 and hidden["value"][0] is None and hidden["shift"][0] is None
    assert set(out["unit"]) == {"%"} and set(out["geography_code"]) == {"QXX"}
    assert set(out.filter(pl.col("indicator_id") == "HU06")["polarity"]) == {"lower_is_better"}
