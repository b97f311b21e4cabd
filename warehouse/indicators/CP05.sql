-- CP05  "What matters to you" recorded
-- Definition:  percentage of decedents with palliative care need with "what matters to you" recorded before death.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   what_matters_date < date_of_death.
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(what_matters_before_death AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
