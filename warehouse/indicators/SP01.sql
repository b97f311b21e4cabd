-- SP01  Specialist palliative care in the last year of life
-- Definition:  percentage of decedents with palliative care need who had specialist palliative care in the last year of life.
-- Cohort:      decedents with palliative_need and date_of_death in the period.
-- Numerator:   spc_contact_12m: a hospice contact, a community palliative care contact or an acute spell seen by the SPC team, dated in [dod-365, dod].
-- Denominator: decedents with palliative need.
-- Exclusions:  none beyond the cohort's.
-- Sources:     deaths, hospice_contacts, community_contacts, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, CAST(spc_contact_12m AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods
WHERE palliative_need
