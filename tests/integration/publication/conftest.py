"""Fixtures of the publication tests: a good release of the synthetic ICS to publish beside."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tests.integration.publication import release_helpers


@pytest.fixture(scope="module")
def good_outputs(synthetic_run, tmp_path_factory):
    """An outputs folder holding one good release 'r-good' as current, published once a module."""
    folder = tmp_path_factory.mktemp("good") / "outputs"
    config = dataclasses.replace(synthetic_run.config, outputs=folder)
    release_helpers.publish(synthetic_run.con, synthetic_run.values, config, "r-good")
    return folder


@pytest.fixture
def outputs(synthetic_run, good_outputs, tmp_path):
    """A config publishing into tmp_path, holding a copy of the good release as current (its
    `current` link is relative, so the copy points at its own release)."""
    shutil.copytree(good_outputs, tmp_path / "outputs", symlinks=True)
    return dataclasses.replace(synthetic_run.config, outputs=tmp_path / "outputs")
