"""GX validation results built from the row engine's findings (the findings of a run's files
of one extract as one ExpectationSuiteValidationResult), for the Data Docs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from diewell import settings

settings.use_default("GX_ANALYTICS_ENABLED", "false")  # before GX is imported
import great_expectations as gx  # noqa: E402  (after switching GX analytics off)
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)

PARTIAL_UNEXPECTED = 20  # offending values shown per expectation (already masked and cut)


def _volume_floor(suite: gx.ExpectationSuite, previous_rows: int | None) -> int:
    """The fewest rows the suite's volume rule lets through after a previous delivery of
    previous_rows (0: no floor, the rule does not apply)."""
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        if meta.get("rule") == "volume_drop":
            if not previous_rows or previous_rows < meta["applies_from_previous_rows"]:
                return 0
            return int(previous_rows * meta["min_share_of_previous_delivery"])
    return 0


def _column_of(kwargs: dict) -> str:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return kwargs["column_A"]
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return ""


@dataclass(frozen=True)
class FileFindings:
    """What one validated file contributes to its extract's GX result for the run (values
    already masked and escaped: `validation_report.sender_text`)."""

    file_name: str
    provider: str | None  # the provider its name names (None: a name that names none)
    period_end: dt.date
    rows_read: int
    rows_quarantined: int
    by_rule: (
        dict  # (rule, column) -> {"n", "values", "rows"} (validation_report.quarantine_by_rule)
    )
    columns_present: list[str]
    file_rule: tuple[str, str] | None = None  # (rule, reason) when a file rule rejected it
    previous_rows: int | None = None  # rows of the delivery it is measured against


def _labelled(value: object, file_name: str, row: int) -> str:
    shown = value if value is not None else "(empty)"
    return f"{shown} (in {file_name}, row {row})"


def validation_result(
    suite: gx.ExpectationSuite,
    *,
    files: list[FileFindings],
    run_id: str,
    run_time: dt.datetime,
    shown: int = 20,
    held_back_page: str | None = None,
    files_listed: int | None = None,
) -> ExpectationSuiteValidationResult:
    """One GX result for the files of one extract in one run, every provider's, built from the
    Polars findings: a page per run and extract, not per file or per provider, so the pages a
    run renders do not grow with the providers (the providers' own view, a page per run and
    provider, is `diewell.expectations.report.quality`).

    Each row rule counts the failing rows of every file (over the rows of every file) and shows
    up to `shown` offending values, each labelled with its file and row number; the file rules
    (a required column, the volume) succeed when every file passes them and name the files
    that did not. The files themselves, with their providers and outcomes, are in the result's
    meta, at most `files_listed` of them (every rejected one before any loaded one, each kept
    in the order given; None: all): GX serialises and renders every value of a result, some
    0.15 ms a file, so a result naming each file of a national first load would cost more
    than the rest of the report. The counts are of every file, and the run's data quality page
    (`held_back_page`) lists every file and the rows held back, as do its pages per provider.
    """
    rows_read = sum(f.rows_read for f in files)
    rejected = [f for f in files if f.file_rule is not None]
    results = []
    for expectation in suite.expectations:
        rule = (expectation.meta or {}).get("rule")
        config = expectation.configuration
        column = _column_of(config.kwargs)
        if rule == "required_column_missing":
            without = [f.file_name for f in files if column not in f.columns_present]
            results.append(
                ExpectationValidationResult(
                    success=not without,
                    expectation_config=config,
                    result={"observed_value": not without},
                    meta={"files_without_the_column": without},
                )
            )
            continue
        if rule == "volume_drop":
            dropped = [
                {
                    "file": f.file_name,
                    "rows": f.rows_read,
                    "previous_delivery_rows": f.previous_rows,
                    "min_rows": _volume_floor(suite, f.previous_rows),
                }
                for f in files
                if f.file_rule and f.file_rule[0] == "volume_drop"
            ]
            results.append(
                ExpectationValidationResult(
                    success=not dropped,
                    expectation_config=config,
                    result={"observed_value": rows_read},
                    meta={"files_under_their_volume_floor": dropped},
                )
            )
            continue
        n = 0
        values: list[str] = []
        for f in files:
            hit = f.by_rule.get((rule, column))
            if not hit:
                continue
            n += hit["n"]
            room = shown - len(values)
            values += [
                _labelled(v, f.file_name, r)
                for v, r in zip(hit["values"][:room], hit["rows"][:room], strict=True)
            ]
        percent = 100.0 * n / rows_read if rows_read else 0.0
        results.append(
            ExpectationValidationResult(
                success=n == 0,
                expectation_config=config,
                result={
                    "element_count": rows_read,
                    "unexpected_count": n,
                    "unexpected_percent": percent,
                    "unexpected_percent_nonmissing": percent,
                    "missing_count": 0,
                    "missing_percent": 0.0,
                    "partial_unexpected_list": values,
                },
            )
        )
    successful = sum(r.success for r in results)
    periods = sorted(f.period_end for f in files)
    listed = _files_listed(files, files_listed)
    return ExpectationSuiteValidationResult(
        success=successful == len(results) and not rejected,
        results=results,
        suite_name=suite.name,
        suite_parameters={
            "first_period_end": periods[0].isoformat() if periods else None,
            "last_period_end": periods[-1].isoformat() if periods else None,
            "files": len(files),
        },
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": 100.0 * successful / len(results) if results else 100.0,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "expectation_suite_name": suite.name,
            "run_id": {"run_name": run_id, "run_time": run_time.isoformat()},
            "validation_time": run_time.strftime("%Y%m%dT%H%M%S.%fZ"),
            "active_batch_definition": {
                "datasource_name": "landing",
                "data_connector_name": "diewell",
                "data_asset_name": suite.name,
                "batch_identifiers": {"run": run_id},
            },
            "batch_spec": {"extract": suite.name, "files": [f.file_name for f in listed]},
            "diewell": {
                "providers": sorted({f.provider for f in files if f.provider}),
                "rows_read": rows_read,
                "rows_quarantined": sum(f.rows_quarantined for f in files),
                "rows_held_back_are_listed_in": held_back_page,
                "files_not_listed": len(files) - len(listed),
                "every_file_is_listed_in": held_back_page,
                "files": [
                    {
                        "file_name": f.file_name,
                        "provider": f.provider,
                        "period_end": f.period_end.isoformat(),
                        "outcome": "rejected" if f.file_rule else "loaded",
                        "rows_read": f.rows_read,
                        "rows_quarantined": f.rows_quarantined,
                        "file_rule": f.file_rule[0] if f.file_rule else None,
                        "reason": f.file_rule[1] if f.file_rule else None,
                    }
                    for f in listed
                ],
            },
        },
    )


def _files_listed(files: list[FileFindings], limit: int | None) -> list[FileFindings]:
    """The files a result names, up to `limit` in all (None: every file): every rejected one
    is chosen before any loaded one, and the chosen keep the order given."""
    if limit is None or len(files) <= limit:
        return files
    rejected = [i for i, f in enumerate(files) if f.file_rule is not None][:limit]
    loaded = [i for i, f in enumerate(files) if f.file_rule is None][: limit - len(rejected)]
    return [files[i] for i in sorted(rejected + loaded)]
