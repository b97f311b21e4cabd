"""What validation tells people: the providers' data quality pages, GX Data Docs for every
run, and a summary per provider.

At the end of each ingest run `record_run`:
1. writes `meta_validation_summary`: per (run, provider, extract) the files seen, loaded,
   rejected and unchanged, rows read, loaded and quarantined, and rows quarantined by rule
   (rows read = rows loaded + rows quarantined is a CHECK);
2. writes the data quality pages providers are sent (`diewell.expectations.report.quality`): one self-contained
   page per run and one per provider, in `quality/` beside `data_docs/`, opening offline;
3. stores one Great Expectations validation result per extract of the run, every provider's
   files in it (in `validation_results_dir`), and builds the GX Data Docs site
   (`data_docs_dir`): a page per run and extract listing each expectation of its suite, its
   provider note, how many rows of the run's files failed it, and up to 20 of them (offending
   values masked and cut, each with its file and row number); up to `FILES_LISTED` of the
   files (every rejected one first), with their providers and outcomes, are in the page's
   info, which names the quality page that lists them all; and an index of the newest
   `INDEX_RESULTS` results.
   (A page per file cost GX some 40 ms a file, more than the rest of a first load; a page per
   provider and extract still grew with the ICS: 155 pages, 7.5 s of a 77 s run at benchmark
   size S. The providers' view, a page per run and provider, is the quality pages.)

A Data Docs failure fails the run after everything is committed: the warehouse holds the
loaded rows, the quarantine and the summary, the results are stored, and the next run
rebuilds the site from the stored results. Nothing is lost, and a missing report is loud.

Counts, rules and masked values only: never an NHS number or a whole row. GX writes the values
it is given into its pages as they are, so every text that came from a sender (offending
values, file names, reasons) is HTML-escaped here, before GX sees it (`sender_text`): a
value such as `<img src=x onerror=...>` is shown as those characters and never becomes markup.
The stored GX results hold the escaped text too; they exist only to build these pages.

The Data Docs are an engineer's view (the quality pages are the providers'), and they open
offline too: GX's templates load Bootstrap, jQuery, bootstrap-table, Font Awesome, Vega and
the rest from public CDNs, so after GX writes its pages `make_offline` copies the same files,
vendored at the same versions in `validation_report_vendor/` (its README names each package,
version and licence), to `data_docs/static/vendor/` and points every page at them with a path
relative to the page's folder. GX's logo comes from GX's own `static/images/`, its links to
its website become plain text and its newsletter footer is dropped: no page refers to
anything outside the machine, and a build whose pages still would (a GX release that loads
something new) fails, loudly, like any Data Docs failure.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.expectations.report.quality import quality_run_page, render_quality_pages
from diewell.transforms.sender_text import for_html, sender_logger

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.validation")

SITE_NAME = "diewell"
BATCH = "all_providers"  # a result's batch: every provider's files of its extract in the run
INDEX_RESULTS = 200  # results the index lists, newest first (some 14 runs of every extract)
SHOWN_PER_RULE = 20  # offending (masked) values per rule kept by ingest and shown on a GX page
FILES_LISTED = 100  # files a GX result names (rejected first); the quality pages list them all

VENDOR = Path(__file__).resolve().parent / "gx_vendor"
VENDOR_IN_SITE = "static/vendor"  # where the vendored files go in data_docs/
# Every address GX's Data Docs templates load a style or script from, and the vendored file
# (validation_report_vendor/README.md: same package, same version) that replaces it.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "forevolve-bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fortawesome-fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/dist/umd/popper.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
}
# The GX logo on GX's web-asset bucket (no package anywhere): GX copies the same picture
# into static/images/, so the pages show that one.
GX_WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
LOCAL_LOGO = "static/images/logo-long.png"


def _progress(stage: str, done: int, total: int) -> None:
    log.info("validation reports: %s %d/%d pages (%d%%)", stage, done, total, 100 * done // total)


def data_docs_dir(config: Config) -> Path:
    """The Data Docs folder: `data_docs/` beside the outputs folder (the config's folder by default)."""
    return config.outputs.parent / "data_docs"


def data_docs_index(config: Config) -> Path:
    """The Data Docs index page (what the run's Prefect artifact links to)."""
    return data_docs_dir(config) / "index.html"


def validation_results_dir(config: Config) -> Path:
    """Where the GX validation results (JSON) are kept, so each run's site lists every run."""
    return config.outputs.parent / "validation_results"


def record_run(
    con: duckdb.DuckDBPyConnection, config: Config, run_id: str, outcomes, data_docs=None
) -> None:
    """Write the run's validation summary and the providers' quality pages, then store its GX
    results and build the Data Docs: by `data_docs` (a started
    `data_docs_process.DataDocsProcess`, which imported GX while the files loaded) when
    given, else here."""
    write_summary(con, run_id, outcomes)
    if outcomes:
        pages = render_quality_pages(con, config, run_id, outcomes)
        run_page = pages[0].relative_to(config.outputs.parent).as_posix()
        log.info(
            "data quality pages for providers: %d written, the run's is %s", len(pages), run_page
        )
    validated = [o for o in outcomes if o.validation is not None]
    if not validated:
        return
    settings = {  # read now, in the run's process (a test may have changed them)
        "index_results": INDEX_RESULTS,
        "files_listed": FILES_LISTED,
        "shown": SHOWN_PER_RULE,
    }
    if data_docs is not None:
        data_docs.build(config, run_id, validated, settings)
    else:
        build_data_docs(config, run_id, validated, **settings)


def summary_rows(run_id: str, outcomes) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for o in outcomes:
        g = groups.setdefault(
            (o.provider, o.extract),
            {
                "run_id": run_id,
                "provider": o.provider,
                "extract": o.extract,
                "files": 0,
                "files_loaded": 0,
                "files_unchanged": 0,
                "files_rejected": 0,
                "files_superseded": 0,
                "rows_read": 0,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "rows_filtered": 0,
                "quarantined_by_rule": Counter(),
                "rejected_by_rule": Counter(),
                "filtered_by_reason": Counter(),
            },
        )
        g["files"] += 1
        g[f"files_{o.status}"] += 1
        if o.status == "loaded":
            g["rows_read"] += o.rows_read
            g["rows_loaded"] += o.rows_loaded
            g["rows_quarantined"] += o.rows_quarantined
            g["rows_filtered"] += o.rows_filtered
            g["quarantined_by_rule"].update(o.quarantined_by_rule)
            g["filtered_by_reason"].update(o.filtered_by_reason)
        elif o.status == "rejected":
            g["rejected_by_rule"][o.rule] += 1
    rows = []
    for g in groups.values():
        g["quarantined_by_rule"] = dict(sorted(g["quarantined_by_rule"].items()))
        g["rejected_by_rule"] = dict(sorted(g["rejected_by_rule"].items()))
        g["filtered_by_reason"] = dict(sorted(g["filtered_by_reason"].items()))
        rows.append(g)
    return sorted(rows, key=lambda r: (r["provider"] or "", r["extract"] or ""))


def write_summary(con: duckdb.DuckDBPyConnection, run_id: str, outcomes) -> None:
    """Replace the run's rows of meta_validation_summary (a re-run of ingest rewrites them)."""
    rows = summary_rows(run_id, outcomes)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta_validation_summary WHERE run_id = ?", [run_id])
        for r in rows:
            con.execute(
                "INSERT INTO meta_validation_summary (run_id, provider, extract, files, "
                "files_loaded, files_unchanged, files_rejected, rows_read, rows_loaded, "
                "rows_quarantined, quarantined_by_rule, rejected_by_rule, files_superseded, "
                "rows_filtered, filtered_by_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "MAP(?::VARCHAR[], ?::BIGINT[]), MAP(?::VARCHAR[], ?::BIGINT[]), ?, ?, "
                "MAP(?::VARCHAR[], ?::BIGINT[]))",
                [
                    r["run_id"],
                    r["provider"],
                    r["extract"],
                    r["files"],
                    r["files_loaded"],
                    r["files_unchanged"],
                    r["files_rejected"],
                    r["rows_read"],
                    r["rows_loaded"],
                    r["rows_quarantined"],
                    list(r["quarantined_by_rule"]),
                    list(r["quarantined_by_rule"].values()),
                    list(r["rejected_by_rule"]),
                    list(r["rejected_by_rule"].values()),
                    r["files_superseded"],
                    r["rows_filtered"],
                    list(r["filtered_by_reason"]),
                    list(r["filtered_by_reason"].values()),
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _context(config: Config, index_results: int):
    """An ephemeral GX context whose results store and Data Docs site are diewell's folders;
    its index lists the newest `index_results` results."""
    from diewell.expectations import (
        gx_suites as suites,  # imports GX (a few seconds): only when a report is built
    )

    gx = suites.gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    project = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir(config)),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": index_results,
                },
            }
        },
    )
    project.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(validation_results_dir(config)),
        },
    }
    return gx.get_context(project_config=project, mode="ephemeral")


def sender_text(value: object) -> object:
    """A sender's text made safe for an HTML page (`sender_text.for_html`: neutral, then &, <,
    > and quotes escaped); other values as they are (numbers, None)."""
    return for_html(value)


def _escaped_findings(by_rule: dict) -> dict:
    """`quarantine_by_rule`'s findings with every offending value escaped for the page."""
    return {
        key: {**hit, "values": [sender_text(v) for v in hit["values"]]}
        for key, hit in by_rule.items()
    }


def build_data_docs(
    config: Config,
    run_id: str,
    validated,
    *,
    index_results: int | None = None,
    files_listed: int | None = None,
    shown: int | None = None,
) -> Path:
    """Store one GX result per extract of the run (every validated file of it, from every
    provider) and render their pages, the suites' pages and the index; return the index.
    (DataDocsSite then its `build`; the Data Docs' process makes the site while the files
    load.) The keywords stand for INDEX_RESULTS, FILES_LISTED and SHOWN_PER_RULE (the run
    passes its own values to the Data Docs' process)."""
    site = DataDocsSite(config, index_results)
    return site.build(run_id, validated, files_listed=files_listed, shown=shown)


class DataDocsSite:
    """The GX Data Docs site in diewell's folders, every suite of the contract in it and its
    page rendered (expectations/<extract>.html: every validation page and the index link to
    their suite's): what a run's pages need before the run has any result.

    A result per run and extract, not per file nor per provider: GX costs some 20 ms to store
    a result and as much again to render its page, whatever it holds, so the pages a run
    renders are bounded by the extracts, not by the ICS's size (docs/VALIDATION.md gives the
    figures). The index lists the newest `index_results` (INDEX_RESULTS) results: GX reads
    back every result it lists, every run, so an index of every run ever would grow without
    end."""

    def __init__(self, config: Config, index_results: int | None = None) -> None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        from diewell.expectations import extract_names
        from diewell.expectations import gx_suites as suites

        self.config = config
        self.context = _context(config, INDEX_RESULTS if index_results is None else index_results)
        self.suites = {extract: suites.load_suite(extract) for extract in extract_names()}
        for suite in self.suites.values():
            self.context.suites.add(suite)
        suite_keys = {ExpectationSuiteIdentifier(extract) for extract in self.suites}
        self.context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=suite_keys)

    def build(
        self, run_id: str, validated, *, files_listed: int | None = None, shown: int | None = None
    ) -> Path:
        """Store the run's results (a GX result per extract) and render their pages and the
        index; return the index."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        from diewell.expectations import gx_suites as suites

        config = self.config
        groups: dict[str, list] = defaultdict(list)
        for o in validated:
            groups[o.extract].append(o)
        files_listed = FILES_LISTED if files_listed is None else files_listed
        shown = SHOWN_PER_RULE if shown is None else shown
        run_time = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        held_back_page = quality_run_page(config, run_id).relative_to(config.outputs.parent)
        keys = []
        for done, (extract, outcomes) in enumerate(sorted(groups.items()), 1):
            result = suites.validation_result(
                self.suites[extract],
                files=[_file_findings(o) for o in outcomes],
                run_id=run_id,
                run_time=run_time,
                shown=shown,
                held_back_page=held_back_page.as_posix(),
                files_listed=files_listed,
            )
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(extract),
                run_id=RunIdentifier(run_name=run_id, run_time=run_time),
                batch_identifier=BATCH,
            )
            self.context.validation_results_store.set(key, result)
            keys.append(key)
            _progress("stored", done, len(groups))
        # GX tests each stored result for membership of the identifiers it is given: a set
        # keeps that linear. (Never an empty set: GX takes no identifiers to mean every page
        # of every run.)
        self.context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=set(keys))
        _progress("rendered", len(keys), len(keys))
        make_offline(data_docs_dir(config))
        index = data_docs_index(config)
        log.info(
            "validation reports (GX Data Docs) for %d files, a page per extract (%d): %s",
            len(validated),
            len(keys),
            index,
        )
        return index


def _file_findings(o):
    """A validated file's findings for its provider's GX result; every text a sender wrote
    (its name, offending values, reasons) escaped (`sender_text`) before GX sees it."""
    from diewell.expectations.gx_suites import FileFindings

    v = o.validation
    return FileFindings(
        file_name=sender_text(o.file_name),
        provider=sender_text(o.provider),
        period_end=v["period_end"],
        rows_read=v["rows_read"],
        rows_quarantined=v["rows_quarantined"],
        by_rule=_escaped_findings(v["by_rule"]),
        columns_present=v["columns_present"],
        file_rule=(o.rule, sender_text(o.reason)) if o.status == "rejected" else None,
        previous_rows=v["previous_rows"],
    )


# Each pattern starts with literal text, which the regex engine scans for quickly (a page is
# some 50 kB): an address in quotes, the attribute's name checked before it.
_NETWORK_ATTR = re.compile(r'="(https?://[^"]*)"')
_NEWSLETTER = re.compile(
    r'<footer>\s*<p>Stay current on everything GX[^<]*<a href="[^"]*">[^<]*</a></p>\s*</footer>'
)
_WEB_LINK = re.compile(r'<a href="https?://[^"]*">([^<]*)</a>')
_SRI = re.compile(r' integrity="sha\d+-[^"]*" crossorigin="anonymous"')
_FAVICON = re.compile(r'href="(?:\./|(?:\.\./)*)static/images/favicon\.ico"')
_GX_LOGO_URL = re.compile(r"url\('" + re.escape(GX_WEB_ASSETS) + r"[^']*'\)")
_ADDRESS = re.compile(r"https?://")
_LOADS_IT = re.compile(r'(?:src|href)\s*=\s*[\'"]?\s*$|url\(\s*[\'"]?\s*$')  # just before it
HEAD_BYTES = 4096  # GX's pages load their assets at the top: a page made offline has no
# address there, so the rest of a page already rewritten is never read again


def _vendor_into(site: Path) -> None:
    """Copy the vendored files to `static/vendor/` in the site (each only when it changed)."""
    for source in VENDOR.rglob("*"):
        if not source.is_file():
            continue
        target = site / VENDOR_IN_SITE / source.relative_to(VENDOR)
        stat = source.stat()
        try:
            current = target.stat()
            if (current.st_size, current.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                continue
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def offline_text(text: str, up: str) -> str:
    """A GX page (or stylesheet) with every address outside the machine replaced by a path to
    the vendored copy, `up` ("../" once per folder below the site's root) leading back to
    the root. Only GX's own markup is touched: a sender's text is HTML-escaped before GX
    sees it (`sender_text`), so it holds no `src="...` to match."""

    def local(match: re.Match) -> str:
        url = match.group(1)
        if not match.string.endswith((" src", " href"), 0, match.start()):
            return match.group(0)
        if url in CDN_ASSETS:
            return f'="{up}{VENDOR_IN_SITE}/{CDN_ASSETS[url]}"'
        if url.startswith(GX_WEB_ASSETS + "logo-long.png"):
            return f'="{up}{LOCAL_LOGO}"'
        return match.group(0)

    text = _NETWORK_ATTR.sub(local, text)
    text = _SRI.sub("", text)  # a browser refuses a CORS fetch of a file:// script
    text = _NEWSLETTER.sub("", text)
    text = _WEB_LINK.sub(r"\1", text)  # a link to GX's website: its words, as plain text
    text = _GX_LOGO_URL.sub(f"url('{up}{LOCAL_LOGO}')", text)
    # GX writes the icon's path one folder short on validation pages
    return _FAVICON.sub(f'href="{up}static/images/favicon.ico"', text)


def network_reference(text: str) -> int | None:
    """Where the first address outside the machine in a `src`, an `href` or a CSS `url()`
    starts, or None (an address in plain text, or escaped, is no load)."""
    for found in _ADDRESS.finditer(text):
        if _LOADS_IT.search(text, max(0, found.start() - 12), found.start()):
            return found.start()
    return None


def make_offline(site: Path) -> None:
    """Vendor the site's styles and scripts and point every page and GX stylesheet at them.

    Pages already rewritten (nothing outside the machine in their head) are skipped after
    reading their first few kilobytes, so a rebuild costs in proportion to its new pages; a
    page left from before this rewrite, or one GX wrote again, is rewritten. Raises when an
    address outside the machine is left: a GX release that loads something new fails loudly
    instead of leaving pages that fail offline."""
    _vendor_into(site)
    files = [*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]
    for path in files:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
        if b"http://" not in head and b"https://" not in head and path.suffix == ".html":
            continue
        text = path.read_text(encoding="utf-8")
        depth = len(path.relative_to(site).parts) - 1
        offline = offline_text(text, "../" * depth)
        left = network_reference(offline)
        if left is not None:
            raise ValueError(
                f"a Data Docs file ({path.relative_to(site).as_posix()}) still loads from the "
                f"network: {offline[max(0, left - 20) : left + 100]!r}"
            )
        if offline != text:
            partial = path.with_name(path.name + ".partial")
            partial.write_text(offline, encoding="utf-8")
            os.replace(partial, path)


def quarantine_by_rule(findings: pl.DataFrame, shown: int) -> dict:
    """Per (rule, column): rows failing, and the first `shown` (masked) values, their row
    numbers and the messages saying what to fix."""
    if not findings.height:
        return {}
    grouped = findings.group_by("rule", "column", maintain_order=True).agg(
        pl.col("row_number").n_unique().alias("n"),
        pl.col("value").head(shown).alias("values"),
        pl.col("row_number").head(shown).alias("rows"),
        pl.col("message").head(shown).alias("messages"),
    )
    out: dict = defaultdict(dict)
    for r in grouped.iter_rows(named=True):
        out[(r["rule"], r["column"])] = {
            "n": r["n"],
            "values": r["values"],
            "rows": r["rows"],
            "messages": r["messages"],
        }
    return dict(out)
