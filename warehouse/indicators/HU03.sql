-- HU03  Emergency admissions in the last 90 days per 100 decedents
-- Definition:  emergency admissions in the last 90 days of life per 100 decedents (crude rate).
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   sum of emergency_admissions_90d.
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, emergency_admissions_90d AS numerator, 1 AS denominator
FROM mart_decedent_periods
