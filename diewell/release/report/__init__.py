"""The "Die well" report for boards: one self-contained HTML page from a published release."""

from __future__ import annotations

from pathlib import Path


def render_report(release: Path, out: Path | None = None) -> Path:
    """Render the report of a release (see diewell.release.report.render); charting is imported only
    here, so the light parts of this package (the stylesheet) cost nothing to import."""
    from diewell.release.report.render import render_report as render

    return render(release, out)


__all__ = ["render_report"]
