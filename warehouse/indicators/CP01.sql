-- CP01  Personalised care plan before death
-- Definition:  percentage of decedents with palliative care need with a personalised care and support plan recorded before death.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   care_plan_date < date_of_death.
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(care_plan_before_death AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
