-- DM02  Deaths in usual place of residence, people with dementia aged 65 and over
-- Definition:  percentage of decedents with dementia aged 65 and over (without an external cause of death) who died at home or in a care home.
-- Cohort:      DM01's cohort (decedents with dementia) aged 65 or over at death, without an external cause (V01-Y89, U50.9).
-- Numerator:   place_of_death home or care_home.
-- Denominator: every decedent of the cohort.
-- Exclusions:  deaths under 65; external causes.
-- Sources:     deaths, dementia_register; ref_lsoa and ref_practice for geography.
SELECT *, CAST(place_of_death IN ('home', 'care_home') AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE dementia AND age_years >= 65 AND NOT external_cause
