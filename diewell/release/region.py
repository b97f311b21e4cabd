"""A regional release: the ICSs' published releases combined, disclosure-controlled again.

The region configuration (docs/OPERATIONS.md, "Running a region") names the region, where
its releases go, its disclosure settings and, for each ICS, the Prefect deployment that
refreshes and publishes it and the folder its releases are published in (that ICS's
`paths.outputs`). The region reads each ICS's `current` release only - never a warehouse -
so no person-level figure leaves an ICS (transforms/regional.py).

The regional release has the layout and audit of an ICS release (diewell/publish.py:
indicators, flat files, catalogue, schemas, manifest; staged, audited, then `current`
switched), without the board report, and with benchmarks.parquet and spc.parquet empty (both
are an ICS's: its own rows beside public figures, its own monthly series); its manifest names
each ICS release it was built from. Its id is derived from those releases' ids, the region's settings and the code, so the same
ICS releases give the same regional release (published once, `current` re-pointed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from diewell import __version__, permissions
from diewell.release import audit, audit_rules, control, promote, publish
from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.release.identity import code_digest
from diewell.transforms.regional import combine_ics_releases
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse.indicators import schema as output_schema

log = sender_logger("diewell.release.region")


@dataclass(frozen=True)
class IcsSource:
    deployment: str
    outputs: Path


@dataclass(frozen=True)
class RegionConfig:
    path: Path
    code: str
    name: str
    outputs: Path
    suppress_up_to: int
    round_to: int
    ics: tuple[IcsSource, ...]


@dataclass(frozen=True)
class IcsRelease:
    """One ICS's current release as the region reads it."""

    deployment: str
    manifest: dict
    rows: pl.DataFrame

    @property
    def code(self) -> str:
        return self.manifest["ics"]["code"]


class RegionError(RuntimeError):
    """An ICS's release cannot be used for the region (missing, or not comparable)."""


def require_every_ics_completed(runs: list[tuple[str, str, str | None, bool]]) -> None:
    """Raise RegionError naming each ICS whose refresh did not complete; `runs` holds
    (deployment, flow run id, state name or None, completed) per ICS. A region total without
    one of its ICSs would be read as the region's, so then nothing regional is published."""
    not_completed = [
        f"{deployment} (flow run {run_id}: {state or 'no state'})"
        for deployment, run_id, state, completed in runs
        if not completed
    ]
    if not_completed:
        raise RegionError(
            "ICS refreshes did not complete, so no regional release was published: "
            + "; ".join(not_completed)
        )


def read_ics_release(source: IcsSource) -> IcsRelease:
    """The ICS's current release: its manifest and its indicator rows."""
    current = source.outputs / promote.CURRENT
    manifest_path = current / release_files.MANIFEST_FILE
    if not manifest_path.is_file():
        raise RegionError(
            f"{source.deployment}: no current release in {source.outputs} (it has published nothing)"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("schema_version") != output_schema.SCHEMA_VERSION:
        raise RegionError(
            f"{source.deployment}: its release {manifest.get('run_id')} has schema "
            f"{manifest.get('schema_version')}, this code publishes {output_schema.SCHEMA_VERSION}"
        )
    rows = pl.from_arrow(release_files.read_indicators(current.resolve()))
    return IcsRelease(source.deployment, manifest, rows)


def region_release_id(config: RegionConfig, releases: list[IcsRelease]) -> str:
    """The regional release's id: the ICS release ids, the region's settings and the code."""
    digest = hashlib.sha256()
    for release in sorted(releases, key=lambda r: r.code):
        digest.update(f"{release.code}={release.manifest['run_id']};".encode())
    digest.update(code_digest().encode())
    settings = (__version__, config.code, config.name, config.suppress_up_to, config.round_to)
    digest.update(repr(settings).encode())
    return "g" + digest.hexdigest()[:16]


def regional_rows(config: RegionConfig, releases: list[IcsRelease]) -> pl.DataFrame:
    """The region's rows before disclosure control (sums of the ICSs' published counts)."""
    return combine_ics_releases(
        [r.rows for r in releases], region_code=config.code, region_name=config.name
    )


def publish_region(
    config: RegionConfig,
    releases: list[IcsRelease],
    flow_runs: Mapping[str, str] | None = None,
) -> Path:
    """Combine, disclosure-control, write, audit and promote the regional release.

    `flow_runs` maps an ICS deployment to the flow run that refreshed it, for the manifest.
    """
    run_id = region_release_id(config, releases)
    outputs = config.outputs
    if (outputs / promote.RELEASES / run_id).is_dir():
        log.info("regional release %s already published: current points at it", run_id)
        promote.point_current_at(outputs, run_id)
        return outputs / promote.RELEASES / run_id
    exact = regional_rows(config, releases)
    published = control.controlled_rows(exact, config.suppress_up_to, config.round_to, run_id)
    flow_runs = flow_runs or {}
    ics = [
        {
            "code": r.code,
            "name": r.manifest["ics"]["name"],
            "run_id": r.manifest["run_id"],
            "created_at": r.manifest.get("created_at"),
            "deployment": r.deployment,
            "flow_run_id": flow_runs.get(r.deployment),
        }
        for r in releases
    ]

    def write(staging: Path) -> None:
        with control.rows_in_duckdb(published) as con:
            files, catalogue_rows = release_files.write_release_files(staging, con)
        manifest = {
            "schema_version": output_schema.SCHEMA_VERSION,
            "schema_fingerprint": release_schema.schema_fingerprint(),
            "run_id": run_id,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "diewell_version": __version__,
            "region": {"code": config.code, "name": config.name},
            "ics_releases": ics,
            "row_counts": {
                "indicators": published.height,
                "indicators_suppressed": int(published["suppressed"].sum()),
                "indicator_catalogue": catalogue_rows,
            },
            "disclosure": control.disclosure_settings(config.suppress_up_to, config.round_to),
            "parquet": release_files.parquet_settings(),
            "schemas": release_files.schema_names(),
            "files": files,
        }
        release_files.write_manifest(staging, manifest)

    def check(staging: Path) -> audit.AuditSummary:
        return audit.audit_release(
            staging,
            run_id,
            exact=audit_rules.ExactRows.of_frame(exact, "the sums of the ICS releases"),
            threshold=config.suppress_up_to,
            multiple=config.round_to,
        )

    outputs.mkdir(parents=True, exist_ok=True)
    release = publish.publish_staged(outputs, run_id, write=write, check=check)
    # disclosure-controlled, made to be shared: readable by all, as an ICS's release is
    permissions.share(release, outputs)
    log.info(
        "regional release %s from %s",
        run_id,
        ", ".join(f"{r.code} {r.manifest['run_id']}" for r in releases),
    )
    return release
