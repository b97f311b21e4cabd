-- ID03  Median days on the register before death
-- Definition:  median number of days between entry on the palliative care register and death, for decedents on the register.
-- Cohort:      decedents with on_register and date_of_death in the period.
-- Numerator:   unit_value = days_on_register; the published value is the median (no interval). numerator is not published for a median.
-- Denominator: decedents on the register before death (the count the median is taken over).
-- Exclusions:  decedents not on the register before death.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, days_on_register AS unit_value, 0 AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE on_register
