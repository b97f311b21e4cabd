-- DM01  People with dementia identified on the palliative care register before death
-- Definition:  percentage of decedents with dementia who were on a palliative care register before the day of death.
-- Cohort:      decedents with date_of_death in the period and dementia: a dementia_register date_diagnosed before the day of death, or an underlying cause F00-F03 or G30.
-- Numerator:   on_register (palliative_register date_added before the day of death).
-- Denominator: every decedent of the cohort.
-- Exclusions:  a dementia diagnosis recorded on the day of death (or after) does not by itself bring a decedent in.
-- Sources:     deaths, dementia_register, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(on_register AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE dementia
