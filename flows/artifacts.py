"""What each run reports to the people watching it (Prefect artifacts), as plain text and rows.

The flows turn these into artifacts: a markdown summary (files received and rejected,
quarantined rows by rule, indicators computed and published), a table of the headline
indicators and a link to the validation reports. Everything here is a count, a rule, a
contract file name or a published (disclosure-controlled) figure: never a row's values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from diewell.config import Config, ConfigError
from diewell.expectations.files import FILE_NAME, FileRejected, discover, parse_file_name
from diewell.expectations.report.quality.pages import quality_run_page
from diewell.expectations.report.validation_report import data_docs_index
from diewell.pipeline import HEADLINE_COLUMNS, RunSummary, headline_rows
from diewell.release import control, promote
from diewell.release import files as release_files
from diewell.sources.mesh import MeshPullSummary

LISTED_FILES = 10  # rejected files named per rule; the rest are counted


def report_paths(config: Config, release: Path | None, run_id: str | None = None) -> str:
    """Markdown naming the pages to open after a run, as paths (a browser refuses a file://
    link from the Prefect UI, so the path is shown for copying instead)."""
    lines = []
    current = config.outputs / promote.CURRENT
    for folder, what in ((release, "this run's release"), (current, "the current release")):
        if folder is not None and (folder / release_files.REPORT_FILE).is_file():
            lines.append(f'- "Die well" report of {what}: `{folder / release_files.REPORT_FILE}`')
            break
    quality = quality_run_page(config, run_id) if run_id else None
    if quality is not None and quality.is_file():
        lines.append(f"- Data quality report for providers (this run, one page each): `{quality}`")
    docs = data_docs_index(config)
    if docs.is_file():
        lines.append(f"- Validation results for engineers (GX Data Docs): `{docs}`")
    if not lines:
        return ""
    return "# Reports\n\nOpen these files in a browser on the machine that ran diewell:\n\n" + (
        "\n".join(lines) + "\n"
    )


@dataclass
class LandingSurvey:
    """The files waiting in the landing folder, by extract, and names ingest will reject."""

    folder: Path
    by_extract: Counter = field(default_factory=Counter)
    name_problems: Counter = field(default_factory=Counter)  # rule -> files

    @property
    def waiting(self) -> int:
        return sum(self.by_extract.values()) + sum(self.name_problems.values())


def survey_landing(config: Config) -> LandingSurvey:
    """Look at the landing folder without changing it: what tonight's load will find."""
    survey = LandingSurvey(config.landing)
    for path in discover(config.landing):
        try:
            survey.by_extract[parse_file_name(path, config).extract] += 1
        except FileRejected as rejection:
            survey.name_problems[rejection.rule] += 1
    return survey


def headline_preview(values: pl.DataFrame, config: Config, release_id: str) -> pl.DataFrame:
    """The headline rows (ICS, latest rolling 12 months), disclosure-controlled as if published.

    For runs that compute but do not publish: the same rows `pipeline.headline` reads back
    from a release, with the same disclosure control applied.
    """
    rows = headline_rows(values)
    if rows.is_empty():
        return pl.DataFrame(schema={c: values.schema.get(c, pl.String) for c in HEADLINE_COLUMNS})
    return (
        control.disclosure_controlled(rows, config, release_id)
        .select(HEADLINE_COLUMNS)
        .sort("indicator_id")
    )


def headline_table(headline: pl.DataFrame) -> list[dict]:
    """Rows for a table artifact: published figures only, suppressed values left blank."""

    def one_decimal(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return [
        {
            "indicator": r["indicator_id"],
            "name": r["indicator_name"],
            "numerator": r["numerator"],
            "denominator": r["denominator"],
            "value": one_decimal(r["value"]),
            "unit": r["unit"],
            "lower 95%": one_decimal(r["lower_95"]),
            "upper 95%": one_decimal(r["upper_95"]),
            "12 months to": None if r["period_end"] is None else str(r["period_end"]),
        }
        for r in headline.iter_rows(named=True)
    ]


# --- markdown --------------------------------------------------------------------------------


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return lines


def _n(x: int) -> str:
    return f"{x:,}"


def _mesh_lines(mesh: MeshPullSummary | None, mesh_problem: str | None) -> list[str]:
    if mesh_problem:
        return [
            "## MESH",
            "",
            f"The mailbox could not be polled: {mesh_problem}. Its messages wait there for "
            "the next pull; files already in the landing folder are unaffected.",
            "",
        ]
    if mesh is None:
        return []
    c = mesh.counts()
    lines = [
        f"## MESH mailbox {mesh.mailbox}",
        "",
        *_table(
            ("messages", "landed", "already landed", "rejected", "reports", "failed"),
            [
                (
                    _n(c["messages"]),
                    _n(c["landed"]),
                    _n(c["already_landed"]),
                    _n(c["rejected"]),
                    _n(c["reports"]),
                    _n(c["failed"]),
                )
            ],
        ),
        "",
    ]
    rejected = Counter(o.rule for o in mesh.outcomes if o.status == "rejected")
    if rejected:
        lines += [
            "Rejected messages by rule (stored with a reason file in the rejected folder): "
            + ", ".join(f"`{rule}` {n}" for rule, n in sorted(rejected.items())),
            "",
        ]
    if c["failed"]:
        lines += [
            f"**{c['failed']} message(s) could not be taken** and stay in the mailbox for the "
            "next pull; if this repeats, check the mailbox and the MESH service status.",
            "",
        ]
    return lines


def _files_lines(summary: RunSummary, config: Config) -> list[str]:
    lines = [
        "## Files received",
        "",
        *_table(
            (
                "loaded",
                "unchanged (loaded before)",
                "rejected",
                "rows loaded",
                "rows quarantined",
                "rows filtered by layouts",
            ),
            [
                (
                    _n(summary.count("loaded")),
                    _n(summary.count("unchanged")),
                    _n(summary.count("rejected")),
                    _n(summary.rows_loaded),
                    _n(summary.rows_quarantined),
                    _n(summary.rows_filtered),
                )
            ],
        ),
        "",
    ]
    by_extract: dict[str, Counter] = {}
    for f in summary.files:
        if f.extract:
            counts = by_extract.setdefault(f.extract, Counter())
            counts[f.status] += 1
            counts["rows_loaded"] += f.rows_loaded
            counts["rows_quarantined"] += f.rows_quarantined
            counts["rows_filtered"] += f.rows_filtered if f.status == "loaded" else 0
    if by_extract:
        lines += [
            *_table(
                (
                    "extract",
                    "loaded",
                    "unchanged",
                    "rejected",
                    "rows loaded",
                    "rows quarantined",
                    "rows filtered",
                ),
                [
                    (
                        f"`{extract}`",
                        _n(c["loaded"]),
                        _n(c["unchanged"]),
                        _n(c["rejected"]),
                        _n(c["rows_loaded"]),
                        _n(c["rows_quarantined"]),
                        _n(c["rows_filtered"]),
                    )
                    for extract, c in sorted(by_extract.items())
                ],
            ),
            "",
        ]
    if summary.rows_filtered:
        lines += [
            "## Rows filtered by layouts",
            "",
            *_table(
                ("reason", "rows"),
                [(f"`{r}`", _n(n)) for r, n in sorted(summary.filtered_by_reason().items())],
            ),
            "",
            "Rows a provider's national layout does not carry (docs/SOURCES.md): counted, not "
            "loaded, and not errors. Every row read is loaded, quarantined or filtered.",
            "",
        ]
    rejected = [f for f in summary.files if f.status == "rejected"]
    if rejected:
        rows = []
        for rule, n in sorted(Counter(f.rule for f in rejected).items(), key=lambda x: -x[1]):
            # only names that follow the contract are shown: any other name could hold anything
            names = sorted(
                f.file_name for f in rejected if f.rule == rule and FILE_NAME.match(f.file_name)
            )
            shown = ", ".join(f"`{name}`" for name in names[:LISTED_FILES])
            if len(names) > LISTED_FILES:
                shown += f" and {len(names) - LISTED_FILES} more"
            rows.append((f"`{rule}`", _n(n), shown or "(names not shown)"))
        lines += [
            "## Rejected files",
            "",
            *_table(("rule", "files", "names"), rows),
            "",
            f"Each rejected file is in `{config.rejected}` with `<file>.reason.txt` to send to "
            "the provider. Rejections are reported, not failures: the rest of the run went on.",
            "",
        ]
    return lines


def _quarantine_lines(quarantine: list[tuple[str, int, int]]) -> list[str]:
    if not quarantine:
        return ["## Quarantined rows by rule", "", "No rows were quarantined.", ""]
    return [
        "## Quarantined rows by rule",
        "",
        *_table(
            ("rule", "rows", "files"),
            [(f"`{r}`", _n(rows), _n(files)) for r, rows, files in quarantine],
        ),
        "",
        "A row that breaks several rules is counted under each. The rows themselves are in the "
        "warehouse table `quarantine_rows` (NHS numbers masked); this page holds counts only.",
        "",
    ]


def refresh_markdown(
    config: Config,
    summary: RunSummary,
    quarantine: list[tuple[str, int, int]],
    *,
    published: bool,
    reused: bool,
    mesh: MeshPullSummary | None = None,
    mesh_problem: str | None = None,
) -> str:
    """The run's summary page: files, rejections, quarantine, indicators, where things are."""
    lines = [
        f"# diewell refresh: {config.ics_name} ({config.ics_code})",
        "",
        f"Run `{summary.run_id}`. Analysts' warehouse: `{config.warehouse}`.",
        "",
        *_mesh_lines(mesh, mesh_problem),
        *_files_lines(summary, config),
        *_quarantine_lines(quarantine),
        "## Indicators",
        "",
    ]
    if reused:
        lines.append(
            "- Build and compute were skipped: nothing that feeds them changed since they last "
            "ran on this warehouse (cached). Run with `rebuild=True` to force them."
        )
    lines.append(
        f"- {_n(summary.indicator_rows)} indicator values (exact, in the warehouse table "
        f"`mart_indicator_values`) over {summary.periods} reporting periods; decedent cohort "
        f"{_n(summary.cohort_rows)} rows."
    )
    if published and summary.release is not None:
        lines.append(
            f"- Published release `{summary.release.name}` (disclosure-controlled): "
            f"`{summary.release}`, pointed at by `{config.outputs / promote.CURRENT}`."
        )
    elif summary.not_published:
        lines.append(f"- Nothing published: {summary.not_published}.")
    else:
        lines.append(
            "- Not published by this run (the monthly publication publishes). The headline "
            "table shows these figures disclosure-controlled as they would be published."
        )
    lines.append("")
    return "\n".join(lines)


def pull_markdown(
    config: Config,
    survey: LandingSurvey,
    mesh: MeshPullSummary | None,
    mesh_problem: str | None,
    key_problem: str | None,
) -> str:
    """The pull's summary page: what came from MESH and what waits for the nightly load."""
    lines = [f"# diewell pull: {config.ics_name} ({config.ics_code})", ""]
    if mesh is None and mesh_problem is None:
        lines += [
            f"No MESH mailbox is configured: providers put their files in `{config.landing}`.",
            "",
        ]
    lines += [
        *_mesh_lines(mesh, mesh_problem),
        "## Waiting for the nightly load",
        "",
        f"{_n(survey.waiting)} file(s) in `{survey.folder}`.",
        "",
    ]
    if survey.by_extract:
        lines += [
            *_table(
                ("extract", "files"),
                [(f"`{e}`", _n(n)) for e, n in sorted(survey.by_extract.items())],
            ),
            "",
        ]
    if survey.name_problems:
        lines += [
            "Files whose names the load will reject (the provider must re-send them named as "
            "the contract says): "
            + ", ".join(f"`{rule}` {n}" for rule, n in sorted(survey.name_problems.items())),
            "",
        ]
    if key_problem:
        lines += [f"**The nightly refresh will fail until this is fixed:** {key_problem}", ""]
    return "\n".join(lines)


def failure_markdown(config: Config | None, run_id: str | None, exc: BaseException) -> str:
    """What failed and what to do, for a run that stopped."""
    text = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    where = f"{config.ics_name} ({config.ics_code})" if config else "unknown ICS"
    if isinstance(exc, ConfigError):
        advice = "Fix the configuration or the environment as the message says, then run again."
    else:
        advice = (
            "Read the run's logs for the step that failed, fix the cause and run again. A "
            "release becomes current only after its audit passes, and the analysts' warehouse "
            "is replaced only when a run completes; loaded files are recognised by checksum, "
            "so a re-run loads nothing twice."
        )
    lines = [f"# diewell refresh failed: {where}", ""]
    if run_id:
        lines += [f"Run `{run_id}`.", ""]
    lines += [f"**Reason:** {reason}", "", advice, ""]
    return "\n".join(lines)
