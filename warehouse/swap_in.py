"""The warehouse: swap_in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

REFRESH_DIR = ".refresh"


def working_path(analyst_path: Path) -> Path:
    """The refresh's private warehouse file; analysts read the published copy at analyst_path.

    DuckDB lets only one process hold a file read-write, and while it does no other process
    can open it at all. So the refresh works on its own file and, when a run has finished
    and checkpointed, copies it beside the analysts' file and renames it over that file
    (atomic on POSIX). Readers that already had the old file open keep a consistent old
    snapshot; new connections see the new one; nobody ever sees a half-refreshed state.
    """
    return analyst_path.parent / REFRESH_DIR / analyst_path.name


MIB = 1024 * 1024


# Free disk a swap-in leaves beside the analysts' file at least, for the logs and the next run.
SWAP_IN_SPARE_MIB = 64


class SwapInFailed(RuntimeError):
    """The analysts' copy could not be written; theirs is unchanged, the next run swaps in."""

    def __init__(self, analyst_path: Path, reason: str):
        super().__init__(
            f"{analyst_path.name} was not swapped in: {reason}; the analysts' warehouse is "
            f"unchanged, this run's is kept in {REFRESH_DIR}/ beside it, and the next run "
            "swaps it in"
        )


def publish_snapshot(working: Path, analyst_path: Path) -> None:
    """Copy a closed, checkpointed working file over the analysts' file, atomically.

    The copy is written beside the analysts' file and renamed over it. A disk without room
    for it stops the swap-in before it starts; a copy that fails part-way is removed. Either
    way SwapInFailed says why, and the analysts' file is left as it was.
    """
    wal = working.with_name(working.name + ".wal")
    if wal.exists():  # the writer did not close cleanly: fold the WAL in first
        duckdb.connect(str(working)).close()
    if wal.exists():
        raise RuntimeError(f"{wal} remains after a checkpoint; not publishing a partial warehouse")
    size_mib = working.stat().st_size // MIB
    free_mib = shutil.disk_usage(analyst_path.parent).free // MIB
    if free_mib < size_mib + SWAP_IN_SPARE_MIB:
        raise SwapInFailed(
            analyst_path,
            f"the copy needs {size_mib:,} MiB beside it and {SWAP_IN_SPARE_MIB} MiB to spare, "
            f"and {free_mib:,} MiB is free",
        )
    tmp = analyst_path.with_name(f".{analyst_path.name}.{os.getpid()}.tmp")
    try:
        with working.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=16 * MIB)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:  # the disk filled, or would not take the file
        tmp.unlink(missing_ok=True)
        raise SwapInFailed(analyst_path, exc.strerror or str(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, analyst_path)
    dir_fd = os.open(analyst_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clean_stale_snapshots(analyst_path: Path) -> None:
    """Remove temporary copies left by a refresh that crashed while publishing."""
    for stale in analyst_path.parent.glob(f".{analyst_path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
