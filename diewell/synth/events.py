"""Small helpers shared by the activity generators: tables of columns and random draws."""

from __future__ import annotations

import numpy as np

SECONDS_PER_DAY = 86_400
NO_DATE = -(10**7)  # a missing date (days since 1970; real dates of birth can be negative)


class Table(dict):
    """Columns (numpy arrays of one length) of one kind of record, before delivery."""

    def __len__(self) -> int:  # number of rows, not of columns
        return len(next(iter(self.values()))) if dict.__len__(self) else 0

    def take(self, rows: np.ndarray) -> Table:
        return Table({k: v[rows] for k, v in self.items()})


def concat(tables: list[Table]) -> Table:
    """Rows of several tables with the same columns, in order."""
    tables = [t for t in tables if dict.__len__(t)]
    if not tables:
        return Table()
    return Table({k: np.concatenate([t[k] for t in tables]) for k in tables[0]})


def pick(rng: np.random.Generator, shares: dict, n: int) -> np.ndarray:
    """n keys of `shares` drawn with their (normalised) weights, as an object array."""
    keys = np.array(list(shares), dtype=object)
    weights = np.array(list(shares.values()), dtype=float)
    return keys[rng.choice(len(keys), n, p=weights / weights.sum())]


def uniform_day(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """A day in [first, last] for each pair (last >= first)."""
    span = np.maximum(np.asarray(last) - np.asarray(first) + 1, 1)
    return np.asarray(first) + np.floor(rng.random(len(span)) * span).astype(np.int64)


def late_day(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, power: float
) -> np.ndarray:
    """A day in [first, last], more often near `last` (power < 1 skews later)."""
    span = np.maximum(np.asarray(last) - np.asarray(first) + 1, 1)
    return np.asarray(first) + np.floor(rng.random(len(span)) ** power * span).astype(np.int64)


def negative_binomial(rng: np.random.Generator, mean: np.ndarray, shape: float) -> np.ndarray:
    """Over-dispersed counts with the given means (gamma-Poisson mixture)."""
    mean = np.asarray(mean, dtype=float)
    return rng.poisson(rng.gamma(shape, 1.0, len(mean)) * mean / shape)


def expand(counts: np.ndarray) -> np.ndarray:
    """Row positions repeated `counts` times (the parent row of each generated event)."""
    return np.repeat(np.arange(len(counts)), counts)


def rank_within(parent: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... for consecutive rows with the same parent (parent sorted ascending)."""
    if len(parent) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[True], parent[1:] != parent[:-1]])
    first = np.maximum.accumulate(np.where(starts, np.arange(len(parent)), 0))
    return np.arange(len(parent)) - first


def seconds(rng: np.random.Generator, day: np.ndarray, hour_weights: np.ndarray) -> np.ndarray:
    """Epoch seconds on `day` at a time drawn from 24 hourly weights."""
    hour = rng.choice(24, len(day), p=hour_weights / hour_weights.sum())
    within = rng.integers(0, 3600, len(day))
    return np.asarray(day) * SECONDS_PER_DAY + hour * 3600 + within
