"""A release is disclosure-controlled, written and audited a part at a time: an indicator, or
the indicators that share a denominator (rule 3), together; the parts one after another are
the indicators in id order."""

from __future__ import annotations

import pytest

from diewell.warehouse.indicators import catalogue
from diewell.warehouse.indicators import compute as indicators


@pytest.fixture
def sets(monkeypatch):
    def use(mapping: dict[str, str]) -> None:
        monkeypatch.setattr(catalogue, "shared_denominators", lambda: mapping)

    return use


def test_each_indicator_alone_without_shared_denominators(sets):
    sets({})
    assert catalogue.release_parts(["B1", "A1", "C1", "A1"]) == [("A1",), ("B1",), ("C1",)]


def test_a_shared_denominator_set_is_one_part(sets):
    sets({"P1": "place", "P2": "place", "P3": "place"})
    assert catalogue.release_parts(["A1", "P3", "P1", "P2", "Q1"]) == [
        ("A1",),
        ("P1", "P2", "P3"),
        ("Q1",),
    ]


def test_a_set_whose_ids_are_not_consecutive_takes_the_ids_between(sets):
    # A2 lies between the members A1 and A3: the part runs from A1 to A3, so the parts in
    # turn are still the id order
    sets({"A1": "x", "A3": "x", "B1": "y", "C1": "y"})
    assert catalogue.release_parts(["A1", "A2", "A3", "A4", "B1", "B2", "C1", "D1"]) == [
        ("A1", "A2", "A3"),
        ("A4",),
        ("B1", "B2", "C1"),
        ("D1",),
    ]


def test_overlapping_reaches_join_into_one_part(sets):
    sets({"A1": "x", "A3": "x", "A2": "y", "A5": "y"})
    assert catalogue.release_parts(["A1", "A2", "A3", "A4", "A5", "A6"]) == [
        ("A1", "A2", "A3", "A4", "A5"),
        ("A6",),
    ]


def test_the_catalogues_place_of_death_set_is_one_part():
    parts = catalogue.release_parts(i.id for i in indicators.catalogue())
    assert ("PD01", "PD02", "PD03", "PD04", "PD05") in parts
    assert [i for part in parts for i in part] == sorted(i.id for i in indicators.catalogue())
