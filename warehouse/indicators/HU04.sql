-- HU04  Hospital bed days in the last 90 days per decedent
-- Definition:  mean hospital bed days in the last 90 days of life per decedent (no interval).
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   sum of bed_days_90d (days of each spell inside [dod-90, dod], an open spell ending at death).
-- Denominator: every decedent in the cohort; value = numerator / denominator.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, bed_days_90d AS numerator, 1 AS denominator
FROM mart_decedent_periods
