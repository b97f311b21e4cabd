"""The data quality pages for providers: what each sent, what loaded, what was held back and why."""

from diewell.expectations.report.quality.pages import (
    QUALITY_DIR,
    file_views,
    provider_page,
    quality_dir,
    quality_run_page,
    render_file_pages,
    render_quality_pages,
)

__all__ = [
    "QUALITY_DIR",
    "file_views",
    "provider_page",
    "quality_dir",
    "quality_run_page",
    "render_file_pages",
    "render_quality_pages",
]
