-- PD01  Deaths at home
-- Definition:  percentage of decedents whose place of death is 'home'.
-- Cohort:      all decedents with date_of_death in the period (neonatal deaths excluded).
-- Numerator:   place_of_death = 'home' (deaths extract; NHS Data Dictionary death location codes mapped to words).
-- Denominator: every decedent in the cohort.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths; ref_lsoa and ref_practice for geography.
SELECT *, CAST(place_of_death = 'home' AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
