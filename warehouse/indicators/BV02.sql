-- BV02  Median days from death to first bereavement contact
-- Definition:  median number of days from a death to the first bereavement support contact for those close to the person, among BV01's supported decedents.
-- Cohort:      BV01's numerator: decedents known to specialist palliative care with a bereavement contact in [date_of_death, date_of_death + 90], their window closed by the latest delivery.
-- Numerator:   unit_value = days from date_of_death to the first such contact; the published value is the median (no interval). numerator is not published for a median.
-- Denominator: the decedents the median is taken over.
-- Exclusions:  decedents without a contact in the window; windows not yet closed.
-- Sources:     deaths, hospice_contacts, community_contacts, apc_spells, bereavement_contacts; ref_lsoa and ref_practice for geography.
WITH delivered AS (
    SELECT max(period_end) AS latest FROM landing_files
    WHERE extract = 'bereavement_contacts' AND status = 'loaded'
)
SELECT d.*, d.days_to_bereavement_contact AS unit_value, 0 AS numerator, 1 AS denominator
FROM mart_decedent_periods d, delivered
WHERE d.spc_contact_12m AND d.date_of_death + INTERVAL 90 DAY <= delivered.latest
  AND d.first_bereavement_contact_date IS NOT NULL
