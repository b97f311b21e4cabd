-- SP02  First specialist contact in the last 14 days of life
-- Definition:  percentage of decedents reached by specialist palliative care whose first contact in the last year came in the last 14 days of life.
-- Cohort:      decedents with spc_contact_12m and date_of_death in the period.
-- Numerator:   first_spc_contact_date >= date_of_death - 14.
-- Denominator: decedents with a specialist palliative care contact in the last year of life.
-- Exclusions:  decedents without such a contact.
-- Sources:     deaths, hospice_contacts, community_contacts, apc_spells; ref_lsoa and ref_practice for geography.
SELECT *, CAST(first_spc_contact_date >= date_of_death - INTERVAL 14 DAY AS INTEGER) AS numerator,
       1 AS denominator
FROM mart_decedent_periods
WHERE spc_contact_12m
