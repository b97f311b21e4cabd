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
   (Not a page per file, nor per provider and extract: those grew with the ICS and cost more
   than the load; the providers' view, a page per run and provider, is the quality pages.)

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
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from diewell.expectations.report.offline import make_offline
from diewell.expectations.report.quality import quality_run_page, render_quality_pages
from diewell.expectations.report.summary import SHOWN_PER_RULE, write_summary
from diewell.transforms.sender_text import for_html, sender_logger

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.validation")

SITE_NAME = "diewell"
BATCH = "all_providers"  # a result's batch: every provider's files of its extract in the run
INDEX_RESULTS = 200  # results the index lists, newest first (some 14 runs of every extract)
FILES_LISTED = 100  # files a GX result names (rejected first); the quality pages list them all


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

        from diewell.expectations import gx_results

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
            result = gx_results.validation_result(
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
    from diewell.expectations.gx_results import FileFindings

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


# address there, so the rest of a page already rewritten is never read again
