"""Validation: the GX suites, the GX report (Data Docs), the summary and reprocessing."""
