"""`diewell reprocess`: give rejected files and quarantined rows another go, without double loading.

Nothing here writes the warehouse. Reprocessing queues files for the next run (`diewell run`
or the scheduled refresh), which validates and loads them under the one-writer lock, records
them, reports them in the Data Docs and the validation summary, like any delivery:

- `--rejected`: a rejected file (after a contract or configuration fix, or a repair by hand)
  moves from the rejected area back into the landing folder under its delivered name; its
  reason files are removed. A file of that name already waiting in the landing folder (the
  provider's re-delivery) wins: the rejected copy is left where it is.
- `--quarantined`: a loaded file with quarantined rows (after a contract fix, or after an
  earlier death was corrected) is copied from the archive back into the landing folder and
  marked in `landing/.reprocess/`. The next run re-validates it even though its checksum is
  already loaded, and the load replaces the earlier load of the same (extract, provider,
  period end) as any re-delivery does: its rows are loaded once.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from diewell.config import Config

REPROCESS_DIR = ".reprocess"  # under the landing folder; hidden, so never taken as a delivery


@dataclass
class Queued:
    file_name: str
    action: str  # queued | skipped
    detail: str


def marked_for_reprocess(config: Config) -> set[str]:
    """File names a reprocess asked the next run to re-validate even if already loaded."""
    folder = config.landing / REPROCESS_DIR
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


def clear_mark(config: Config, file_name: str) -> None:
    (config.landing / REPROCESS_DIR / file_name).unlink(missing_ok=True)


def _wanted(name: str, names: list[str] | None) -> bool:
    return not names or name in names


def queue_rejected(config: Config, names: list[str] | None = None) -> list[Queued]:
    """Move rejected files (all, or those named) back into the landing folder."""
    out = []
    if not config.rejected.is_dir():
        return out
    for reason in sorted(config.rejected.glob("*.reason.json")):
        detail = json.loads(reason.read_text(encoding="utf-8"))
        original = detail["file_name"]
        stored = Path(str(reason)[: -len(".reason.json")])
        if not _wanted(original, names) and not _wanted(stored.name, names):
            continue
        if not stored.is_file():
            continue
        target = config.landing / original
        if target.exists():
            out.append(Queued(original, "skipped", "a file of that name is already waiting"))
            continue
        config.landing.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stored), target)
        reason.unlink()
        Path(f"{stored}.reason.txt").unlink(missing_ok=True)
        out.append(Queued(original, "queued", f"was rejected ({detail['rule']})"))
    return out


def queue_quarantined(config: Config, names: list[str] | None = None) -> list[Queued]:
    """Copy loaded files that have quarantined rows from the archive back into landing, marked."""
    if not config.warehouse.exists():
        return []
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT file_name, extract, provider, rows_quarantined FROM landing_files "
            "WHERE status = 'loaded' AND rows_quarantined > 0 ORDER BY file_name"
        ).fetchall()
    finally:
        con.close()
    out = []
    for file_name, extract, provider, quarantined in rows:
        if not _wanted(file_name, names):
            continue
        archived = config.archive / extract / provider / file_name
        if not archived.is_file():
            out.append(Queued(file_name, "skipped", f"the archived original {archived} is missing"))
            continue
        target = config.landing / file_name
        if target.exists():
            out.append(Queued(file_name, "skipped", "a file of that name is already waiting"))
            continue
        marks = config.landing / REPROCESS_DIR
        marks.mkdir(parents=True, exist_ok=True)
        (marks / file_name).write_text("re-validate although already loaded\n", encoding="utf-8")
        shutil.copy2(archived, target)
        out.append(Queued(file_name, "queued", f"{quarantined} quarantined row(s)"))
    return out
