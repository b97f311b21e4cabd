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
- `--rejected --accept-low-volume --file NAME`: for a file rejected as `volume_drop` (under
  20% of the provider's previous delivery) that the provider has confirmed is complete - a
  genuinely quiet month at a small service - the file goes back to the landing folder marked
  in `landing/.accept-low-volume/`, and the next run loads it without the volume rule (every
  other rule still applies) and logs that it did. Each file must be named: there is no
  blanket acceptance. The contract's rule has no minimum volume, so a hospice sending 1
  referral after 9 would otherwise be rejected however often it re-sent the truth.

A recorded name is the sender's text: it is used as a path only if it is a plain base name
(`delivery.is_plain_name`: no folder, no '..', no NUL, valid UTF-8), and every file written
lands, once resolved, directly inside the landing folder (or its mark folders); anything
else is skipped with its reason and stays where it is.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from diewell.expectations.files import is_plain_name, shown_name

if TYPE_CHECKING:
    from diewell.config import Config

REPROCESS_DIR = ".reprocess"  # under the landing folder; hidden, so never taken as a delivery
ACCEPT_LOW_VOLUME_DIR = ".accept-low-volume"  # likewise: files loaded without the volume rule
VOLUME_RULE = "volume_drop"


@dataclass
class Queued:
    file_name: str
    action: str  # queued | skipped
    detail: str


def _marked(config: Config, marks: str) -> set[str]:
    folder = config.landing / marks
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()


def marked_for_reprocess(config: Config) -> set[str]:
    """File names a reprocess asked the next run to re-validate even if already loaded."""
    return _marked(config, REPROCESS_DIR)


def accepted_low_volume(config: Config) -> set[str]:
    """File names whose low volume an operator confirmed (`reprocess --accept-low-volume`)."""
    return _marked(config, ACCEPT_LOW_VOLUME_DIR)


def clear_mark(config: Config, file_name: str) -> None:
    """Forget every reprocess mark of a file once a run has taken it."""
    for marks in (REPROCESS_DIR, ACCEPT_LOW_VOLUME_DIR):
        (config.landing / marks / file_name).unlink(missing_ok=True)


NOT_PLAIN = (
    "its recorded name is not a plain file name (it holds a folder, '..', a NUL or bytes that "
    "are not UTF-8), so it is never used as a path; it stays in the rejected area"
)


def _inside(folder: Path, name: object) -> Path | None:
    """folder/name when name is a plain base name that resolves directly inside folder."""
    if not isinstance(name, str) or not is_plain_name(name):
        return None
    target = folder / name
    if target.resolve().parent != folder.resolve() or target.is_symlink():
        return None
    return target


def _wanted(name: str, names: list[str] | None) -> bool:
    return not names or name in names


def queue_rejected(
    config: Config, names: list[str] | None = None, accept_low_volume: bool = False
) -> list[Queued]:
    """Move rejected files (all, or those named) back into the landing folder.

    With `accept_low_volume`, only the named files rejected as `volume_drop` move, each marked
    to load without the volume rule."""
    if accept_low_volume and not names:
        raise ValueError("name each file whose low volume the provider has confirmed (--file NAME)")
    out = []
    if not config.rejected.is_dir():
        return out
    for reason in sorted(config.rejected.glob("*.reason.json")):
        detail = json.loads(reason.read_text(encoding="utf-8"))
        original = detail["file_name"]
        stored = Path(str(reason)[: -len(".reason.json")])
        if not _wanted(original, names) and not _wanted(stored.name, names):
            continue
        if stored.is_symlink() or not stored.is_file():
            continue  # a rejected link stays a rejected link
        if accept_low_volume and detail["rule"] != VOLUME_RULE:
            out.append(
                Queued(original, "skipped", f"was rejected ({detail['rule']}), not for its volume")
            )
            continue
        target = _inside(config.landing, original)
        if target is None:
            out.append(Queued(shown_name(str(original)), "skipped", NOT_PLAIN))
            continue
        if target.exists():
            out.append(Queued(original, "skipped", "a file of that name is already waiting"))
            continue
        config.landing.mkdir(parents=True, exist_ok=True)
        if accept_low_volume:
            marks = config.landing / ACCEPT_LOW_VOLUME_DIR
            marks.mkdir(parents=True, exist_ok=True)
            (marks / target.name).write_text(
                "load without the volume rule: the provider confirmed the delivery is complete\n",
                encoding="utf-8",
            )
        shutil.move(str(stored), target)
        reason.unlink()
        Path(f"{stored}.reason.txt").unlink(missing_ok=True)
        what = ", accepted as complete" if accept_low_volume else ""
        out.append(Queued(original, "queued", f"was rejected ({detail['rule']}){what}"))
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
        target = _inside(config.landing, file_name)
        if target is None or not all(is_plain_name(str(p)) for p in (extract, provider)):
            out.append(Queued(shown_name(str(file_name)), "skipped", NOT_PLAIN))
            continue
        archived = config.archive / extract / provider / file_name
        if not archived.is_file():
            out.append(Queued(file_name, "skipped", f"the archived original {archived} is missing"))
            continue
        if target.exists():
            out.append(Queued(file_name, "skipped", "a file of that name is already waiting"))
            continue
        marks = config.landing / REPROCESS_DIR
        marks.mkdir(parents=True, exist_ok=True)
        (marks / file_name).write_text("re-validate although already loaded\n", encoding="utf-8")
        shutil.copy2(archived, target)
        out.append(Queued(file_name, "queued", f"{quarantined} quarantined row(s)"))
    return out
