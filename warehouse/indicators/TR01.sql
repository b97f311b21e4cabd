-- TR01  Young people in children's palliative care with a transition plan by 17
-- Definition:  percentage of young people known to children's palliative care who had a plan for the move to adult services agreed by their 17th birthday.
-- Cohort:      people with a hospice_referrals row of service 'childrens' and a date_of_birth, whose 17th birthday falls in the period, alive on it (a death on the birthday itself counts as alive on it; a death before it excludes).
-- Numerator:   a transition_plan_date (on any of the person's children's referrals) on or before the 17th birthday.
-- Denominator: the people of the cohort, one each.
-- Exclusions:  children's referrals without a date_of_birth; people who died before their 17th birthday.
-- Sources:     hospice_referrals, deaths. Published at ICS level only (indicators.md v2).
-- A person's date of birth is the earliest delivered on their children's referrals; a birthday on 29 February is taken as 28 February in a common year.
WITH young AS (
    SELECT person_id,
           CAST(min(date_of_birth) + INTERVAL 17 YEAR AS DATE) AS birthday_17,
           min(transition_plan_date) AS first_transition_plan_date
    FROM core_hospice_referrals
    WHERE service = 'childrens' AND date_of_birth IS NOT NULL
    GROUP BY person_id
),
died AS (
    SELECT person_id, min(date_of_death) AS date_of_death FROM core_deaths GROUP BY person_id
)
SELECT p.period_type, p.period_start, p.period_end,
       CAST(coalesce(y.first_transition_plan_date <= y.birthday_17, FALSE) AS INTEGER) AS numerator,
       1 AS denominator
FROM young y
JOIN mart_periods p ON y.birthday_17 BETWEEN p.period_start AND p.period_end
LEFT JOIN died d ON d.person_id = y.person_id
WHERE d.date_of_death IS NULL OR d.date_of_death >= y.birthday_17
