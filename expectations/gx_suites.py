"""Great Expectations suites: the extract contracts as GX objects, and GX results from findings.

The suites in `expectations/suites/<extract>.json` are the single source of every rule: GX
expectation types and arguments, diewell's rule id (`meta.rule`), the diewell column type
where GX's type cannot say it (`meta.column_type`), and a note in a provider's words of what a
failure means (`notes`). `expectations.contracts.load_contract` reads them (plain JSON, so the
fast path does not import GX); the Polars engine evaluates them; this module turns its
findings back into a GX `ExpectationSuiteValidationResult`, which GX renders as Data Docs.

`suite_from_contract` is the inverse of `load_contract`: a test checks that each suite file is
exactly what it builds, so a hand edit that GX or diewell would read differently fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from diewell import settings
from diewell.expectations.checks import (
    DATE_FORMATS,
    DATETIME_FORMATS,
    MAX_TEXT_LENGTH,
    MAX_YEARS_BEFORE_PERIOD_END,
    NHS_NUMBER_SHAPE,
    NUMBER_SHAPE,
    PATTERNS,
)
from diewell.expectations.contracts import (
    ICD10_LIST_ITEM,
    SUITES_DIR,
    Column,
    Contract,
    RowRule,
    contract_from_suite,
)

settings.use_default("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402  (after switching GX analytics off)

E = gx.expectations

_TYPE_WORDS = {
    "icd10": "an ICD-10 code such as C34.9, C349 or C34",
    "icd10_list": "ICD-10 codes separated by ';' (for example C34.9;J44)",
    "lsoa": "an LSOA 2021 code: E01 or W01 followed by 6 digits",
    "lsoa_2011": "an LSOA 2011 code: E01 or W01 followed by 6 digits",
    "ods_practice": "an ODS GP practice code: one letter and 5 digits (for example A81001)",
    "ods_code": "an ODS organisation code: 3 to 9 upper-case letters or digits",
    "code_text": "an NHS Data Dictionary code of 1 to 3 upper-case letters or digits",
    "cqc_location": "a CQC location id: 1- followed by 9 to 11 digits (for example 1-123456789)",
    "ods_or_cqc": "the organisation's ODS code (3 to 9 upper-case letters or digits) or, for a "
    "care home, its CQC location id (1- followed by 9 to 11 digits)",
}
HELD_BACK = "the row is held back (quarantined) and the rest of the file loads"


def _required(col: Column) -> list:
    c = col.name
    return [
        E.ExpectColumnToExist(
            column=c,
            meta={"rule": "required_column_missing"},
            notes=f"The file has no {c} column. The whole file is rejected and nothing of it "
            "loads: add the column (names are matched ignoring case and surrounding spaces) "
            "and re-send the file.",
        ),
        E.ExpectColumnValuesToNotBeNull(
            column=c,
            meta={"rule": "missing_required_value"},
            notes=f"{c} must be filled in on every row; a row with it empty: {HELD_BACK}. "
            "Complete it at source and re-send the file.",
        ),
    ]


def _type_expectations(col: Column) -> list:
    """The expectation that carries the column's type, and any range or set rules."""
    c, t = col.name, col.type
    meta = {"column_type": t}
    if col.description is not None:
        meta["column_description"] = col.description
    if t == "nhs_number":
        return [
            E.ExpectColumnValuesToMatchRegex(
                column=c,
                regex=NHS_NUMBER_SHAPE,
                meta={
                    "rule": "invalid_nhs_number",
                    **meta,
                    "normalise": "spaces and hyphens removed before the check",
                    "check": "modulus 11",
                },
                notes=f"{c} must be a 10-digit NHS number passing the modulus 11 check (spaces "
                f"or hyphens between the digit groups are fine). A mistyped, incomplete or "
                f"made-up number: {HELD_BACK}. Reports show only its last two digits.",
            )
        ]
    if t in ("date", "datetime"):
        formats = DATE_FORMATS if t == "date" else DATETIME_FORMATS
        shown = "YYYY-MM-DD or DD/MM/YYYY" if t == "date" else "YYYY-MM-DDTHH:MM[:SS] (ISO 8601)"
        return [
            E.ExpectColumnValuesToMatchStrftimeFormat(
                column=c,
                strftime_format=formats[0],
                meta={"rule": "unparseable_date", **meta, "formats": list(formats)},
                notes=f"{c} must be a real {t} written {shown}. Anything else (MM/DD/YYYY, "
                f"31 February, text): {HELD_BACK}.",
            ),
            E.ExpectColumnValuesToBeBetween(
                column=c,
                max_value={"$PARAMETER": "period_end"},
                meta={"rule": "date_after_period_end"},
                notes=f"{c} is after the reporting period end named in the file name: "
                f"{HELD_BACK}. Check the date, or the period in the file name.",
            ),
            E.ExpectColumnValuesToBeBetween(
                column=c,
                min_value={"$PARAMETER": "earliest_plausible_date"},
                meta={
                    "rule": "date_implausibly_early",
                    "years_before_period_end": MAX_YEARS_BEFORE_PERIOD_END,
                },
                notes=f"{c} more than {MAX_YEARS_BEFORE_PERIOD_END} years before the period "
                f"end is a typing error or a placeholder such as 1900-01-01: {HELD_BACK}.",
            ),
        ]
    if t in ("integer", "number"):
        if t == "integer":
            shape, rule = r"^-?[0-9]{1,18}$", "not_an_integer"
            words = "a whole number written with digits only (not 1,234, 12.0 or 12 patients)"
        else:
            shape, rule = NUMBER_SHAPE, "not_a_number"
            words = "a number written with digits and at most one decimal point (not 1,5 or 2h)"
        out = [
            E.ExpectColumnValuesToMatchRegex(
                column=c,
                regex=shape,
                meta={"rule": rule, **meta},
                notes=f"{c} must be {words}: {HELD_BACK}.",
            )
        ]
        if col.min is not None or col.max is not None or col.multiple_of is not None:
            bounds = {"min_value": col.min, "max_value": col.max}
            if col.min_exclusive:
                bounds["strict_min"] = True
            extra = {"multiple_of": col.multiple_of} if col.multiple_of is not None else {}
            lowest = "more than" if col.min_exclusive else "at least"
            words = " and ".join(
                w
                for w in (
                    f"{lowest} {col.min:g}" if col.min is not None else "",
                    f"at most {col.max:g}" if col.max is not None else "",
                    f"a multiple of {col.multiple_of}" if col.multiple_of is not None else "",
                )
                if w
            )
            out.append(
                E.ExpectColumnValuesToBeBetween(
                    column=c,
                    **{k: v for k, v in bounds.items() if v is not None},
                    meta={"rule": "value_out_of_range", **extra},
                    notes=f"{c} must be {words}; a value outside that: {HELD_BACK}.",
                )
            )
        return out
    if t == "code":
        m = {"rule": "value_not_allowed", **meta}
        if col.canonical:
            m["canonical"] = dict(col.canonical)
        return [
            E.ExpectColumnValuesToBeInSet(
                column=c,
                value_set=list(col.allowed),
                meta=m,
                notes=f"{c} must be one of the listed codes, written exactly so (codes are "
                f"case-sensitive: 'y' is not 'Y'). Any other value: {HELD_BACK}.",
            )
        ]
    if t == "icd10_list":
        return [
            E.ExpectColumnValuesToMatchRegex(
                column=c,
                regex=rf"^{ICD10_LIST_ITEM}(;{ICD10_LIST_ITEM})*$",
                meta={"rule": "invalid_code", **meta},
                notes=f"{c} must be {_TYPE_WORDS[t]}: {HELD_BACK}.",
            )
        ]
    if t in PATTERNS:
        return [
            E.ExpectColumnValuesToMatchRegex(
                column=c,
                regex=PATTERNS[t][0],
                meta={"rule": "invalid_code", **meta},
                notes=f"{c} must be {_TYPE_WORDS[t]}: {HELD_BACK}.",
            )
        ]
    if t == "text":
        return [
            E.ExpectColumnValueLengthsToBeBetween(
                column=c,
                max_value=MAX_TEXT_LENGTH,
                meta={"rule": "value_too_long", **meta},
                notes=f"{c} is free text of at most {MAX_TEXT_LENGTH} characters; a longer value "
                f"usually means columns have run together: {HELD_BACK}.",
            )
        ]
    raise ValueError(f"column {c}: unknown type {t}")


def _row_rule_query(r: RowRule, contract: Contract) -> str:
    """The rows a row rule holds back, as the SQL GX states an `unexpected_rows_expectation` in
    (diewell evaluates the rule itself, in Polars: expectations/checks.py)."""
    if r.check == "one_of_required":
        a, b = r.columns
        return f"SELECT * FROM {{batch}} WHERE {a} IS NULL AND {b} IS NULL"
    birth, death, age = r.columns
    bounds = contract.column(age)
    return (
        f"SELECT * FROM {{batch}} WHERE {birth} IS NOT NULL AND {age} IS NOT NULL "
        f"AND {death} >= {birth} AND {age} BETWEEN {bounds.min:g} AND {bounds.max:g} "
        f"AND date_sub('year', {birth}, {death}) <> {age}"
    )


def suite_from_contract(contract: Contract) -> gx.ExpectationSuite:
    """The GX suite that states a contract (the inverse of expectations.contracts.load_contract)."""
    expectations = []
    for col in contract.columns:
        if col.required:
            expectations += _required(col)
        expectations += _type_expectations(col)
    for r in contract.order_rules:
        expectations.append(
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=r.later,
                column_B=r.earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                meta={"rule": r.rule, "message": r.message},
                notes=f"{r.later} must not be before {r.earlier}: one of the two dates is wrong. "
                f"{HELD_BACK[0].upper()}{HELD_BACK[1:]}.",
            )
        )
    for r in contract.row_rules:
        expectations.append(
            E.UnexpectedRowsExpectation(
                unexpected_rows_query=_row_rule_query(r, contract),
                meta={
                    "rule": r.rule,
                    "check": r.check,
                    "columns": list(r.columns),
                    "message": r.message,
                },
                notes=f"{r.message}. {HELD_BACK[0].upper()}{HELD_BACK[1:]}.",
            )
        )
    key = list(contract.key)
    key_note = (
        f"{', '.join(key)} must identify one row of the file. Every copy of a repeated "
        f"{'key' if len(key) > 1 else key[0]} is held back, because diewell cannot tell which "
        "copy is right; remove the duplicates and re-send the file."
    )
    if len(key) == 1:
        expectations.append(
            E.ExpectColumnValuesToBeUnique(
                column=key[0], meta={"rule": "duplicate_key"}, notes=key_note
            )
        )
    else:
        expectations.append(
            E.ExpectCompoundColumnsToBeUnique(
                column_list=key, meta={"rule": "duplicate_key"}, notes=key_note
            )
        )
    if contract.load == "one_per_person":
        expectations.append(
            E.ExpectColumnValuesToNotBeInSet(
                column="nhs_number",
                value_set={"$PARAMETER": "people_with_a_death_in_another_delivery"},
                meta={"rule": "duplicate_death"},
                notes="A person dies once: a death for someone who already has a death in "
                "another current delivery is held back. If that earlier death is wrong, "
                "re-deliver its period without it; this row then loads on re-processing.",
            )
        )
    expectations.append(
        E.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "min_rows_from_previous_delivery"},
            meta={
                "rule": "volume_drop",
                "min_share_of_previous_delivery": contract.min_volume_share,
                "applies_from_previous_rows": contract.volume_rule_min_previous_rows,
            },
            notes=f"A file with under {contract.min_volume_share:.0%} of the rows of your previous "
            "delivery of this extract looks like a truncated export: the whole file is rejected "
            "and nothing of it loads. Re-send the complete extract; a period with nothing to "
            "report is sent as a header-only file (which is always accepted). The rule applies "
            f"only when that previous delivery had {contract.volume_rule_min_previous_rows} rows "
            "or more: a small service's quiet month is real.",
        )
    )
    for e in expectations:
        # GX renders `description` in place of its own wording on every Data Docs page (the
        # `notes` only on the suite's page): the rule id and the provider note, so a provider
        # reading a validation page sees what failed and what to do.
        e.description = f"[{e.meta['rule']}] {e.notes}"
    info = {
        "extract": contract.extract,
        "description": contract.description,
        "grain": contract.grain,
        "load": contract.load,
        "key": key,
    }
    if contract.latest_by is not None:
        info["latest_by"] = contract.latest_by
    return gx.ExpectationSuite(
        name=contract.extract,
        expectations=expectations,
        meta={
            "diewell": {
                **info,
                "file_rules": {
                    "too_many_rows_failing": {
                        "max_quarantined_share": contract.max_quarantined_share,
                        "notes": "When more than half of a file's rows would be held back, the "
                        "file is almost certainly mis-exported: the whole file is rejected and "
                        "nothing of it loads. Fix the export and re-send the whole file.",
                    }
                },
            }
        },
    )


def suite_json(contract: Contract) -> str:
    """The suite file's text: GX's own JSON form, indented for review."""
    data = suite_from_contract(contract).to_json_dict()
    data["meta"].pop("great_expectations_version", None)  # the file does not churn on upgrades
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class SuiteFile:
    """One suite file against its canonical form (`diewell suites`)."""

    path: Path
    canonical: str | None  # the text the file should have; None when it cannot be read
    reason: str | None  # why it is not canonical (one line); None when it is

    @property
    def ok(self) -> bool:
        return self.reason is None


def _first_difference(text: str, canonical: str) -> str:
    have, want = text.splitlines(), canonical.splitlines()
    for n, (a, b) in enumerate(zip(have, want, strict=False), start=1):
        if a != b:
            return f"line {n} is {a.strip()[:60]!r} where the canonical form has {b.strip()[:60]!r}"
    if len(have) != len(want):
        return f"it has {len(have)} lines where the canonical form has {len(want)}"
    return "it differs from the canonical form in white space or line endings"


def check_suite_file(path: Path) -> SuiteFile:
    """Whether a suite file is exactly what its contract builds (suite_json(contract_from_suite)),
    and if not why; a file that cannot be read as a suite has no canonical form."""
    try:
        text = path.read_text(encoding="utf-8")
        contract = contract_from_suite(json.loads(text))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return SuiteFile(path, None, f"cannot be read as a suite ({type(exc).__name__}: {exc})")
    except ValueError as exc:
        return SuiteFile(path, None, f"cannot be read as a suite: {exc}")
    if contract.extract != path.stem:
        return SuiteFile(
            path, None, f"its meta.diewell.extract is {contract.extract!r}, not the file's name"
        )
    canonical = suite_json(contract)
    if text == canonical:
        return SuiteFile(path, canonical, None)
    return SuiteFile(path, canonical, _first_difference(text, canonical))


def check_suites(folder: Path = SUITES_DIR) -> list[SuiteFile]:
    """Every suite file of a folder (<extract>.json), in name order, against its canonical form."""
    return [check_suite_file(path) for path in sorted(folder.glob("*.json"))]


def load_suite(extract: str, folder: Path = SUITES_DIR) -> gx.ExpectationSuite:
    """A suite file read back into a GX ExpectationSuite."""
    return gx.ExpectationSuite(**json.loads((folder / f"{extract}.json").read_text("utf-8")))


# --- results ------------------------------------------------------------------------------
