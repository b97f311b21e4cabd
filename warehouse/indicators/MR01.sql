-- MR01  Mortality rate, age-standardised per 100,000
-- Definition:  deaths per 100,000 registered patients, directly standardised to the European Standard Population 2013 (Dobson method, Byar's limits).
-- Cohort:      practices with a gp_population snapshot in the period (the latest one in the period), by sex and 5-year age band (0-4 ... 85-89, 90+).
-- Numerator:   deaths (all ages, neonatal included: all-cause mortality) with date_of_death in the period of people registered at those practices, by age at death in the same bands (completed years from the date of birth, else the age_at_death given: extracts.md v3).
-- Denominator: registered patients by age band (the DSR's populations); published denominator = total registered patients.
-- Exclusions:  deaths with no practice or at a practice without a snapshot in the period; an area with an empty age band has no value; under 10 deaths gives no value.
-- Sources:     deaths, gp_population; ref_practice for geography.
WITH practices AS (
    SELECT DISTINCT period_type, period_start, period_end, gp_practice_code FROM mart_population_snapshot
),
units AS (
    SELECT period_type, period_start, period_end, gp_practice_code,
           CASE sex WHEN '1' THEN 'male' WHEN '2' THEN 'female' ELSE 'not_known' END AS sex,
           age_band AS esp_band, 0 AS numerator, patients AS denominator
    FROM mart_population_snapshot
    UNION ALL
    SELECT pr.period_type, pr.period_start, pr.period_end, d.gp_practice_code,
           CASE d.sex WHEN '1' THEN 'male' WHEN '2' THEN 'female' WHEN '9' THEN 'indeterminate'
                      ELSE 'not_known' END,
           CASE WHEN d.age >= 90 THEN '90+'
                ELSE CAST(d.age // 5 * 5 AS VARCHAR) || '-' || CAST(d.age // 5 * 5 + 4 AS VARCHAR)
           END,
           1, 0
    FROM (  -- age at death: from the date of birth, else as the deaths feed gives it (v3)
        SELECT *, coalesce(date_sub('year', date_of_birth, date_of_death), age_at_death) AS age
        FROM core_deaths
    ) d
    JOIN practices pr ON pr.gp_practice_code = d.gp_practice_code
                     AND d.date_of_death BETWEEN pr.period_start AND pr.period_end
)
SELECT u.period_type, u.period_start, u.period_end,
       coalesce(rp.place_code, 'unknown') AS place_code,
       coalesce(rp.pcn_code, 'unknown') AS pcn_code,
       u.gp_practice_code AS practice_code,
       u.sex, u.esp_band, u.numerator, u.denominator
FROM units u
LEFT JOIN core_ref_practice rp ON rp.gp_practice_code = u.gp_practice_code
