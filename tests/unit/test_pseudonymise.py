"""Pseudonyms are HMAC-SHA256 of the normalised NHS number, cut to 128 bits (hex)."""

from __future__ import annotations

import polars as pl
import pytest

from diewell.transforms.pseudonymise import PSEUDONYM_HEX_CHARS, pseudonym, pseudonymise

# RFC 4231, test case 6: a 131-byte key of 0xaa (longer than SHA-256's block, so hashed first)
RFC4231_KEY = b"\xaa" * 131
RFC4231_DATA = "Test Using Larger Than Block-Size Key - Hash Key First"
RFC4231_HMAC_SHA256 = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_a_pseudonym_is_the_rfc_4231_hmac_sha256_cut_to_128_bits():
    assert PSEUDONYM_HEX_CHARS == 32
    assert pseudonym(RFC4231_DATA, RFC4231_KEY) == RFC4231_HMAC_SHA256[:32]
    series = pseudonymise(pl.Series("nhs_number", [RFC4231_DATA]), RFC4231_KEY)
    assert series.to_list() == [RFC4231_HMAC_SHA256[:32]]


def test_every_row_keeps_its_place_repeats_share_a_pseudonym_and_nulls_stay_null():
    key = bytes(range(32))
    numbers = ["9434765919", None, "9434765870", "9434765919", None, "4010232137"]
    out = pseudonymise(pl.Series("nhs_number", numbers), key)
    assert out.name == "nhs_number" and out.dtype == pl.String
    expected = [pseudonym(n, key) if n is not None else None for n in numbers]
    assert out.to_list() == expected
    assert out[0] == out[3] and len({out[0], out[2], out[5]}) == 3


def test_an_empty_or_all_null_column_and_a_short_key():
    key = bytes(range(32))
    assert pseudonymise(pl.Series("n", [], dtype=pl.String), key).to_list() == []
    assert pseudonymise(pl.Series("n", [None, None], dtype=pl.String), key).to_list() == [
        None,
        None,
    ]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        pseudonymise(pl.Series("n", ["9434765919"]), b"short")
