"""Releases: what the dashboard team, boards and regions receive, disclosure-controlled.

`control` (disclosure control, a part at a time), `files` (writing the Parquet, CSV,
catalogue and manifest), `schema` (the files' Arrow schemas and checks), `audit` and
`audit_rules` (reading a staged release back and checking every promise), `promote` (the
release made current), `publish` (write, audit, report, promote), `identity` (the release
id), `region` (a region's release from its ICSs' releases), `benchmarks/` (England figures)
and `report/` (the board report).
"""
