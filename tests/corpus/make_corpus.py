"""Build the corpus files that are not plain UTF-8 text, and the big cases at test time.

The text cases of tests/corpus are written by hand and committed as they are. The files here
are binary, or text in another encoding, so they are built by this script, deterministically
(fixed timestamps, fixed content), and committed too so that a reviewer can see them:

    .venv/bin/python tests/corpus/make_corpus.py

Two cases are too big to commit (a 1 MB field, a million rows); `generate(name, folder)`
writes them into a temporary case folder when the test runs.

The hostile cases (issue 11: links, names that are not UTF-8, a named pipe, files over the size
limit) cannot be committed as they are - git would store a link as a link to a machine path,
and a name that is not UTF-8 does not survive every checkout - so `build_hostile(name,
landing, outside)` makes each one in a landing folder at test time, with any link pointing
into `outside` (a folder of the test's own, standing for the rest of the machine). Every NHS number here is in the
999 test range with a valid modulus 11 check digit, unless the case is about an invalid one.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CORPUS = Path(__file__).resolve().parent

DEATHS = (
    "nhs_number,date_of_birth,date_of_death,sex,underlying_cause_icd10,place_of_death,lsoa_code\n"
    "9990000018,1940-03-02,2024-12-01,1,C34.9,home,E01000001\n"
    "9990000026,1935-07-15,2024-12-05,2,I21,hospital,E01000002\n"
    "9990000034,1950-11-30,2024-12-09,1,J44.1,21,E01000003\n"
)
AE = (
    "attendance_id,nhs_number,arrival_datetime,department_type\n"
    "A1,9990000018,2024-12-01T09:15,01\n"
    "A2,9990000026,2024-12-02T10:30,01\n"
    "A3,9990000034,2024-12-03 11:45:00,02\n"
)
REF_PRACTICE_HEADER = "gp_practice_code,practice_name,pcn_code,pcn_name,place_code,place_name\n"


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="none")
    return buffer.getvalue()


def _deaths_table(**replace: pa.Array) -> pa.Table:
    """The three deaths of DEATHS as a typed Parquet table; `replace` swaps whole columns."""
    columns = {
        "nhs_number": pa.array([9990000018, 9990000026, 9990000034], pa.int64()),
        "date_of_birth": pa.array(
            [dt.date(1940, 3, 2), dt.date(1935, 7, 15), dt.date(1950, 11, 30)], pa.date32()
        ),
        "date_of_death": pa.array(
            [dt.date(2024, 12, 1), dt.date(2024, 12, 5), dt.date(2024, 12, 9)], pa.date32()
        ),
        "sex": pa.array(["1", "2", "1"]),
        "underlying_cause_icd10": pa.array(["C34.9", "I21", "J44.1"]),
        "place_of_death": pa.array(["home", "hospital", "21"]),
        "lsoa_code": pa.array(["E01000001", "E01000002", "E01000003"]),
    }
    columns.update(replace)
    return pa.table(columns)


def _xlsx() -> bytes:
    """A minimal, valid Excel workbook (one sheet, the deaths header and one row)."""
    cells = DEATHS.splitlines()[:2]
    rows = []
    for r, line in enumerate(cells, start=1):
        row_cells = "".join(
            f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{value}</t></is></c>'
            for c, value in enumerate(line.split(","))
        )
        rows.append(f'<row r="{r}">{row_cells}</row>')
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="deaths" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 12, 31, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buffer.getvalue()


def _xls() -> bytes:
    """The start of a legacy Excel (.xls) file: the OLE2 compound document signature and header."""
    header = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + bytes.fromhex("3E000300FEFF0900")
    return header + bytes(512 - len(header))


def binary_files() -> dict[str, bytes]:
    """Relative path under tests/corpus -> exact bytes, for every built (non-hand-written) file."""
    practices = (
        REF_PRACTICE_HEADER
        + "A81001,Abbey Surgery,U12345,Bath Central PCN,P01,Bath\n"
        + "A81002,Surgery Café,U12345,Bath Central PCN,P01,Bath\n"
        + "A81003,Hill View Practice,U67890,Wiltshire North PCN,P02,Wiltshire\n"
    )
    smart_quote = (
        REF_PRACTICE_HEADER
        + "A81001,St Mary’s Surgery,U12345,Bath Central PCN,P01,Bath\n"
        + "A81003,Hill View Practice,U67890,Wiltshire North PCN,P02,Wiltshire\n"
    )
    deaths_parquet = _parquet(_deaths_table())
    return {
        "latin1_encoding/ref_practice_QXX_20241231.csv": practices.encode("latin-1"),
        "windows_1252_smart_quote/ref_practice_QXX_20241231.csv": smart_quote.encode("cp1252"),
        "utf16_with_bom/ae_attendances_RX1_20241231.csv": AE.encode("utf-16"),
        "utf16_without_bom/ae_attendances_RX1_20241231.csv": AE.encode("utf-16-le"),
        "utf8_bom/deaths_QXX_20241231.csv": DEATHS.encode("utf-8-sig"),
        "crlf_line_endings/deaths_QXX_20241231.csv": DEATHS.replace("\n", "\r\n").encode(),
        "excel_xlsx_renamed_csv/deaths_QXX_20241231.csv": _xlsx(),
        "excel_xls_renamed_csv/deaths_QXX_20241231.csv": _xls(),
        "excel_extension/deaths_QXX_20241231.xlsx": _xlsx(),
        "gzip_compressed_csv/deaths_QXX_20241231.csv": gzip.compress(DEATHS.encode(), mtime=0),
        "parquet_named_csv/deaths_QXX_20241231.csv": deaths_parquet,
        "parquet_typed_columns/deaths_QXX_20241231.parquet": deaths_parquet,
        "parquet_all_empty_optional_column/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table(date_of_registration=pa.nulls(3))
        ),
        "parquet_nhs_number_as_float/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table(
                nhs_number=pa.array([9990000018.0, 9990000026.0, 9990000034.0], pa.float64())
            )
        ),
        "parquet_date_as_integer/apc_spells_RX1_20241231.parquet": _parquet(
            pa.table(
                {
                    "spell_id": ["S1", "S2"],
                    "nhs_number": ["9990000018", "9990000026"],
                    "admission_date": pa.array([20241120, 20241201], pa.int64()),
                    "admission_method": ["21", "11"],
                }
            )
        ),
        "truncated_parquet/deaths_QXX_20241231.parquet": deaths_parquet[: len(deaths_parquet) // 2],
        # --- no delivery stops a run (issue 36, extracts.md v3) ---
        "cr_only_line_endings/deaths_QXX_20241231.csv": DEATHS.replace("\n", "\r").encode(),
        "control_characters_in_header/deaths_QXX_20241231.csv": DEATHS.replace(
            "date_of_birth,", "date_of_birth\x1b[31m,", 1
        ).encode(),
        "parquet_extra_list_column/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table().append_column("notes", pa.array([[1, 2], [], [3]]))
        ),
        "parquet_date_outside_calendar/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table(
                # 1940-03-02, a day in the year 275,759 (beyond 9999), 1950-11-30
                date_of_birth=pa.array([-10_897, 100_000_000, -6_972], pa.date32())
            )
        ),
        "parquet_dictionary_encoded_strings/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table(
                sex=pa.array(["1", "2", "1"]).dictionary_encode(),
                place_of_death=pa.array(["home", "hospital", "21"]).dictionary_encode(),
            )
        ),
        "line_break_in_parquet_column_name/deaths_QXX_20241231.parquet": _parquet(
            _deaths_table().append_column(
                "note\n2024-12-31 INFO every delivery loaded", pa.array(["a", "b", "c"])
            )
        ),
    }


# --- big cases, generated at test time -------------------------------------------------------


def _check_digit(stem: int) -> int | None:
    """Modulus 11 check digit of a 9-digit stem, or None when the stem has no valid number."""
    total = sum(int(d) * w for d, w in zip(str(stem), range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return None if check == 10 else (0 if check == 11 else check)


def _valid_numbers(count: int) -> list[str]:
    numbers, stem = [], 999_100_000
    while len(numbers) < count:
        check = _check_digit(stem)
        if check is not None:
            numbers.append(f"{stem}{check}")
        stem += 1
    return numbers


MILLION = 1_000_000
MILLION_BAD_ROW = 654_321  # 1-based data row holding the one invalid NHS number


def _one_million_rows_one_bad(folder: Path) -> None:
    """ae_attendances with 1,000,000 rows (1,000 people); data row 654,321 has a wrong check digit."""
    import numpy as np
    import polars as pl

    people = np.array(_valid_numbers(1_000), dtype=object)
    i = np.arange(MILLION)
    numbers = people[i % 1_000].copy()
    good = numbers[MILLION_BAD_ROW - 1]
    numbers[MILLION_BAD_ROW - 1] = good[:9] + str((int(good[9]) + 1) % 10)
    day = 1 + i % 28
    minute = i % (24 * 60)
    frame = pl.DataFrame(
        {
            "attendance_id": [f"A{n:07d}" for n in range(1, MILLION + 1)],
            "nhs_number": numbers.tolist(),
            "arrival_datetime": [
                f"2024-12-{d:02d}T{m // 60:02d}:{m % 60:02d}"
                for d, m in zip(day.tolist(), minute.tolist(), strict=True)
            ],
            "department_type": ["01"] * MILLION,
        }
    )
    frame.write_csv(folder / "ae_attendances_RX1_20241231.csv")


def _long_text_field_1mb(folder: Path) -> None:
    """ref_practice with a 1,000,000-character practice name on data row 2."""
    text = (
        REF_PRACTICE_HEADER
        + "A81001,Abbey Surgery,U12345,Bath Central PCN,P01,Bath\n"
        + f"A81002,{'X' * 1_000_000},U12345,Bath Central PCN,P01,Bath\n"
        + "A81003,Hill View Practice,U67890,Wiltshire North PCN,P02,Wiltshire\n"
    )
    (folder / "ref_practice_QXX_20241231.csv").write_text(text, encoding="utf-8")


def _long_code_field_1mb(folder: Path) -> None:
    """ae_attendances with a 1,000,000-character department_type on data row 3."""
    text = (
        "attendance_id,nhs_number,arrival_datetime,department_type\n"
        "A1,9990000018,2024-12-01T09:15,01\n"
        "A2,9990000026,2024-12-02T10:30,01\n"
        f"A3,9990000034,2024-12-03 11:45:00,{'Z' * 1_000_000}\n"
    )
    (folder / "ae_attendances_RX1_20241231.csv").write_text(text, encoding="utf-8")


GENERATORS = {
    "one_million_rows_one_bad": _one_million_rows_one_bad,
    "long_text_field_1mb": _long_text_field_1mb,
    "long_code_field_1mb": _long_code_field_1mb,
}


# --- hostile deliveries, built in the landing folder at test time -----------------------------

SECRET_LINE = "SECRET first line of a file the worker can read 9990000018"  # must never leak


def _secret_file(outside: Path) -> Path:
    target = outside / "worker_private.txt"
    target.write_text(f"{SECRET_LINE}\nmore\n", encoding="utf-8")
    return target


def _symbolic_link_to_file(landing: Path, outside: Path) -> None:
    """A contract-named link to a file elsewhere on the machine."""
    (landing / "deaths_QXX_20241231.csv").symlink_to(_secret_file(outside))


def _dangling_symbolic_link(landing: Path, outside: Path) -> None:
    """A contract-named link to nothing (its target was removed, or never existed)."""
    (landing / "deaths_QXX_20241231.csv").symlink_to(outside / "gone.csv")


def _symbolic_link_to_folder(landing: Path, outside: Path) -> None:
    """A link to a folder elsewhere holding a well-formed delivery: never descended into."""
    folder = outside / "elsewhere"
    folder.mkdir()
    (folder / "deaths_QXX_20241231.csv").write_text(DEATHS, encoding="utf-8")
    (landing / "linked_folder").symlink_to(folder, target_is_directory=True)


def _file_name_not_utf8(landing: Path, outside: Path) -> None:
    """A name with the byte 0xFF (not UTF-8), as a Windows-1252 system might write 'ÿ'."""
    name = b"deaths_QXX_2024\xff1231.csv"
    with open(os.path.join(os.fsencode(landing), name), "wb") as f:
        f.write(DEATHS.encode())


def _file_name_with_newline(landing: Path, outside: Path) -> None:
    """A contract name followed by a line feed: it must not pass for the contract name."""
    (landing / "deaths_QXX_20241231.csv\n").write_text(DEATHS, encoding="utf-8")


def _named_pipe(landing: Path, outside: Path) -> None:
    """A FIFO under a contract name: opening it would wait for a writer for ever."""
    os.mkfifo(landing / "deaths_QXX_20241231.csv")


def _file_larger_than_limit(landing: Path, outside: Path) -> None:
    """A well-formed CSV of 259 bytes, over the case's limit of 200 bytes."""
    (landing / "deaths_QXX_20241231.csv").write_text(DEATHS, encoding="utf-8")


PARQUET_BOMB_ROWS = 20_000


def _bomb_table() -> pa.Table:
    """20,000 rows of the same values, about 2.4 MB once decoded."""
    rows = PARQUET_BOMB_ROWS
    return pa.table(
        {
            "nhs_number": pa.array(["9990000018"] * rows),
            "date_of_death": pa.array(["2024-12-01"] * rows),
            "underlying_cause_icd10": pa.array(["C34.9 " + "x" * 94] * rows),
        }
    )


def _parquet_decoded_larger_than_limit(landing: Path, outside: Path) -> None:
    """A small Parquet file (a few KB: dictionary-encoded, zstd) whose rows decode to about
    2.4 MB, over the case's limit of 100,000 bytes. Its footer's sizes are of the encoded
    pages (a few KB), so only counting the decoded rows catches it."""
    pq.write_table(_bomb_table(), landing / "deaths_QXX_20241231.parquet", compression="zstd")


def _parquet_footer_declares_over_limit(landing: Path, outside: Path) -> None:
    """The same rows without dictionary encoding: the footer itself declares about 2.5 MB
    uncompressed, so the file is refused before any row is decoded."""
    pq.write_table(
        _bomb_table(),
        landing / "deaths_QXX_20241231.parquet",
        compression="zstd",
        use_dictionary=False,
    )


HOSTILE = {
    "symbolic_link_to_file": _symbolic_link_to_file,
    "dangling_symbolic_link": _dangling_symbolic_link,
    "symbolic_link_to_folder": _symbolic_link_to_folder,
    "file_name_not_utf8": _file_name_not_utf8,
    "file_name_with_newline": _file_name_with_newline,
    "named_pipe": _named_pipe,
    "file_larger_than_limit": _file_larger_than_limit,
    "parquet_decoded_larger_than_limit": _parquet_decoded_larger_than_limit,
    "parquet_footer_declares_over_limit": _parquet_footer_declares_over_limit,
}


def build_hostile(name: str, landing: Path, outside: Path) -> None:
    """Make the hostile case `name` in the landing folder (links point into `outside`)."""
    HOSTILE[name](landing, outside)


def generate(name: str, folder: Path) -> Path:
    """Write the generated case `name` into `folder` (created) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    GENERATORS[name](folder)
    return folder


def main() -> int:
    for rel, data in binary_files().items():
        path = CORPUS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{len(data):>6} bytes  {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
