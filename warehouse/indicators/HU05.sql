-- HU05  A&E attendances in the last 90 days per 100 decedents
-- Definition:  A&E attendances in the last 90 days of life per 100 decedents (crude rate).
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   sum of ae_attendances_90d (arrival date in [dod-90, dod]).
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, ae_attendances; ref_lsoa and ref_practice for geography.
SELECT *, ae_attendances_90d AS numerator, 1 AS denominator
FROM mart_decedent_periods
