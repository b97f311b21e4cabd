"""The providers' data quality pages: one self-contained HTML page per run and one per provider.

Each page says what was sent (files, by extract and period), what loaded, what was held back
and why (by rule, with row numbers, the masked value and the wording a provider can act on),
and which files were rejected whole and why. It opens offline: the NHS.UK frontend CSS
vendored for the report is inlined, there is no script, and the page's Content Security
Policy forbids any request.

Written at the end of ingest (`validation_report.record_run`) beside the GX Data Docs:

    <folder of the outputs>/quality/run-<run_id>.html            every provider
    <folder of the outputs>/quality/<run_id>/<provider>.html     one provider

Everything a sender wrote (file names, values, reasons) is text to Jinja2, whose autoescape
turns it into characters, never markup. NHS numbers are shown masked as ingest records them
(`transforms.nhs_number.mask`); as a second line of defence any 10-digit run passing the
modulus 11 check in a shown value or message is masked too.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import jinja2

from diewell.expectations.report.stylesheet import offline_stylesheet
from diewell.transforms.sender_text import neutral

if TYPE_CHECKING:
    from diewell.config import Config

HERE = Path(__file__).resolve().parent
QUALITY_DIR = "quality"
ROWS_SHOWN_PER_RULE = 200  # held-back rows listed per (file, rule, column); the rest counted
UNATTRIBUTED = "unattributed"  # files whose name names no provider: on the run page only
EMPTY_VALUE = "(empty)"
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class Example:
    row_number: int
    value: str
    message: str


@dataclass
class RuleView:
    """The rows of one file held back by one rule on one column."""

    rule: str
    column: str
    rows: int
    examples: list[Example] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(self.rows - len(self.examples), 0)


@dataclass
class FileView:
    file_name: str
    status: str  # loaded | rejected | unchanged
    extract: str | None
    provider: str | None
    period_end: dt.date | None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rule: str | None = None
    reason: str | None = None
    held_back: list[RuleView] = field(default_factory=list)
    # A national layout's file (sources.md v3): rows it filtered out, per reason, and codes it
    # sent to a default (rule, column, code, rows): not errors, shown beside the held-back rows.
    layout: str | None = None
    rows_filtered: int = 0
    filtered_by_reason: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


@dataclass
class ProviderView:
    code: str
    name: str
    files: list[FileView]

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    def rows(self, what: str) -> int:
        return sum(getattr(f, what) for f in self.files if f.status == "loaded")

    @property
    def by_extract(self) -> list[tuple[str, list[FileView]]]:
        groups: dict[str, list[FileView]] = defaultdict(list)
        for f in self.files:
            groups[f.extract or "not known"].append(f)
        return [
            (extract, sorted(files, key=lambda f: (f.period_end or dt.date.min, f.file_name)))
            for extract, files in sorted(groups.items())
        ]

    @property
    def held_back_by_rule(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = defaultdict(int)
        for f in self.files:
            for r in f.held_back:
                counts[r.rule] += r.rows
        return sorted(counts.items())


def shown(value: object) -> str:
    """A sender's value as a page shows it: empty said in words, identifier shapes masked."""
    if value is None or value == "":
        return EMPTY_VALUE
    return str(neutral(str(value)))


def quality_dir(config: Config) -> Path:
    """The folder of the quality pages: `quality/` beside `data_docs/` (next to the outputs)."""
    return config.outputs.parent / QUALITY_DIR


def quality_run_page(config: Config, run_id: str) -> Path:
    """The run's page (every provider): what the run's Prefect artifact should name."""
    return quality_dir(config) / f"run-{_safe(run_id)}.html"


def provider_page(config: Config, run_id: str, provider: str) -> Path:
    """One provider's page for the run."""
    return quality_dir(config) / _safe(run_id) / f"{_safe(provider)}.html"


def _safe(name: str) -> str:
    if not SAFE_NAME.match(name) or name in (".", ".."):
        raise ValueError("a run id or provider code that cannot name a file")
    return name


def _rule_views(by_rule: dict) -> list[RuleView]:
    """RuleViews from a FileOutcome's `validation["by_rule"]` (the first values of each rule)."""
    views = []
    for (rule, column), hit in sorted(by_rule.items()):
        messages = hit.get("messages") or [""] * len(hit["rows"])
        views.append(
            RuleView(
                rule,
                column,
                hit["n"],
                [
                    Example(row, shown(value), shown(message))
                    for row, value, message in zip(
                        hit["rows"], hit["values"], messages, strict=True
                    )
                ],
            )
        )
    return views


def file_views(outcomes) -> list[FileView]:
    """One FileView per FileOutcome-like result (file_name, status, extract, provider, rows_*,
    rule, reason, validation), from what the result itself holds: no warehouse needed."""
    views = []
    for o in outcomes:
        v = o.validation or {}
        views.append(
            FileView(
                file_name=o.file_name,
                status=o.status,
                extract=o.extract,
                provider=o.provider,
                period_end=v.get("period_end") or getattr(o, "period_end", None),
                rows_read=o.rows_read,
                rows_loaded=o.rows_loaded,
                rows_quarantined=o.rows_quarantined,
                rule=o.rule,
                reason=shown(o.reason) if o.reason else None,
                held_back=_rule_views(v.get("by_rule") or {}) if o.status == "loaded" else [],
                layout=getattr(o, "layout", None),
                rows_filtered=getattr(o, "rows_filtered", 0),
                filtered_by_reason=sorted((getattr(o, "filtered_by_reason", None) or {}).items()),
                warnings=[
                    {k: shown(w[k]) if k == "code" else w[k] for k in w}
                    for w in getattr(o, "warnings", None) or []
                ],
            )
        )
    return views


def _from_warehouse(con: duckdb.DuckDBPyConnection, run_id: str, views: list[FileView]) -> None:
    """Fill in each file's period and every held-back row (up to ROWS_SHOWN_PER_RULE per
    rule) from `landing_files` and `quarantine_rows`."""
    files = con.execute(
        "SELECT file_name, max(file_id), any_value(period_end) FROM landing_files "
        "WHERE run_id = ? GROUP BY file_name",
        [run_id],
    ).fetchall()
    ids = {name: (file_id, period) for name, file_id, period in files}
    loaded = {}
    for view in views:
        if view.file_name in ids:
            file_id, period = ids[view.file_name]
            view.period_end = view.period_end or period
            if view.status == "loaded":
                loaded[file_id] = view
    unchanged = [v for v in views if v.status == "unchanged" and v.period_end is None]
    if unchanged:  # an identical re-send is not recorded again: its period is the loaded one's
        periods = dict(
            con.execute(
                "SELECT file_name, any_value(period_end) FROM landing_files WHERE status = "
                "'loaded' AND file_name IN (SELECT unnest(?::VARCHAR[])) GROUP BY file_name",
                [[v.file_name for v in unchanged]],
            ).fetchall()
        )
        for v in unchanged:
            v.period_end = periods.get(v.file_name)
    if not loaded:
        return
    held = con.execute(
        """
        SELECT file_id, rule, column_name, count(DISTINCT row_number),
               list({'row': row_number, 'value': value, 'message': message}
                    ORDER BY row_number)[1:?]
        FROM quarantine_rows WHERE file_id IN (SELECT unnest(?::BIGINT[]))
        GROUP BY file_id, rule, column_name ORDER BY file_id, rule, column_name
        """,
        [ROWS_SHOWN_PER_RULE, list(loaded)],
    ).fetchall()
    rules: dict[int, list[RuleView]] = defaultdict(list)
    for file_id, rule, column, n, rows in held:
        examples = [Example(r["row"], shown(r["value"]), shown(r["message"])) for r in rows]
        rules[file_id].append(RuleView(rule, column, n, examples))
    for file_id, view in loaded.items():
        view.held_back = rules.get(file_id, [])


@functools.cache
def _environment() -> jinja2.Environment:
    """One Jinja2 environment for every page (it compiles each template once)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _providers(views: list[FileView], names: dict[str, str]) -> list[ProviderView]:
    groups: dict[str, list[FileView]] = defaultdict(list)
    for v in views:
        groups[v.provider or UNATTRIBUTED].append(v)
    return [
        ProviderView(
            code,
            "Files whose name names no provider" if code == UNATTRIBUTED else names.get(code, code),
            files,
        )
        for code, files in sorted(groups.items(), key=lambda kv: (kv[0] == UNATTRIBUTED, kv[0]))
    ]


def render_file_pages(
    outcomes,
    title: str,
    provider_names: dict[str, str] | None = None,
    heading: str = "Data quality report",
) -> str:
    """The HTML of one self-contained quality page for FileOutcome-like results, from what
    they hold alone (no warehouse): what `diewell check --page` can write."""
    return _page(file_views(outcomes), title, heading, provider_names or {}, links={})


def _page(
    views: list[FileView],
    title: str,
    heading: str,
    names: dict[str, str],
    links: dict[str, str],
    back: str | None = None,
) -> str:
    providers = _providers(views, names)
    return (
        _environment()
        .get_template("quality.html.j2")
        .render(
            css=offline_stylesheet(),
            title=title,
            heading=heading,
            providers=providers,
            links=links,
            back=back,
            rows_shown=ROWS_SHOWN_PER_RULE,
            files_sent=len(views),
            files_rejected=sum(v.status == "rejected" for v in views),
            rows_held_back=sum(v.rows_quarantined for v in views if v.status == "loaded"),
            rows_filtered=sum(v.rows_filtered for v in views if v.status == "loaded"),
        )
    )


def render_quality_pages(
    con: duckdb.DuckDBPyConnection, config: Config, run_id: str, outcomes
) -> list[Path]:
    """Write the run's page and one page per provider; return their paths (run page first)."""
    views = file_views(outcomes)
    _from_warehouse(con, run_id, views)
    names = {p.code: p.name or p.code for p in config.providers}
    ics = config.ics_name
    run_page = quality_run_page(config, run_id)
    by_provider: dict[str | None, list[FileView]] = defaultdict(list)  # one pass over the files
    for v in views:
        by_provider[v.provider].append(v)
    codes = sorted(code for code in by_provider if code)
    links = {c: f"{_safe(run_id)}/{_safe(c)}.html" for c in codes}
    run_page.parent.mkdir(parents=True, exist_ok=True)
    run_page.write_text(
        _page(views, f"{ics}: data quality, run {run_id}", "Data quality report", names, links),
        encoding="utf-8",
    )
    written = [run_page]
    for code in codes:
        page = provider_page(config, run_id, code)
        page.parent.mkdir(parents=True, exist_ok=True)
        mine = by_provider[code]
        page.write_text(
            _page(
                mine,
                f"{names.get(code, code)}: data quality, run {run_id}",
                f"Data quality report for {names.get(code, code)}",
                names,
                links={},
                back=f"../{run_page.name}",
            ),
            encoding="utf-8",
        )
        written.append(page)
    return written
