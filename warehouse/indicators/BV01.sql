-- BV01  Bereavement support for those close to people known to specialist palliative care
-- Definition:  percentage of decedents known to specialist palliative care in their last year of life whose family or friends had bereavement support within 90 days of the death.
-- Cohort:      decedents with spc_contact_12m and date_of_death in the period whose date_of_death + 90 days is on or before the latest bereavement_contacts period end (over every loaded delivery).
-- Numerator:   a bereavement_contacts row for the decedent dated in [date_of_death, date_of_death + 90] (day 90 counts, day 91 does not).
-- Denominator: every decedent of the cohort.
-- Exclusions:  deaths whose 90-day window has not closed by the latest delivery; such periods are published with data_complete = false (catalogue follow_up).
-- Sources:     deaths, hospice_contacts, community_contacts, apc_spells, bereavement_contacts; ref_lsoa and ref_practice for geography.
WITH delivered AS (
    SELECT max(period_end) AS latest FROM landing_files
    WHERE extract = 'bereavement_contacts' AND status = 'loaded'
)
SELECT d.*, CAST(d.first_bereavement_contact_date IS NOT NULL AS INTEGER) AS numerator, 1 AS denominator
FROM mart_decedent_periods d, delivered
WHERE d.spc_contact_12m AND d.date_of_death + INTERVAL 90 DAY <= delivered.latest
