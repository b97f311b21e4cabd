-- PD06  Deaths in usual place of residence
-- Definition:  percentage of deaths from non-external causes that took place at home or in a care home.
-- Cohort:      decedents with date_of_death in the period whose underlying cause is not external.
-- Numerator:   place_of_death in ('home', 'care_home').
-- Denominator: decedents without an external cause.
-- Exclusions:  external causes of death (underlying cause V01-Y89 or U50.9).
-- Sources:     deaths; ref_lsoa and ref_practice for geography.
SELECT *, CAST(place_of_death IN ('home', 'care_home') AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE NOT external_cause
