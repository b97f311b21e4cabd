-- HU01  3 or more emergency admissions in the last 90 days of life
-- Definition:  percentage of decedents with three or more emergency admissions in the last 90 days of life.
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   emergency_admissions_90d >= 3 (emergency admission methods 21-25, 2A-2D, 28; admission_date in [dod-90, dod]).
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, CAST(emergency_admissions_90d >= 3 AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
