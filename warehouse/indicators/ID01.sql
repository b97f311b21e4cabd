-- ID01  Identified on a palliative care register before death
-- Definition:  percentage of decedents with palliative care need who were on a palliative care register before they died.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   on_register: palliative_register date_added < date_of_death (an entry on the day of death does not count).
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(on_register AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
