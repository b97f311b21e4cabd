"""Layouts: national data as it arrives, mapped to a contract extract by configuration.

A layout (sources.md v3) is a YAML file saying how files of one shape become rows of a
contract extract: which source columns it reads, how each contract column is formed, which
rows it filters out and why, what it quarantines, and how several source rows aggregate into
one contract row. The five built-in layouts are in `builtin/`; an ICS adds its own (and its own
code lists and lookups) in its configuration folders: adding a layout is a file, not code.

The file format, in brief (README.md beside this file has it in full, with examples):

    layout: <name>              # the file's name, without .yaml
    description: <text>
    extends: <layout>           # optional: start from another layout, override by entry
    source:                     # source columns, matched ignoring case
      required: [COLUMN, ...]   # a missing one rejects the file (required_column_missing)
      optional: [COLUMN, ...]   # may be absent (then empty on every row)
    codelists:                  # name -> {file: x.csv, list: <list>, column: code} (or a list of them)
    lookups:                    # name -> {supplied: true} (values given at apply time)
                                #      or {file: x.csv, key: <column>, value: <column>}
    targets:
      <extract>:
        filters:                # in order; a matching row is filtered with the reason
          - {reason: <reason>, when: <condition>}
        columns:                # contract column -> form
          <column>: {form: <form>, from: COLUMN, ...}
        markers: {...}          # extra output columns (neonatal), formed the same way
        working: {...}          # helper columns for aggregation, not output
        aggregate: {...}        # several source rows -> one contract row

Forms: copy (the default), constant (`value:`), date (`formats:` YYYY-MM-DD, YYYYMMDD,
DD/MM/YYYY), datetime (a date column, an optional `time:` column), icd10, join (several
columns, `clean: icd10`, `separator: ";"`), lookup (`table:`), map (`codes:`, `compare: text |
integer`, `unknown: quarantine | keep | {default: <value>, warning: <rule>}`, `meaning:`),
rules (an ordered table of `{when: <condition>, value: | from:}` and `otherwise:`), and the
named built-in out_of_hours. Aggregation picks: first, last, any, earliest, latest and the named
built-in qof_register_date_added. Conditions: see `conditions`.

Every code list and lookup file carries its provenance in a sidecar `<stem>.source`.
"""

from diewell.expectations.layouts.apply import apply_layout
from diewell.expectations.layouts.loading import builtin_layout_names, find_layout, load_layout
from diewell.expectations.layouts.model import (
    CodeList,
    Layout,
    LayoutColumnMissing,
    LayoutError,
    LayoutNotFound,
    LayoutOutcome,
    Lookup,
    Provenance,
    Target,
)

__all__ = [
    "CodeList",
    "Layout",
    "LayoutColumnMissing",
    "LayoutError",
    "LayoutNotFound",
    "LayoutOutcome",
    "Lookup",
    "Provenance",
    "Target",
    "apply_layout",
    "builtin_layout_names",
    "find_layout",
    "load_layout",
]
