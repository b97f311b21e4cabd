-- DM03  3 or more emergency admissions in the last 90 days of life, people with dementia
-- Definition:  percentage of decedents with dementia who had three or more emergency admissions in the last 90 days of life.
-- Cohort:      DM01's cohort (decedents with dementia) with date_of_death in the period.
-- Numerator:   emergency_admissions_90d >= 3 (admission_date in [date_of_death - 90, date_of_death]).
-- Denominator: every decedent of the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, dementia_register, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, CAST(emergency_admissions_90d >= 3 AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE dementia
