-- ID02  Identified at least 3 months before death
-- Definition:  percentage of decedents with palliative care need who were added to the register at least 91 days before death.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   days_on_register >= 91 (days_on_register = date_of_death - date_added, on_register only).
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(coalesce(days_on_register >= 91, FALSE) AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
