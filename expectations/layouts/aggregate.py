"""Aggregation: several source rows form one contract row (episodes into a spell, a person's
coded events into a register row).

Rows are grouped by a formed column (`group_by`; a row whose key is empty is a group of its
own, for the contract to judge), ordered within the group (`order_by`, then source order),
and each output column is picked: `first` / `last` (the value on the first / last row),
`any` (`equals` when any row holds it, else `otherwise`), `earliest` / `latest` (of a date
column, over the rows meeting `where`), or the named built-in `qof_register_date_added`.

What quarantines a group, every source row of it: a row the row forms quarantined; a row whose
order value is not one (a date that is not a date, an episode number that is not a number);
rows that disagree on an `agree` column (`disagree_rule`). A group whose `drop_groups_without`
column comes out empty is filtered with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from diewell.expectations.layouts.conditions import as_integer, condition_expr
from diewell.expectations.layouts.model import FILTERED_SCHEMA, FINDINGS_SCHEMA, Layout
from diewell.expectations.layouts.operations import qof_register_date_added
from diewell.transforms.nhs_number import is_valid_nhs_number, mask

ROW, GROUP, ORDER = "__row", "__group", "__order"
ORDER_RULES = {"date": "unparseable_date", "integer": "not_a_whole_number", "text": "missing_value"}
ORDER_WORDS = {"date": "a date", "integer": "a whole number", "text": "a value"}


def mask_value(value: str | None) -> str | None:
    """A value as it may be shown: anything that is a valid NHS number is masked."""
    return mask(value) if value is not None and is_valid_nhs_number(value) else value


def masked(expr: pl.Expr) -> pl.Expr:
    return expr.map_elements(mask_value, return_dtype=pl.String, skip_nulls=True)


def _order_value(column: str, as_: str) -> pl.Expr:
    value = pl.col(column)
    if as_ == "integer":
        return as_integer(value)
    if as_ == "date":
        return value.str.to_date("%Y-%m-%d", strict=False)
    return value


def _pick(name: str, pick: Mapping, layout: Layout) -> pl.Expr:
    kind = pick["pick"]
    if kind == "first":
        return pl.col(pick["column"]).first().alias(name)
    if kind == "last":
        return pl.col(pick["column"]).last().alias(name)
    if kind == "any":
        hit = (pl.col(pick["column"]) == pick["equals"]).fill_null(False).any()
        return (
            pl.when(hit)
            .then(pl.lit(pick["equals"]))
            .otherwise(pl.lit(pick["otherwise"], dtype=pl.String))
            .alias(name)
        )
    if kind in ("earliest", "latest"):
        date = pl.col(pick["column"]).str.to_date("%Y-%m-%d", strict=False)
        if "where" in pick:
            date = date.filter(condition_expr(pick["where"], pl.col, layout.codelists))
        best = date.min() if kind == "earliest" else date.max()
        return best.dt.strftime("%Y-%m-%d").alias(name)
    return qof_register_date_added(pick, layout.codelists).alias(name)


def _findings(
    frame: pl.DataFrame, rule: str, column: str, value: pl.Expr, message: pl.Expr
) -> pl.DataFrame:
    return frame.select(
        pl.col(ROW).alias("source_row"),
        pl.lit(rule).alias("rule"),
        pl.lit(column).alias("column"),
        masked(value).alias("value"),
        message.alias("message"),
    ).cast(FINDINGS_SCHEMA)


def aggregate(
    frame: pl.DataFrame,
    spec: Mapping,
    layout: Layout,
    sources: Mapping[str, str],
    quarantined: pl.Series,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(groups kept, with their output columns, `__first` and `__rows`; findings; filtered).

    `frame` holds `__row` and the formed columns of the rows the filters kept;
    `quarantined` the source rows the row forms quarantined (their findings are made already).
    """
    key = spec["group_by"]
    key_source = sources.get(key, key)
    frame = frame.with_columns(
        pl.col(key).fill_null(pl.format("\u0000{}", pl.col(ROW))).alias(GROUP)
    )
    findings = [pl.DataFrame(schema=FINDINGS_SCHEMA)]
    bad_rows = [quarantined.cast(pl.Int64)]
    order = spec.get("order_by")
    if order:
        frame = frame.with_columns(_order_value(order["column"], order["as"]).alias(ORDER))
        unordered = frame.filter(
            pl.col(ORDER).is_null() & ~pl.col(ROW).is_in(bad_rows[0].implode())
        )
        raw, src_name = pl.col(order["column"]), sources.get(order["column"], order["column"])
        tail = f", so this row cannot take its place among the rows of its {key_source}"
        message = (
            pl.when(raw.is_null())
            .then(pl.lit(f"{src_name} is empty{tail}"))
            .otherwise(
                pl.concat_str(
                    [
                        pl.lit(f"{src_name} '"),
                        masked(raw),
                        pl.lit(f"' is not {ORDER_WORDS[order['as']]}{tail}"),
                    ]
                )
            )
        )
        findings.append(_findings(unordered, ORDER_RULES[order["as"]], src_name, raw, message))
        bad_rows.append(unordered[ROW])
    for column in spec["agree"]:
        src_name = sources.get(column, column)
        split = frame.filter(pl.col(column).n_unique().over(GROUP) > 1)
        if not split.height:
            continue
        values = split.group_by(GROUP).agg(
            pl.col(column)
            .fill_null("(empty)")
            .map_elements(mask_value, return_dtype=pl.String)
            .unique()
            .sort()
            .str.join("', '")
            .alias("__values")
        )
        split = split.join(values, on=GROUP, how="left")
        message = pl.concat_str(
            [
                pl.lit(f"the source rows of {key_source} '"),
                masked(pl.col(key)).fill_null(""),
                pl.lit(f"' disagree on {src_name} ('"),
                pl.col("__values"),
                pl.lit("'): every source row of it is held back"),
            ]
        )
        findings.append(_findings(split, spec["disagree_rule"], src_name, pl.col(column), message))
        bad_rows.append(split[ROW])
    bad = pl.concat(bad_rows).unique()
    bad_groups = (
        frame.filter(pl.col(ROW).is_in(bad.implode()))
        .group_by(GROUP)
        .agg(pl.col(ROW).min().alias("__problem_row"))
    )
    members = frame.join(bad_groups, on=GROUP, how="inner").filter(
        ~pl.col(ROW).is_in(bad.implode())
    )
    message = pl.concat_str(
        [
            pl.lit(f"held back with the other source rows of its {key_source} '"),
            masked(pl.col(key)).fill_null(""),
            pl.lit("': source row "),
            pl.col("__problem_row").cast(pl.String),
            pl.lit(" of it is quarantined"),
        ]
    )
    findings.append(
        _findings(members, "group_member_quarantined", key_source, pl.col(key), message)
    )

    good = frame.join(bad_groups.select(GROUP), on=GROUP, how="anti")
    good = good.sort([GROUP, ORDER, ROW] if order else [GROUP, ROW])
    picks = [_pick(name, pick, layout) for name, pick in spec["columns"].items()]
    groups = good.group_by(GROUP, maintain_order=True).agg(
        *picks, pl.col(ROW).min().alias("__first"), pl.col(ROW).alias("__rows")
    )
    drops = spec["drop_groups_without"]
    reason = pl.lit(None, dtype=pl.String)
    for column, why in reversed(list(drops.items())):
        reason = pl.when(pl.col(column).is_null()).then(pl.lit(why)).otherwise(reason)
    groups = groups.with_columns(reason.alias("__dropped"))
    filtered = (
        groups.filter(pl.col("__dropped").is_not_null())
        .select(pl.col("__rows").alias("source_row"), pl.col("__dropped").alias("reason"))
        .explode("source_row")
        .cast(FILTERED_SCHEMA)
    )
    kept = groups.filter(pl.col("__dropped").is_null()).sort("__first")
    return kept, pl.concat(findings), filtered
