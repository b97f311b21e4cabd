-- CP03  Preferred place of death recorded
-- Definition:  percentage of decedents with palliative care need whose preferred place of death was recorded before death.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   preferred_place_recorded_date < date_of_death and preferred_place_of_death is not 'not_stated'.
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(preferred_place_recorded AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
