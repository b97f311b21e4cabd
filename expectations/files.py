"""Delivered files: naming, reading and the file rules of extracts.md.

A file that breaks a file rule raises `FileRejected` with a rule id and a reason written for
the provider who must fix it. Nothing here logs row-level data.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from polars.exceptions import PanicException

from diewell.expectations import extract_names
from diewell.expectations.contracts import load_contract
from diewell.transforms.sender_text import neutral

if TYPE_CHECKING:
    from diewell.config import Config

EXTRACTS = extract_names()  # the extracts a file name may name: one per suite
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3  # limits.max_file_bytes: 2 GiB (extracts.md)
FILE_NAME = re.compile(
    r"^(?P<extract>[a-z][a-z0-9_]*?)_(?P<provider>[A-Z0-9]{3,6})_(?P<period>[0-9]{8})\.(?P<format>csv|parquet)\Z"
)
NOT_READ = ""  # the checksum recorded for a file rejected before any of it was read
WAITING_SUFFIXES = (".part", ".tmp")  # files still being written: left alone
# A period end in a file name later than this many days after the run starts, or before the
# earliest, rejects the file (period_end_implausible, extracts.md v3).
PERIOD_END_DAYS_AHEAD = 31
EARLIEST_PERIOD_END = dt.date(2000, 1, 1)


class FileRejected(Exception):
    """The whole file is rejected; `rule` is machine-readable, `reason` is for the provider.

    The reason may quote what the sender wrote (a header, a name): it is made `neutral` here,
    once, so every place it goes (the log, the reason files, landing_files, the pages) gets
    it with NHS-number shapes masked and control characters escaped."""

    def __init__(self, rule: str, reason: str):
        reason = neutral(reason)
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason

    def __reduce__(self):
        # Pickled as (rule, reason): a rejection found by a validation run in another process
        # (the refresh flow's Dask workers) travels back to the flow that loads.
        return type(self), (self.rule, self.reason)


@contextmanager
def one_file(doing: str) -> Iterator[None]:
    """The boundary around everything done to one file before it loads (reading, converting,
    validating): whatever fails inside it rejects that file (`unreadable`), never the run
    (extracts.md v3, "No delivery stops a run"). A file rule's own rejection passes as it is.

    Polars' PanicException (a Rust panic) is a BaseException; it is caught too. What the
    failure said is not repeated: reader messages quote the file's values."""
    try:
        yield
    except FileRejected:
        raise
    except (Exception, PanicException) as exc:
        raise FileRejected(
            "unreadable",
            f"the file could not be read: {doing} it failed ({type(exc).__name__}), so it "
            "cannot be loaded as it is; check that it opens in the program that wrote it, "
            "re-export it as CSV (UTF-8) or Parquet following the contract, and re-send it",
        ) from None


@dataclass(frozen=True)
class Delivery:
    path: Path
    extract: str
    provider: str
    period_end: dt.date
    format: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sort_key(self) -> tuple:
        """Reference data first (the extracts whose latest delivery replaces the whole table),
        then deliveries in period order."""
        reference_first = 0 if load_contract(self.extract).load == "snapshot_table" else 1
        return (reference_first, self.period_end, self.extract, self.provider, self.name)


def parse_file_name(path: Path, config: Config | None, today: dt.date | None = None) -> Delivery:
    """Identify a delivery by its name alone; reject names, extracts or senders the contract does not allow.

    Without a configuration (`diewell check` with no --config) the sender's registration is
    not checked: only the ICS's configuration says who may send what. `today` is the day the
    run started (by default, today): a period end more than PERIOD_END_DAYS_AHEAD days after
    it, or before EARLIEST_PERIOD_END, is a typo, not a period (extracts.md v3)."""
    m = FILE_NAME.match(path.name)
    if not m:
        shown = shown_name(path.name)
        raise FileRejected(
            "file_name_invalid",
            f"file name '{shown}' does not follow <extract>_<provider ODS code>_<YYYYMMDD>.csv "
            f"or .parquet (for example apc_spells_RD1_20250331.csv): {_name_problem(shown)}",
        )
    extract, provider, period = m["extract"], m["provider"], m["period"]
    if extract not in EXTRACTS:
        close = difflib.get_close_matches(extract, EXTRACTS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FileRejected(
            "unknown_extract",
            f"'{extract}' is not an extract of the contract{hint}; expected one of: "
            f"{', '.join(EXTRACTS)}",
        )
    try:
        period_end = dt.datetime.strptime(period, "%Y%m%d").date()
    except ValueError:
        raise FileRejected(
            "period_invalid",
            f"the period end '{period}' in the file name is not a real date in YYYYMMDD form",
        ) from None
    implausible = period_end_implausible(period_end, today or dt.date.today())
    if implausible:
        raise implausible
    if config is not None and not config.is_registered(provider, extract):
        if config.provider(provider) is None:
            what = f"sender {provider} is not a registered provider in this ICS"
        else:
            what = f"sender {provider} is not registered to send {extract}"
        raise FileRejected(
            "provider_not_registered", f"{what}; ask the ICB to add it to the ICS configuration"
        )
    return Delivery(path, extract, provider, period_end, m["format"])


def period_end_implausible(period_end: dt.date, today: dt.date) -> FileRejected | None:
    """The rejection of a period end too far ahead of `today`, or too early, else None."""
    latest = today + dt.timedelta(days=PERIOD_END_DAYS_AHEAD)
    if EARLIEST_PERIOD_END <= period_end <= latest:
        return None
    when = "after" if period_end > latest else "before"
    bound = latest if period_end > latest else EARLIEST_PERIOD_END
    return FileRejected(
        "period_end_implausible",
        f"the period end {period_end:%Y%m%d} in the file name is {when} {bound:%Y-%m-%d} "
        f"(periods end at most {PERIOD_END_DAYS_AHEAD} days after the day the run starts, and "
        f"not before {EARLIEST_PERIOD_END:%Y-%m-%d}); it looks mistyped: rename the file with the "
        "period end it covers and re-send it",
    )


def _name_problem(name: str) -> str:
    """What is wrong with a file name that does not parse, in words for the sender."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return "it has no .csv or .parquet extension"
    if ext.lower() in ("csv", "parquet") and ext not in ("csv", "parquet"):
        return f"the extension '.{ext}' must be lower-case (.{ext.lower()})"
    if ext not in ("csv", "parquet"):
        return f"files of type '.{ext}' are not accepted; send CSV (.csv) or Parquet (.parquet)"
    parts = stem.rsplit("_", 2)
    if len(parts) < 3:
        return "it does not have the three parts extract, provider and period end separated by '_'"
    extract, provider, period = parts
    if not re.fullmatch(r"[0-9]{8}", period):
        return f"the period end '{period}' must be 8 digits, YYYYMMDD, with no separators"
    if not re.fullmatch(r"[A-Z0-9]{3,6}", provider):
        return (
            f"the provider '{provider}' must be the sender's ODS code "
            "(3 to 6 upper-case letters or digits)"
        )
    if not re.fullmatch(r"[a-z][a-z0-9_]*", extract):
        return f"the extract '{extract}' must be a lower-case extract name such as apc_spells"
    return "it does not match the pattern"


def discover(landing: Path) -> list[Path]:
    """Every candidate entry under the landing folder, in name order, without following links.

    Sub-folders are walked, but never a folder reached through a symbolic link: a link (to a
    file or a folder), or anything that is not a regular file, is listed so that ingest
    rejects it whole (`screen`). Hidden entries and files still being written (`*.part`,
    `*.tmp`) are left alone.
    """
    if not landing.is_dir() or landing.is_symlink():
        return []
    return sorted(_walk(landing), key=lambda p: (p.name, str(p)))


def _walk(folder: Path) -> Iterator[Path]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            elif entry.is_symlink() or not entry.name.endswith(WAITING_SUFFIXES):
                yield Path(entry.path)


def shown_name(name: str) -> str:
    """A sender's file name as it may be shown in a reason or a log: bytes that are not UTF-8
    as \\xNN, then `neutral` (control characters escaped, NHS-number shapes masked), at most
    200 characters."""
    try:
        raw = os.fsencode(name)  # a name read from the file system: undecodable bytes as-is
    except UnicodeEncodeError:
        raw = name.encode("utf-8", errors="backslashreplace")
    return neutral(raw.decode("utf-8", errors="backslashreplace"))[:200]


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a byte that is not UTF-8, kept by the file system as a surrogate
        return False
    return True


def is_plain_name(name: str) -> bool:
    """True for a plain, valid UTF-8 base name: no folder, no '..', no NUL, not absolute,
    nothing unprintable. Only such a name from a sender is ever used as a path."""
    return (
        _is_utf8(name)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and name.isprintable()
    )


def stored_name(name: str, fallback: str) -> str:
    """A name safe to create a file under: `name` if it is plain, else its letters, digits and
    '._-' (others as '_'), else `fallback`. Never a folder, never hidden."""
    if is_plain_name(name) and not name.startswith("."):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", shown_name(name))[:120].lstrip(".")
    return cleaned or fallback


def max_file_bytes(config: Config) -> int:
    """The configured `limits.max_file_bytes` (2 GiB unless the configuration says)."""
    return config.max_file_bytes


def _too_large(size: str, limit: int) -> FileRejected:
    return FileRejected(
        "file_too_large",
        f"the file {size}, over this ICS's limit of {limit:,} bytes (limits.max_file_bytes); "
        "split the extract (for example by month) or ask the ICB to raise the limit",
    )


def screen(path: Path, limit: int = DEFAULT_MAX_FILE_BYTES) -> os.stat_result:
    """Reject, without reading it, an entry that must never be opened as a delivery.

    A name that is not valid UTF-8, a symbolic link (to a file or a folder), anything that is
    not a regular file, and a file larger than `limit`. Returns the entry's lstat.
    """
    name = path.name
    if not _is_utf8(name):
        raise FileRejected(
            "file_name_not_utf8",
            f"the file name '{shown_name(name)}' is not valid UTF-8 text; name it <extract>_<provider ODS code>_<YYYYMMDD>.csv or .parquet "
            "in plain letters and digits (for example apc_spells_RD1_20250331.csv)",
        )
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        linked_folder = path.is_dir()
        raise FileRejected(
            "folder_link" if linked_folder else "symbolic_link",
            f"'{shown_name(name)}' is a symbolic link"
            + (" to a folder" if linked_folder else "")
            + ", not a delivered file; links are never followed: put the file itself in the "
            "landing folder",
        )
    if not stat.S_ISREG(info.st_mode):
        raise FileRejected(
            "not_a_regular_file",
            f"'{shown_name(name)}' is not a regular file (a pipe, socket or device); "
            "put the file itself in the landing folder",
        )
    if info.st_size > limit:
        raise _too_large(f"is {info.st_size:,} bytes", limit)
    return info


def open_no_follow(path: Path):
    """The file opened for reading in binary, refusing a symbolic link or a non-regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRejected("not_a_regular_file", "the entry is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open_no_follow(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalise_column_name(name: str) -> str:
    return name.strip().lower()
