-- RG01  Palliative care register prevalence
-- Definition:  percentage of registered patients who are on a palliative care register at the period end.
-- Cohort:      practices with a gp_population snapshot in the period (the latest one in the period is used).
-- Numerator:   people on the register (core_palliative_register: latest row per person) added by the period end and not dead by then, counted at their register practice.
-- Denominator: registered patients of those practices in the latest snapshot in the period.
-- Exclusions:  register entries at practices without a population snapshot in the period.
-- Sources:     palliative_register, gp_population, deaths; ref_practice for geography.
WITH practices AS (
    SELECT DISTINCT period_type, period_start, period_end, gp_practice_code FROM mart_population_snapshot
),
died AS (
    SELECT person_id, min(date_of_death) AS date_of_death FROM core_deaths GROUP BY person_id
),
units AS (
    SELECT period_type, period_start, period_end, gp_practice_code, 0 AS numerator, patients AS denominator
    FROM mart_population_snapshot
    UNION ALL
    SELECT pr.period_type, pr.period_start, pr.period_end, r.gp_practice_code, 1, 0
    FROM core_palliative_register r
    JOIN practices pr ON pr.gp_practice_code = r.gp_practice_code AND r.date_added <= pr.period_end
    LEFT JOIN died d ON d.person_id = r.person_id
    WHERE d.date_of_death IS NULL OR d.date_of_death > pr.period_end
)
SELECT u.period_type, u.period_start, u.period_end,
       coalesce(rp.place_code, 'unknown') AS place_code,
       coalesce(rp.pcn_code, 'unknown') AS pcn_code,
       u.gp_practice_code AS practice_code,
       u.numerator, u.denominator
FROM units u
LEFT JOIN core_ref_practice rp ON rp.gp_practice_code = u.gp_practice_code
