-- CP04  Died in preferred place
-- Definition:  percentage of decedents with a recorded preferred place of death who died there.
-- Cohort:      decedents with a preferred place recorded before death (not 'not_stated') and date_of_death in the period.
-- Numerator:   died_in_preferred_place: place_of_death = preferred_place_of_death (both mapped to words).
-- Denominator: decedents with a preferred place recorded.
-- Exclusions:  preferred place 'not_stated' or recorded on/after the day of death.
-- Sources:     deaths, palliative_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(died_in_preferred_place AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE preferred_place_recorded
