"""Pseudonyms are HMAC-SHA256 of the normalised NHS number, cut to 128 bits (hex): in Python
(`pseudonym`, the definition) and in DuckDB, as the load's INSERT computes them
(`PSEUDONYM_SQL`, RFC 2104 built from SHA-256 and the key's padded blocks, `key_blocks`)."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import polars as pl
import pytest

from diewell.transforms.pseudonymise import (
    PSEUDONYM_HEX_CHARS,
    PSEUDONYM_SQL,
    key_blocks,
    pseudonym,
)

# RFC 4231, test cases 6 and 7: a 131-byte key of 0xaa (longer than SHA-256's block, so
# hashed first)
RFC4231_KEY = b"\xaa" * 131
RFC4231_CASES = {
    "Test Using Larger Than Block-Size Key - Hash Key First": (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    ),
    "This is a test using a larger than block-size key and a larger than block-size data. "
    "The key needs to be hashed before being used by the HMAC algorithm.": (
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
    ),
}


def pseudonyms(con, numbers: pl.Series, key: bytes) -> pl.Series:
    """PSEUDONYM_SQL over a column, as the load's INSERT runs it."""
    frame = numbers.rename("number").to_frame()
    con.register("numbers", frame)
    sql = f"SELECT {PSEUDONYM_SQL.format(column='number')} AS p FROM numbers"
    out = con.sql(sql, params=list(key_blocks(key))).pl()["p"].rename(numbers.name)
    con.unregister("numbers")
    return out


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_a_pseudonym_is_the_rfc_4231_hmac_sha256_cut_to_128_bits(con):
    assert PSEUDONYM_HEX_CHARS == 32
    data = list(RFC4231_CASES)
    assert [pseudonym(d, RFC4231_KEY) for d in data] == [h[:32] for h in RFC4231_CASES.values()]
    out = pseudonyms(con, pl.Series("nhs_number", data), RFC4231_KEY)
    assert out.to_list() == [h[:32] for h in RFC4231_CASES.values()]


def test_a_key_within_one_block_gives_the_standard_librarys_hmac(con):
    for key in (bytes(range(32)), bytes(range(64)), b"k" * 40):
        numbers = ["9434765919", "4010232137", "9990000018"]
        expected = [hmac.new(key, n.encode(), hashlib.sha256).hexdigest()[:32] for n in numbers]
        assert pseudonyms(con, pl.Series("n", numbers), key).to_list() == expected
        outer, inner = key_blocks(key)
        assert len(outer) == len(inner) == 64
        assert bytes(a ^ b for a, b in zip(outer, inner, strict=True)) == bytes([0x6A]) * 64


def test_every_row_keeps_its_place_repeats_share_a_pseudonym_and_nulls_stay_null(con):
    key = bytes(range(32))
    numbers = ["9434765919", None, "9434765870", "9434765919", None, "4010232137"]
    out = pseudonyms(con, pl.Series("nhs_number", numbers), key)
    assert out.name == "nhs_number" and out.dtype == pl.String
    expected = [pseudonym(n, key) if n is not None else None for n in numbers]
    assert out.to_list() == expected
    assert out[0] == out[3] and len({out[0], out[2], out[5]}) == 3


def test_many_rows_hashed_on_every_thread_match_the_definition(con):
    """Enough rows for DuckDB to hash them on every thread: each number's pseudonym, paired
    with the number in the same query (no reliance on the rows' order), is `pseudonym`'s."""
    key = b"threads-" + b"0" * 30
    numbers = [f"{9_000_000_000 + 7 * i}" for i in range(300_000)]
    con.register("numbers", pl.DataFrame({"number": numbers}))
    sql = f"SELECT number, {PSEUDONYM_SQL.format(column='number')} AS p FROM numbers"
    try:
        out = dict(con.sql(sql, params=list(key_blocks(key))).fetchall())
    finally:
        con.unregister("numbers")
    assert len(out) == len(numbers)
    sample = numbers[::997]
    assert [out[n] for n in sample] == [pseudonym(n, key) for n in sample]


def test_an_empty_or_all_null_column_and_a_short_key(con):
    key = bytes(range(32))
    assert pseudonyms(con, pl.Series("n", [], dtype=pl.String), key).to_list() == []
    assert pseudonyms(con, pl.Series("n", [None, None], dtype=pl.String), key).to_list() == [
        None,
        None,
    ]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        pseudonyms(con, pl.Series("n", ["9434765919"]), b"short")
