"""NHS numbers: normalising, the modulus 11 check, and masking for quarantine reports.

An NHS number is 10 digits; the 10th is a check digit over the first nine with weights
10 down to 2: check = 11 - (sum mod 11), where 11 becomes 0 and 10 means the number is
invalid. Files may carry spaces or hyphens between the digit groups ("943 476 5919").
"""

from __future__ import annotations

import numpy as np
import polars as pl

WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)  # 10, 9, ..., 2


def check_digits(stems: np.ndarray) -> np.ndarray:
    """Check digit for each 9-digit stem (int64 array); 10 marks a stem that has no valid number."""
    stems = np.asarray(stems, dtype=np.int64)
    total = np.zeros_like(stems)
    rest = stems.copy()
    for weight in range(2, 11):  # least significant digit carries weight 2
        total += (rest % 10) * weight
        rest //= 10
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def is_valid_nhs_number(value: str) -> bool:
    """True when value, after removing spaces and hyphens, is 10 digits passing modulus 11."""
    digits = value.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    check = int(check_digits(np.array([int(digits[:9])]))[0])
    return check != 10 and check == int(digits[9])


def normalise_expr(column: str) -> pl.Expr:
    """The column with spaces and hyphens removed (still a string; null stays null)."""
    return pl.col(column).str.replace_all(r"[ \-]", "")


def number_expr(normalised: pl.Expr) -> pl.Expr:
    """A normalised NHS number as an integer, or null where it is not 10 digits."""
    shape_ok = normalised.str.contains(r"^[0-9]{10}$").fill_null(False)
    return pl.when(shape_ok).then(normalised).otherwise(None).cast(pl.Int64)


def _weighted_digit_sums(weights: tuple[int, int, int]) -> pl.Series:
    """For every 3-digit group 000-999, the sum of its digits times these weights."""
    return pl.Series(
        [sum(int(d) * w for d, w in zip(f"{g:03d}", weights, strict=True)) for g in range(1000)],
        dtype=pl.Int64,
    )


# The nine digits before the check digit, in three groups, with weights 10 down to 2.
_GROUP_SUMS = [_weighted_digit_sums(w) for w in ((10, 9, 8), (7, 6, 5), (4, 3, 2))]


def modulus11_expr(number: pl.Expr) -> pl.Expr:
    """The modulus 11 check over 10-digit NHS numbers held as integers (null -> false).

    The nine digits before the check digit (number // 10) are taken in three groups of three
    (a few divisions, not nine); each group's weighted digit sum comes from a table. `number`
    is referred to several times: pass a column, not a computation.
    """
    stem = number // 10
    groups = (stem // 1_000_000, stem // 1_000 % 1_000, stem % 1_000)
    total = sum(
        pl.lit(sums).gather(group.fill_null(0))
        for sums, group in zip(_GROUP_SUMS, groups, strict=True)
    )
    check = 11 - total % 11
    check = pl.when(check == 11).then(0).otherwise(check)
    return ((check != 10) & (check == number % 10) & number.is_not_null()).fill_null(False)


def mask(value: str | None) -> str | None:
    """Mask an NHS number for a quarantine report: keep only the last two characters."""
    if value is None:
        return None
    kept = value[-2:] if len(value) > 2 else ""
    return "*" * max(len(value) - 2, 0) + kept
