-- HU06  Any A&E attendance in the last 90 days of life (v3)
-- Definition:  percentage of decedents with at least one A&E attendance in the last 90 days of life.
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   ae_attendances_90d >= 1 (an arrival dated in [dod-90, dod]: day 90 before death
--              counts, day 91 does not).
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, ae_attendances; ref_lsoa and ref_practice for geography.
SELECT *, CAST(ae_attendances_90d >= 1 AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
