"""The indicator catalogue (catalogue.yaml, one entry per indicator beside its SQL file): what
each indicator is, how it is computed and published, and which share a denominator."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import polars as pl
import yaml

from diewell.warehouse import SQL_DIR

LEVELS = {"ics": None, "place": "place_code", "pcn": "pcn_code", "practice": "practice_code"}


BREAKDOWN_COLUMNS = {
    "all": None,
    "age_band": "age_band",
    "sex": "sex",
    "imd_quintile": "imd_quintile",
    "condition_group": "condition_group",
    "ethnicity": "ethnicity",
    "audience_sector": "audience_sector",  # ED01 only (indicators.md v2)
}


# An indicator's `disclosure` (catalogue.yaml): "people" (the default) or COUNTS_NOT_PEOPLE,
# for indicators that count staff and organisations (ED01, ED02), which disclosure rules 1
# and 3 do not apply to (transforms.disclosure, `not_people`).
PEOPLE = "people"


COUNTS_NOT_PEOPLE = "counts_not_people"


SNAPSHOT_TABLE = "snapshot_table"  # the load of reference extracts (ref_lsoa, ref_care_homes, ...)


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    definition: str
    numerator: str
    denominator: str
    statistic: str
    polarity: str
    unit: str
    source_extracts: tuple[str, ...]
    breakdowns: tuple[str, ...]
    shares_denominator: str | None = None  # a set whose numerators sum to one denominator
    levels: tuple[str, ...] = tuple(LEVELS)  # the geography levels it is published at
    disclosure: str = PEOPLE
    # (extract, days): a period is complete only once every provider of that extract has
    # delivered up to `days` after the period end (BV01: the 90-day bereavement window).
    follow_up: tuple[str, int] | None = None
    plausible: str | None = None  # the range a value should fall in, and why (docs only)
    # v3: a monthly SPC series is published for it (ICS, all people: spc.parquet), from the
    # first month whose deaths' facts look back (this many days) only over delivered months
    spc: bool = False
    spc_lookback_days: int = 0

    @property
    def sql(self) -> str:
        return (SQL_DIR / "indicators" / f"{self.id}.sql").read_text(encoding="utf-8")


def _indicator(entry: dict) -> Indicator:
    """One catalogue entry, its levels, breakdowns and disclosure checked against the known ones."""
    follow_up = entry.get("follow_up")
    indicator = Indicator(
        **{
            **entry,
            "source_extracts": tuple(entry["source_extracts"]),
            "breakdowns": tuple(entry["breakdowns"]),
            "levels": tuple(entry.get("levels", LEVELS)),
            "follow_up": (follow_up["extract"], int(follow_up["days"])) if follow_up else None,
        }
    )
    unknown = [
        *(f"level {v}" for v in indicator.levels if v not in LEVELS),
        *(f"breakdown {v}" for v in indicator.breakdowns if v not in BREAKDOWN_COLUMNS),
        *(
            [f"disclosure {indicator.disclosure}"]
            if indicator.disclosure not in (PEOPLE, COUNTS_NOT_PEOPLE)
            else []
        ),
        *([f"statistic {indicator.statistic}"] if indicator.statistic not in AGGREGATES else []),
    ]
    if unknown:
        raise ValueError(f"catalogue.yaml {indicator.id}: unknown {', '.join(unknown)}")
    return indicator


@cache
def catalogue() -> tuple[Indicator, ...]:
    raw = yaml.safe_load((SQL_DIR / "indicators" / "catalogue.yaml").read_text(encoding="utf-8"))
    return tuple(_indicator(entry) for entry in raw)


def counts_not_people() -> set[str]:
    """Ids of the indicators whose counts are not of people: disclosure rules 1 and 3 skip them."""
    return {i.id for i in catalogue() if i.disclosure == COUNTS_NOT_PEOPLE}


def catalogue_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "indicator_id": i.id,
                "indicator_name": i.name,
                "definition": i.definition,
                "numerator": i.numerator,
                "denominator": i.denominator,
                "statistic": i.statistic,
                "polarity": i.polarity,
                "unit": i.unit,
                "source_extracts": ", ".join(i.source_extracts),
            }
            for i in catalogue()
        ]
    )


def spc_indicators() -> tuple[Indicator, ...]:
    """The indicators with a monthly SPC series (catalogue `spc: true`), in id order."""
    return tuple(sorted((i for i in catalogue() if i.spc), key=lambda i: i.id))


def shared_denominators() -> dict[str, str]:
    """Indicator id -> the shared-denominator set it belongs to (disclosure control rule 3)."""
    return {i.id: i.shares_denominator for i in catalogue() if i.shares_denominator}


def release_parts(indicator_ids: Iterable[str]) -> list[tuple[str, ...]]:
    """The indicators in id order, cut into the smallest runs of consecutive ids that each
    hold every member of a shared-denominator set they touch.

    Every disclosure control rule, and every audit rule, looks within one indicator or one
    such set (rule 3), so each part can be controlled, stored and audited alone, and the
    parts one after another are the release in SORT_KEYS order. What a run holds in memory
    at once is then one part's rows, not the release's: at 10M people, several GiB less.
    A part larger than PART_ROWS is cut further, by geography (geography_chunks).
    """
    ids = sorted(set(indicator_ids))
    sets = shared_denominators()
    last_member = {sets[i]: n for n, i in enumerate(ids) if i in sets}  # n rises: the last
    parts: list[tuple[str, ...]] = []
    part: list[str] = []
    reach = -1  # the position the current part must run to, at least
    for n, indicator_id in enumerate(ids):
        part.append(indicator_id)
        if indicator_id in sets:
            reach = max(reach, last_member[sets[indicator_id]])
        if n >= reach:
            parts.append(tuple(part))
            part = []
    return parts


AGGREGATES = {
    # statistic -> the aggregate columns over an indicator's unit rows
    "proportion": "CAST(sum(numerator) AS BIGINT) AS numerator, "
    "CAST(sum(denominator) AS BIGINT) AS denominator",
    "rate_per_100": "CAST(sum(numerator) AS BIGINT) AS numerator, "
    "CAST(sum(denominator) AS BIGINT) AS denominator",
    "mean": "CAST(sum(numerator) AS BIGINT) AS numerator, "
    "CAST(sum(denominator) AS BIGINT) AS denominator",
    # HU07: a day total (numerator) over the people it is spent by (denominator).
    "percentage_of_time": "CAST(sum(numerator) AS BIGINT) AS numerator, "
    "CAST(sum(denominator) AS BIGINT) AS denominator",
    # A median has no numerator; its denominator is the number of units it is taken over.
    "median": "CAST(NULL AS BIGINT) AS numerator, CAST(sum(denominator) AS BIGINT) AS denominator, "
    "CAST(median(unit_value) AS DOUBLE) AS value",
    # A DSR is aggregated per age band here and standardised in add_statistics.
    "dsr": "esp_band, CAST(sum(numerator) AS BIGINT) AS numerator, "
    "CAST(sum(denominator) AS BIGINT) AS denominator",
    # A count (ED01: attendances) is its numerator; it has no denominator.
    "count": "CAST(sum(numerator) AS BIGINT) AS numerator, CAST(NULL AS BIGINT) AS denominator",
}
