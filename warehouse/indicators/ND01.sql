-- ND01  Deaths with palliative care need
-- Definition:  percentage of deaths from a condition with palliative care need (Etkind et al. 2017).
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   palliative_need (underlying cause in the Etkind list; see mart_decedent_cohort).
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths; ref_lsoa and ref_practice for geography.
SELECT *, CAST(palliative_need AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
