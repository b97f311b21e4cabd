"""Fuzzing the per-file path (issue 36; extracts.md v3, "No delivery stops a run").

Hypothesis builds valid deliveries of every extract from its contract (the generators of
tests/unit/test_row_rules_properties.py), then damages them as a careless or hostile sender
would: values (NHS numbers in other columns, control characters, formulas, huge fields),
headers and column names, CSV bytes (encodings, BOMs, line endings, quoting, delimiters),
Parquet physical types and encodings (typed, dictionary-encoded, nested extra columns, dates
beyond the calendar, compression, row groups), truncated or flipped bytes, and file names and
period ends. Each file goes through exactly what a run does with it (`ingest_landing`, on a
real DuckDB file) and must come out accounted for:

- nothing raises;
- the file is loaded, unchanged, superseded or rejected with a rule and a reason, or (a name
  still being written) left waiting in the landing folder;
- a loaded file's rows read = rows loaded + rows quarantined, in its outcome and in
  landing_files;
- nothing written (landing_files, quarantine_rows, the staging rows' text, the log, the
  reason files) holds a control character, and nothing but a loaded identifier holds an
  NHS-number shape.

Derandomised in CI with at least 1,000 examples (tests/conftest.py); `HYPOTHESIS_PROFILE=nightly`
runs 20,000 with fresh randomness, for a nightly or manual run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import logging
import random
import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diewell import warehouse
from diewell.config import load_config
from diewell.sources.ingest import ingest_landing
from diewell.transforms.nhs_number import is_valid_nhs_number
from diewell.transforms.sender_text import NHS_NUMBER_SHAPE
from tests.conftest import TEST_KEY
from tests.unit.test_row_rules_properties import CONTRACTS, optional_absent, to_frame, valid_table

EXAMPLES = max(1000, settings.default.max_examples)
PROVIDER = {  # who sends what in the fuzzed ICS
    "QFZ": [
        "deaths",
        "gp_population",
        "ref_lsoa",
        "ref_lsoa_2011",
        "ref_practice",
        "ref_care_homes",
    ],
    "RFZ": ["apc_spells", "ae_attendances"],
    "HFZ": [
        "hospice_referrals",
        "hospice_contacts",
        "outcome_assessments",
        "bereavement_contacts",
        "education_sessions",
    ],
    "CFZ": ["community_contacts", "spoc_calls"],
    "A81001": ["palliative_register", "dementia_register"],
}
MAX_FILE_BYTES = 64 << 10  # small, so that some deliveries are too large (file_too_large)
SENDER = {extract: code for code, extracts in PROVIDER.items() for extract in extracts}
NHS_IN_TEXT = "943 476 5919"  # the NHS Data Dictionary's example: a valid shape
HOSTILE_VALUES = [
    NHS_IN_TEXT,
    "9990000018",
    "\x1b[31mred\x1b[0m",
    "two\nlines",
    "cr\ronly",
    "tab\there",
    '=HYPERLINK("http://x","y")',
    "+1",
    "@SUM(A1)",
    "x" * 300,
    "",
    " ",
    "NULL",
    "9999-12-31",
    "2024-02-30",
    "0001-01-01",
    "-1",
    "1e10",
    "\u202eexe",
    "Café",
    '"quoted"',
    "a,b",
]


@pytest.fixture(scope="module")
def ics(tmp_path_factory):
    """A fresh ICS and its warehouse, shared by every example (deliveries pile up as they
    would over many nights: re-deliveries, volume drops and duplicate deaths included)."""
    root = tmp_path_factory.mktemp("fuzz")
    config_file = root / "diewell.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "ics": {"code": "QFZ", "name": "Fuzzed ICS"},
                "paths": {"landing": "landing", "warehouse": "w/diewell.duckdb", "outputs": "o"},
                "providers": [{"code": c, "extracts": e} for c, e in PROVIDER.items()],
                "limits": {"max_file_bytes": MAX_FILE_BYTES},
            }
        ),
        encoding="utf-8",
    )
    (root / "landing").mkdir()
    config = load_config(config_file)
    config.warehouse.parent.mkdir()
    con = warehouse.connect(config.warehouse)
    warehouse.migrate(con)
    yield config, con
    con.close()


# --- what a sender may do ----------------------------------------------------------------------


@st.composite
def values_damaged(draw, frame: pl.DataFrame, rnd: random.Random) -> pl.DataFrame:
    """A few values replaced by hostile ones (or by any text at all)."""
    if frame.height == 0 or frame.width == 0:
        return frame
    rows = frame.to_dicts()
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        row = draw(st.integers(0, len(rows) - 1))
        column = draw(st.sampled_from(frame.columns))
        rows[row][column] = draw(st.one_of(st.sampled_from(HOSTILE_VALUES), st.text(max_size=20)))
    return pl.DataFrame(rows, schema=frame.schema)


@st.composite
def header_damaged(draw, frame: pl.DataFrame, rnd: random.Random) -> tuple[pl.DataFrame, list[str]]:
    """The column names as written: changed as exports change them, broken, duplicated, or
    with extra columns added (the frame keeps its own names; the header may repeat one)."""
    header = list(frame.columns)
    for _ in range(rnd.choices([0, 1, 2], [8, 1, 1])[0] if header else 0):
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(
            st.sampled_from(
                [
                    header[i].upper(),
                    f"  {header[i]} ",
                    f"{header[i]}\x1b[2J",
                    f"{header[i]}\n2024-12-31 INFO every delivery loaded",
                    header[i].replace("_", " "),
                    "",
                    header[(i + 1) % len(header)],  # a duplicate
                ]
            )
        )
    if rnd.random() < 0.25:
        extra = draw(st.sampled_from(["notes", "NHS 943 476 5919", "x\ry", "tab\tname"]))
        frame = frame.with_columns(pl.lit("extra value").alias(f"_extra_{len(header)}"))
        header.append(extra)
    return frame, header


@st.composite
def csv_bytes(draw, frame: pl.DataFrame, header: list[str], rnd: random.Random) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        lineterminator=rnd.choices(["\n", "\r\n", "\r"], [10, 8, 1])[0],
        quoting=rnd.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
        delimiter=rnd.choices([",", ";", "\t"], [18, 1, 1])[0],
    )
    if rnd.random() > 0.05:  # mostly with its header
        writer.writerow(header)
    writer.writerows([("" if v is None else v) for v in row] for row in frame.iter_rows())
    text = buffer.getvalue()
    if rnd.random() < 0.5:
        text += rnd.choice(["\n", "\n\n", "\r\n", ""])
    encoding = rnd.choices(["utf-8", "utf-8-sig", "utf-16", "cp1252"], [16, 2, 1, 1])[0]
    return text.encode(encoding, errors="replace")


def _typed(column: pl.Series, kind: str, draw) -> pa.Array:
    """A string column as the physical type a sender's tool might give it."""
    values = column.to_list()
    try:
        if kind == "int64":
            return pa.array([None if v in (None, "") else int(v) for v in values], pa.int64())
        if kind == "date32":
            return pa.array(
                [None if v in (None, "") else dt.date.fromisoformat(v) for v in values],
                pa.date32(),
            )
        if kind == "timestamp":
            unit = draw(st.sampled_from(["s", "ms", "us", "ns"]))
            tz = draw(st.sampled_from([None, "UTC", "Europe/London"]))
            return pa.array(
                [None if v in (None, "") else dt.datetime.fromisoformat(v) for v in values],
                pa.timestamp(unit, tz),
            )
    except (ValueError, OverflowError, pa.ArrowException):
        pass
    if kind == "wild_date32":
        return pa.array([draw(st.integers(-(2**31), 2**31 - 1)) for _ in values], pa.date32())
    if kind == "wild_timestamp":
        return pa.array(
            [draw(st.integers(-(2**63) + 1, 2**63 - 1)) for _ in values], pa.timestamp("us")
        )
    if kind == "float64":
        return pa.array([draw(st.floats(allow_nan=True)) for _ in values], pa.float64())
    if kind == "binary":
        return pa.array([None if v is None else v.encode() for v in values], pa.binary())
    if kind == "dictionary":
        return pa.array(values, pa.string()).dictionary_encode()
    if kind == "large_string":
        return pa.array(values, pa.large_string())
    return pa.array(values, pa.string())


SENSIBLE = ["string", "int64", "date32", "timestamp", "dictionary", "large_string"]
WILD = ["wild_date32", "wild_timestamp", "float64", "binary"]


@st.composite
def parquet_bytes(draw, frame: pl.DataFrame, header: list[str], rnd: random.Random) -> bytes:
    kinds = [rnd.choice(SENSIBLE) for _ in frame.columns]
    if kinds and rnd.random() < 0.2:  # now and then one column of a wild type
        kinds[rnd.randrange(len(kinds))] = rnd.choice(WILD)
    arrays = [_typed(frame[n], kind, draw) for n, kind in zip(frame.columns, kinds, strict=True)]
    if arrays:
        table = pa.Table.from_arrays(arrays, names=header)
    else:
        table = pa.table({"x": pa.array([], pa.string())})
    extra = rnd.choices([None, "list", "struct", "map", "null"], [8, 1, 1, 1, 1])[0]
    n = table.num_rows
    if extra == "list":
        table = table.append_column("extra_list", pa.array([[1, 2]] * n, pa.list_(pa.int64())))
    elif extra == "struct":
        table = table.append_column("extra_struct", pa.array([{"a": 1}] * n))
    elif extra == "map":
        table = table.append_column(
            "extra_map", pa.array([[("k", 1)]] * n, pa.map_(pa.string(), pa.int64()))
        )
    elif extra == "null":
        table = table.append_column("extra_null", pa.nulls(n))
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression=rnd.choice(["none", "snappy", "gzip", "zstd"]),
        row_group_size=rnd.choice([None, 1, 3]),
        use_dictionary=rnd.random() < 0.5,
    )
    return buffer.getvalue()


@st.composite
def bytes_damaged(draw, data: bytes, rnd: random.Random) -> bytes:
    damage = rnd.choices([None, "truncate", "flip", "insert", "empty"], [30, 1, 1, 1, 1])[0]
    if damage is None or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if damage == "truncate":
        return data[:at]
    if damage == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if damage == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return b""


@st.composite
def file_names(draw, extract: str, fmt: str, rnd: random.Random) -> str:
    provider = SENDER[extract]
    period = rnd.choices(
        ["20241231", "20240630", "20250131", "99991231", "20521231", "19991231"],
        [40, 2, 2, 1, 1, 1],
    )[0]
    name = f"{extract}_{provider}_{period}.{fmt}"
    if rnd.random() < 0.85:
        return name
    return draw(
        st.sampled_from(
            [
                f"{extract}_{provider.lower()}_{period}.{fmt}",
                f"{extract}_ZZZ9_{period}.{fmt}",
                f"{extract}s_{provider}_{period}.{fmt}",
                f"{extract}_{provider}_{period}.{'parquet' if fmt == 'csv' else 'csv'}",
                f"{extract}_{provider}_{period}.{fmt}\n",
                f"{extract}_{provider}_{period}\x1b[31m.{fmt}",
                f"\u202e{name}",
                f"{name}.part",
                f".{name}",
            ]
        )
    )


@st.composite
def deliveries(draw) -> tuple[str, bytes]:
    rnd = draw(st.randoms(use_true_random=True))  # how often each kind of damage is done
    contract = draw(st.sampled_from(CONTRACTS))
    rows, styles = draw(valid_table(contract, min_rows=0))
    frame = to_frame(contract, rows, styles, draw(optional_absent(contract)))
    if frame.height and rnd.random() < 0.03:  # a big delivery: its rows many times over
        frame = pl.concat([frame] * 2000)
    frame, header = draw(header_damaged(draw(values_damaged(frame, rnd)), rnd))
    fmt = rnd.choice(["csv", "parquet"])
    write = csv_bytes if fmt == "csv" else parquet_bytes
    data = draw(write(frame, header, rnd))
    return draw(file_names(contract.extract, fmt, rnd)), draw(bytes_damaged(data, rnd))


# --- what must hold ----------------------------------------------------------------------------


def _unprintable(text: str) -> bool:
    return any(not c.isprintable() for c in text)


def _nhs_shaped(text: str) -> bool:
    return any(is_valid_nhs_number(m.group()) for m in NHS_NUMBER_SHAPE.finditer(text))


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


RUNS = itertools.count()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(delivery=deliveries())
def test_any_delivery_ends_accounted_for_and_nothing_it_wrote_escapes(
    ics, delivery, monkeypatch_env
):
    config, con = ics
    name, data = delivery
    path = config.landing / name
    path.write_bytes(data)
    run_id = f"fuzz-{next(RUNS)}"
    lines = _Lines()
    logger = logging.getLogger("diewell")
    logger.addHandler(lines)
    old_level, logger.level = logger.level, logging.DEBUG
    try:
        outcomes = ingest_landing(con, config, run_id, report=False)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(old_level)
    waiting = name.startswith(".") or name.endswith((".part", ".tmp"))

    try:
        if waiting:
            assert outcomes == [] and path.exists()
            return
        [outcome] = outcomes
        event(f"{outcome.status} {outcome.rule or ''}".strip())
        if outcome.rule == "unreadable":
            event("UNREADABLE " + outcome.reason[:90])
        assert outcome.status in ("loaded", "unchanged", "superseded", "rejected")
        if outcome.status == "rejected":
            assert outcome.rule and outcome.reason
        if outcome.status == "loaded":
            assert outcome.rows_read == outcome.rows_loaded + outcome.rows_quarantined
        written = [*lines.lines, outcome.file_name, outcome.reason or ""]
        for row in con.execute(
            "SELECT file_id, file_name, status, reject_rule, reject_reason, extra_columns, "
            "rows_read, rows_loaded, rows_quarantined FROM landing_files WHERE run_id = ?",
            [run_id],
        ).fetchall():
            file_id, status, counts = row[0], row[2], row[6:]
            if status == "loaded":
                assert counts[0] == counts[1] + counts[2]
            written += [str(v) for v in row[1:6] if v is not None]
            written += [
                str(v)
                for q in con.execute(
                    "SELECT file_name, rule, column_name, value, message FROM quarantine_rows "
                    "WHERE file_id = ?",
                    [file_id],
                ).fetchall()
                for v in q
                if v is not None
            ]
        for reason_file in config.rejected.glob("*.reason.json"):
            detail = json.loads(reason_file.read_text(encoding="utf-8"))
            detail.pop("sha256")  # a checksum, not the sender's words (its hex may hold digits)
            written += [str(v) for v in detail.values() if v is not None]
        for text in written:
            assert not _unprintable(text), text
            assert not _nhs_shaped(text), text
        if outcome.status == "loaded":
            _staged_text_is_printable(con, outcome.extract, run_id)
    finally:
        for leftover in config.landing.iterdir():
            if leftover.is_dir() and leftover.name != ".ingesting":
                shutil.rmtree(leftover)
            elif not leftover.is_dir():
                leftover.unlink()
        shutil.rmtree(config.rejected, ignore_errors=True)


def _staged_text_is_printable(con, extract: str, run_id: str) -> None:
    table = f"stg_{extract}"
    text_columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = ? AND data_type = 'VARCHAR'",
            [table],
        ).fetchall()
    ]
    for column in text_columns:
        values = con.execute(
            f'SELECT s."{column}" FROM {table} s JOIN landing_files f USING (file_id) '
            f'WHERE f.run_id = ? AND s."{column}" IS NOT NULL',
            [run_id],
        ).fetchall()
        for (value,) in values:
            assert not _unprintable(value), (column, value)


@pytest.fixture(scope="module")
def monkeypatch_env():
    """The key in the environment for the whole module (Hypothesis reuses the fixture)."""
    patcher = pytest.MonkeyPatch()
    patcher.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    yield
    patcher.undo()
