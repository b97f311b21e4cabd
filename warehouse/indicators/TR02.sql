-- TR02  Young people in children's palliative care who reached adult palliative care by 18 1/2
-- Definition:  percentage of young people known to children's palliative care who were in contact with adult palliative care services by 18 years 6 months.
-- Cohort:      people with a hospice_referrals row of service 'childrens' and a date_of_birth, whose date 18 years 6 months after birth falls in the period, alive on it (a death on that day counts as alive on it).
-- Numerator:   a hospice_referrals row of a service other than 'childrens' with referral_date, or a community_contacts row of service 'community_palliative_care' with contact_date, from the 16th birthday to 18 years 6 months after birth (both ends inclusive).
-- Denominator: the people of the cohort, one each.
-- Exclusions:  children's referrals without a date_of_birth; people who died before 18 years 6 months.
-- Sources:     hospice_referrals, community_contacts, deaths. Published at ICS level only (indicators.md v2).
WITH young AS (
    SELECT person_id,
           CAST(min(date_of_birth) + INTERVAL 16 YEAR AS DATE) AS birthday_16,
           CAST(min(date_of_birth) + INTERVAL 18 YEAR + INTERVAL 6 MONTH AS DATE) AS age_18_6m
    FROM core_hospice_referrals
    WHERE service = 'childrens' AND date_of_birth IS NOT NULL
    GROUP BY person_id
),
adult_care AS (
    SELECT person_id, referral_date AS care_date FROM core_hospice_referrals WHERE service <> 'childrens'
    UNION ALL
    SELECT person_id, contact_date FROM core_community_contacts WHERE service = 'community_palliative_care'
),
reached AS (
    SELECT DISTINCT y.person_id
    FROM young y
    JOIN adult_care a ON a.person_id = y.person_id
    WHERE a.care_date BETWEEN y.birthday_16 AND y.age_18_6m
),
died AS (
    SELECT person_id, min(date_of_death) AS date_of_death FROM core_deaths GROUP BY person_id
)
SELECT p.period_type, p.period_start, p.period_end,
       CAST(r.person_id IS NOT NULL AS INTEGER) AS numerator,
       1 AS denominator
FROM young y
JOIN mart_periods p ON y.age_18_6m BETWEEN p.period_start AND p.period_end
LEFT JOIN reached r ON r.person_id = y.person_id
LEFT JOIN died d ON d.person_id = y.person_id
WHERE d.date_of_death IS NULL OR d.date_of_death >= y.age_18_6m
