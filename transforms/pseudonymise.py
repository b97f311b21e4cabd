"""Keyed pseudonyms for NHS numbers (HMAC-SHA256), so records link without the number itself.

The same key gives the same pseudonym for the same person in every delivery; without the key
a pseudonym cannot be reversed or recomputed. The key never reaches the warehouse, logs or
outputs.
"""

from __future__ import annotations

import hashlib
import hmac

import polars as pl

PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are negligible at national scale


def pseudonym(normalised_nhs_number: str, key: bytes) -> str:
    """The pseudonym of one normalised (10 digit) NHS number."""
    digest = hmac.new(key, normalised_nhs_number.encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise(numbers: pl.Series, key: bytes) -> pl.Series:
    """Replace each normalised NHS number by its pseudonym (nulls stay null).

    Each distinct number is hashed once, so a file with many rows per person costs one
    HMAC per person; the keyed HMAC state is made once and copied for each number (the same
    digest as `pseudonym`, without setting the key up every time), and the pseudonyms are
    joined back onto the rows.
    """
    if len(key) < 32:
        raise ValueError("the pseudonymisation key must be at least 32 bytes")
    keyed = hmac.new(key, digestmod=hashlib.sha256)
    distinct = numbers.drop_nulls().unique()

    def one(number: str) -> str:
        h = keyed.copy()
        h.update(number.encode("ascii"))
        return h.hexdigest()[:PSEUDONYM_HEX_CHARS]

    mapping = pl.DataFrame(
        {
            "number": distinct,
            "pseudonym": pl.Series([one(n) for n in distinct.to_list()], dtype=pl.String),
        }
    )
    joined = (
        numbers.rename("number")
        .to_frame()
        .join(mapping, on="number", how="left", maintain_order="left")
    )
    return joined["pseudonym"].rename(numbers.name)
