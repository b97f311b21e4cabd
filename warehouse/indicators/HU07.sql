-- HU07  Time at home or in the community in the last 6 months of life (v3)
-- Definition:  Public Health Scotland's measure: the percentage of the last six months of life
--              spent out of hospital, 100 - 100 x sum(bed_days_182d) / (decedents x 182.5).
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   sum of bed_days_182d (days of each spell, every admission method, inside
--              [dod-182, dod]; a stay begun before the window counts from its first day, a
--              stay open at death counts to death).
-- Denominator: every decedent in the cohort; the value is a percentage of time (no interval).
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, bed_days_182d AS numerator, 1 AS denominator
FROM mart_decedent_periods
