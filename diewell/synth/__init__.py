"""A synthetic Integrated Care System: every provider extract of extracts.md, and its config.

    from diewell.synth import synthesize
    config_path = synthesize(Path("demo"), population=1_000_000, years=3)

Modules: `parameters` (every rate and share, with its source figure), `layout` (window,
geography, organisations, config), `people` (population, deaths, causes, places of death),
`activity` (everyone's use of services), `end_of_life` (each decedent's last year),
`palliative_care` (SPC building blocks, outcome assessments, living caseloads and registers),
`events` (table and random-draw helpers), `nhs_numbers` (closed-form unique numbers), `records` (extract rows
and the deliveries they belong to), `deliveries` (file formats, provider quirks, defects,
assembly), `generator` (the steps in order).

`synthesize(..., layouts="national")` writes the same people in the built-in national layouts,
pseudonymised (sources.md v3): `national` (person tokens, the writer, ref_lsoa_2011),
`national_rows` (deaths, APC episodes), `national_ecds_csds` (ECDS, CSDS), `national_gp`
(GP coded events).
"""

from diewell.synth.generator import synthesize

__all__ = ["synthesize"]
