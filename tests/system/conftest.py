"""Fixtures of the system tests: a real browser, and the tiny ICS of the validation tests."""

from tests.integration.validation.conftest import ics  # noqa: F401  (the fixture)
from tests.system.test_data_docs_browser import chromium  # noqa: F401  (the fixture)
