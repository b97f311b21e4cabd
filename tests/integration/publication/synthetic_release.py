"""The fixed small synthetic ICS of the publication tests, its run, and its ground truth.

`run_synthetic_ics` generates the ICS (always the same arguments, so the same extracts), runs
pipeline.refresh without Prefect (every step, in the order it lists) and
captures everything logged or printed on the way. `render_ground_truth` turns a release into
the reviewed snapshot kept in tests/integration/publication/ground_truth/ (see test_backtest.py and
regenerate_ground_truth.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from diewell import pipeline
from diewell.config import Config, load_config
from diewell.expectations.files import FileRejected, discover, parse_file_name
from diewell.expectations.reading import read_delivery
from diewell.release import files as release_files
from diewell.synth import synthesize
from diewell.warehouse.indicators import compute as indicators
from diewell.warehouse.indicators import schema as output_schema
from diewell.warehouse.indicators.schema import dtypes

# The fixed ICS. Changing any of these changes the ground truth (regenerate and review it).
SEED = 1
POPULATION = 20_000
YEARS = 2
END_DATE = dt.date(2026, 9, 30)
DEFECT_RATE = 0.0005
PSEUDO_KEY = "publication-tests-key-0123456789abcdef"  # fixed, so every run links the same way

GROUND_TRUTH = Path(__file__).resolve().parent / "ground_truth"
REGENERATE = ".venv/bin/python tests/integration/publication/regenerate_ground_truth.py"
LOG_FORMAT = "%(levelname)s %(name)s %(message)s"


@dataclass
class SyntheticRun:
    root: Path
    config: Config
    con: duckdb.DuckDBPyConnection
    run_id: str  # the pipeline run (meta_runs)
    release_id: str  # the release; published as the rows' run_id
    values: pl.DataFrame  # exact, as computed into mart_indicator_values
    release: Path
    logs: list[str] = field(default_factory=list)  # every record, formatted with tracebacks
    printed: str = ""  # stdout and stderr written during the run
    birth_dates: set[str] = field(default_factory=set)  # raw date_of_birth values delivered
    nhs_numbers: set[str] = field(default_factory=set)  # raw nhs_number values delivered


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _delivered_people(config: Config) -> tuple[set[str], set[str]]:
    """The raw date_of_birth and nhs_number strings of every delivered file that has them."""
    births, numbers = set(), set()
    for path in discover(config.landing):
        try:
            df = read_delivery(parse_file_name(path, config)).rows
        except FileRejected:
            continue
        for name, bucket in (("date_of_birth", births), ("nhs_number", numbers)):
            if name in df.columns:
                bucket.update(v.strip() for v in df[name].drop_nulls().to_list() if v.strip())
    return births, numbers


def run_synthetic_ics(root: Path) -> SyntheticRun:
    """Generate the fixed ICS under root and run the pipeline on it, capturing its output."""
    os.environ["DIEWELL_PSEUDO_KEY"] = PSEUDO_KEY
    config_path = synthesize(
        root,
        seed=SEED,
        population=POPULATION,
        years=YEARS,
        end_date=END_DATE,
        defect_rate=DEFECT_RATE,
    )
    config = load_config(config_path)
    births, numbers = _delivered_people(config)
    run_id = pipeline.new_run_id()

    collect = _Collect()
    root_logger, diewell_logger = logging.getLogger(), logging.getLogger("diewell")
    level = diewell_logger.level
    root_logger.addHandler(collect)
    diewell_logger.setLevel(logging.DEBUG)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            summary = pipeline.RunSummary(run_id)
            pipeline.refresh(config, summary)
            con = pipeline.open_warehouse(config)  # the run's warehouse, for the tests to query
            values = indicators.read_values(con)
    finally:
        root_logger.removeHandler(collect)
        diewell_logger.setLevel(level)
    return SyntheticRun(
        root=root,
        config=config,
        con=con,
        run_id=run_id,
        release_id=summary.release_id,
        values=values,
        release=summary.release,
        logs=collect.lines,
        printed=printed.getvalue(),
        birth_dates=births,
        nhs_numbers=numbers,
    )


# --------------------------------------------------------------------------------------------
# Ground truth: a reviewed snapshot of the published figures (run_id and times left out)

KEY = output_schema.PRIMARY_KEY
FIGURES = [
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "lower_99_8",
    "upper_99_8",
]
READABLE_DECIMALS = 4  # the readable files; the digests below use 8
DIGEST_DECIMALS = 8


def _csv(df: pl.DataFrame, decimals: int) -> str:
    return df.write_csv(float_precision=decimals, line_terminator="\n")


def _figure_tables(df: pl.DataFrame) -> dict[str, str]:
    """The two readable ground-truth files from published rows (from a release, or from the
    independent calculation): trend markers and the SII's simulated limits are left to the
    digests, as the independent calculation does not work them out."""
    sii = pl.col("breakdown") == "imd_sii"
    df = df.with_columns(
        pl.when(sii).then(None).otherwise(pl.col(c)).alias(c) for c in FIGURES[3:]
    ).sort(KEY)
    rolling = df.filter(pl.col("period_type") == "rolling_12m")["period_end"].max()
    financial = df.filter(pl.col("period_type") == "financial_year")["period_end"].max()
    latest = ((pl.col("period_type") == "rolling_12m") & (pl.col("period_end") == rolling)) | (
        (pl.col("period_type") == "financial_year") & (pl.col("period_end") == financial)
    )
    # 1. The ICS, every breakdown, the latest rolling 12 months and financial year.
    ics = df.filter((pl.col("geography_level") == "ics") & latest).select(
        "indicator_id",
        "period_type",
        "period_end",
        "breakdown",
        "breakdown_value",
        *FIGURES,
        "suppressed",
        "data_complete",
    )
    # 2. Every place, PCN and practice, whole cohort, the latest rolling 12 months.
    areas = df.filter(
        (pl.col("geography_level") != "ics")
        & (pl.col("breakdown") == "all")
        & (pl.col("period_type") == "rolling_12m")
        & (pl.col("period_end") == rolling)
    ).select(
        "indicator_id",
        "geography_level",
        "geography_code",
        *FIGURES,
        "comparator_value",
        "comparison",
        "suppressed",
    )
    return {
        "ics_latest_periods.csv": _csv(ics, READABLE_DECIMALS),
        "areas_latest_rolling_12m.csv": _csv(areas, READABLE_DECIMALS),
    }


def independent_figure_tables(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The readable ground-truth files worked out from the warehouse's exact counts by the
    independent calculation (tests/integration/publication/independent_release.py)."""
    from tests.integration.publication.independent_release import independent_release

    exact = pl.from_arrow(con.sql("SELECT * FROM mart_indicator_values").arrow())
    published = independent_release(exact.to_dicts())
    figures = pl.DataFrame(
        [
            dict(zip(KEY, k, strict=True))
            | {c: v[c] for c in (*FIGURES, "suppressed")}
            | {"comparator_value": v["comparator_value"], "comparison": v["comparison"]}
            for k, v in published.items()
        ],
        schema_overrides=dtypes(*FIGURES, "comparator_value", "period_end"),
    )
    rows = exact.select(*KEY, "data_complete").join(figures, on=KEY, how="inner")
    return _figure_tables(rows)


def render_ground_truth(release: Path) -> dict[str, str]:
    """File name -> text of every ground-truth file for a release."""
    df = release_files.read_indicators(release)
    df = pl.from_arrow(df).drop("run_id").sort(KEY)
    # 3. Every row, as a digest per indicator x period x geography level: any change to any
    #    published figure anywhere changes one of these lines.
    groups = ["indicator_id", "period_type", "period_end", "geography_level"]
    digests = []
    for keys, part in df.group_by(groups, maintain_order=True):
        text = _csv(part.sort(KEY), DIGEST_DECIMALS)
        digests.append(
            {
                **dict(zip(groups, keys, strict=True)),
                "rows": part.height,
                "suppressed": int(part["suppressed"].sum()),
                "numerator_sum": part["numerator"].sum(),
                "denominator_sum": part["denominator"].sum(),
                "digest": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
            }
        )
    digest_frame = pl.DataFrame(digests).sort(groups)
    # 4. The catalogue, and 5. the manifest without run id, times, versions and checksums.
    catalogue = pl.read_parquet(release / release_files.CATALOGUE_FILE)
    manifest = json.loads((release / release_files.MANIFEST_FILE).read_text(encoding="utf-8"))
    inputs: dict[str, int] = {}
    for entry in manifest["inputs"]:
        inputs[entry["extract"]] = inputs.get(entry["extract"], 0) + 1
    summary = {
        "schema_version": manifest["schema_version"],
        "schema_fingerprint": manifest["schema_fingerprint"],
        "row_counts": manifest["row_counts"],
        "disclosure": manifest["disclosure"],
        "parquet": manifest["parquet"],
        "files": [{"path": f["path"], "rows": f["rows"]} for f in manifest["files"]],
        "input_files_per_extract": dict(sorted(inputs.items())),
        "input_rows_loaded": sum(e["rows_loaded"] or 0 for e in manifest["inputs"]),
        "input_rows_loaded_withheld": sum(e["rows_loaded"] is None for e in manifest["inputs"]),
    }
    return {
        **_figure_tables(df),
        "digests.csv": _csv(digest_frame, READABLE_DECIMALS),
        "indicator_catalogue.csv": _csv(catalogue, READABLE_DECIMALS),
        "release.json": json.dumps(summary, indent=2) + "\n",
    }


def committed_ground_truth() -> dict[str, str]:
    """The committed ground-truth files (CSV and JSON), by name."""
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(GROUND_TRUTH.glob("*"))
        if p.suffix in {".csv", ".json"}
    }


def describe_changes(old: dict[str, str], new: dict[str, str], limit: int = 12) -> list[str]:
    """A short, readable summary of how two sets of ground-truth files differ."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None:
            out.append(f"{name}: new file, {len(after.splitlines())} lines")
            continue
        if after is None:
            out.append(f"{name}: no longer produced")
            continue
        changed = [
            line
            for line in difflib.unified_diff(
                before.splitlines(), after.splitlines(), lineterm="", n=0
            )
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        removed = sum(line.startswith("-") for line in changed)
        out.append(f"{name}: {removed} line(s) removed, {len(changed) - removed} added")
        out += [f"    {line}" for line in changed[:limit]]
        if len(changed) > limit:
            out.append(f"    ... and {len(changed) - limit} more changed lines")
    return out
