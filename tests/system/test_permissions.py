"""Identifiable data is the service account's alone (issue 11, 6).

A real `diewell run` on a tiny ICS, started with the permissive umask 022 most shells have;
then every folder and file under the archive, the rejected folder and the warehouse folder
(warehouse, working copy, cached results, lock) must have no group or other bit. A file
left readable by an earlier version is tightened on start, and the log says so. The
published release (disclosure-controlled) is readable by all.
"""

from __future__ import annotations

import os
import stat

from diewell.config import load_config
from tests.system.tiny_cli import cli_env, deaths_ics, run_diewell

GROUP_OR_OTHER = 0o077
PERMISSIVE_UMASK = 0o022


def open_to_others(folder) -> list[str]:
    """Everything under folder (itself included) that group or others may use."""
    paths = [folder, *folder.rglob("*")]
    return [
        f"{p.relative_to(folder.parent)} {stat.filemode(p.lstat().st_mode)}"
        for p in paths
        if not p.is_symlink() and p.lstat().st_mode & GROUP_OR_OTHER
    ]


def test_a_real_run_leaves_identifiable_data_readable_by_its_owner_only(tmp_path):
    ics = deaths_ics(tmp_path / "ics")
    config = load_config(ics.config_path)
    old = config.archive / "deaths" / "QTT" / "deaths_QTT_20231231.csv"  # from before the fix
    old.parent.mkdir(parents=True)
    old.write_text("nhs_number\n")
    old.chmod(0o644)

    previous = os.umask(PERMISSIVE_UMASK)  # the child inherits a shell's usual umask
    try:
        done = run_diewell(
            "run", "--config", str(ics.config_path), env=cli_env(tmp_path / "prefect-home")
        )
    finally:
        os.umask(previous)
    assert done.returncode == 0, done.stderr[-3000:]

    archived = config.archive / "deaths" / "QTT" / "deaths_QTT_20241231.csv"
    assert archived.is_file()  # the run archived what it loaded
    assert (config.warehouse.parent / ".refresh" / "cache").is_dir()  # and cached results
    for folder in (config.archive, config.rejected, config.warehouse.parent):
        assert open_to_others(folder) == []
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert "permissions:" in done.stderr and "now the owner's only" in done.stderr

    release = (config.outputs / "current").resolve()
    manifest = next(p for p in release.rglob("*") if p.is_file())
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644  # published: readable by all
    assert stat.S_IMODE(release.stat().st_mode) == 0o755
