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
    HMAC per person.
    """
    if len(key) < 32:
        raise ValueError("the pseudonymisation key must be at least 32 bytes")
    distinct = numbers.drop_nulls().unique()
    mapping = {n: pseudonym(n, key) for n in distinct.to_list()}
    return numbers.replace_strict(mapping, default=None, return_dtype=pl.String)
