"""Synthetic NHS numbers: a closed form from a person's index, unique across the ICS.

Person index i (0 <= i < total) is first scrambled by the bijection j = (i*a + b) mod total
(a coprime to total), so numbers are not in practice order. Then j picks decade d = j // 9 of
the 9-digit stems 900000000 + 10d ... + 9: at most one stem of a decade has check digit 10
(consecutive stems' check digits differ), so every decade holds at least nine valid stems, and
j takes the (j % 9)-th of them. Distinct j give distinct stems, hence distinct numbers; 57
million people use stems up to about 966,000,000, all in the 9xx range that no real patient
holds.
"""

from __future__ import annotations

import numpy as np

from diewell.transforms.nhs_number import check_digits

FIRST_STEM = 900_000_000


def nhs_numbers(index: np.ndarray, total: int, multiplier: int, offset: int) -> np.ndarray:
    """The 10-digit NHS number (int64) of each person index."""
    index = np.asarray(index, dtype=np.int64)
    scrambled = (index * multiplier + offset) % total
    decade = scrambled // 9
    rank = scrambled % 9
    stems = FIRST_STEM + 10 * decade[:, None] + np.arange(10, dtype=np.int64)[None, :]
    checks = check_digits(stems.ravel()).reshape(stems.shape)
    invalid = checks == 10
    # The rank-th valid stem: step over the invalid one if it comes at or before that rank.
    has_invalid = invalid.any(axis=1)
    invalid_at = np.where(has_invalid, invalid.argmax(axis=1), 10)
    position = rank + (invalid_at <= rank)
    rows = np.arange(len(index))
    return stems[rows, position] * 10 + checks[rows, position]
