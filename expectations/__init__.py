"""The Great Expectations suites, one per extract (suites/<extract>.json): the extract contracts."""
