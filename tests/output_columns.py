"""The published output's columns and their Polars types (indicators.md, "Output schema"),
for tests that build indicator rows by hand: one list, so a schema change is made once."""

from __future__ import annotations

import polars as pl

OUTPUT_DTYPES = {
    "indicator_id": pl.String,
    "indicator_name": pl.String,
    "period_type": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "geography_level": pl.String,
    "geography_code": pl.String,
    "geography_name": pl.String,
    "breakdown": pl.String,
    "breakdown_value": pl.String,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "value": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "lower_99_8": pl.Float64,
    "upper_99_8": pl.Float64,
    "unit": pl.String,
    "statistic": pl.String,
    "polarity": pl.String,
    "comparator_value": pl.Float64,
    "comparison": pl.String,
    "trend": pl.String,
    "suppressed": pl.Boolean,
    "data_complete": pl.Boolean,
    "run_id": pl.String,
    "schema_version": pl.String,
}


def dtypes(*columns: str) -> dict[str, pl.DataType]:
    """The types of the columns named, in that order."""
    return {c: OUTPUT_DTYPES[c] for c in columns}
