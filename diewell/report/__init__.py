"""The "Die well" report for boards: one self-contained HTML page from a published release."""

from diewell.report.render import render_report

__all__ = ["render_report"]
