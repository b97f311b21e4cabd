"""The ingest progress bar on a terminal (plain lines otherwise)."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


INGEST_PROGRESS = re.compile(r"^ingest: (\d+)/(\d+) files")  # pipeline.ingest's progress lines


class IngestProgressBar(logging.Handler):
    """A progress bar on the terminal, driven by the pipeline's "ingest: n/N files" log lines.

    The flow's log lines stay as they are (they are the plain progress when output is not a
    terminal, and they reach Prefect's run logs); on a terminal this draws the bar beside them.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn

        self.progress = Progress(
            "ingest files",
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            auto_refresh=False,  # drawn as each progress line arrives, not by a thread
        )
        self.task = None

    def emit(self, record: logging.LogRecord) -> None:
        found = INGEST_PROGRESS.match(record.getMessage())
        if not found:
            return
        done, total = int(found[1]), int(found[2])
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("ingest", total=total)
        self.progress.update(self.task, completed=done, total=total, refresh=True)
        if done >= total:
            self.progress.stop()
            self.task = None


def _show_progress_bar() -> IngestProgressBar | None:
    """Attach the ingest progress bar to the 'diewell' logger when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    bar = IngestProgressBar()
    logging.getLogger("diewell").addHandler(bar)
    for handler in logging.getLogger().handlers:  # the bar replaces the plain lines on screen
        handler.addFilter(_not_ingest_progress)
    return bar


def _not_ingest_progress(record: logging.LogRecord) -> bool:
    return INGEST_PROGRESS.match(record.getMessage()) is None
