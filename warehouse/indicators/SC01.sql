-- SC01  Single point of contact calls out of hours
-- Definition:  percentage of calls to the 24/7 palliative care single point of contact made out of hours.
-- Cohort:      spoc_calls with call_datetime in the period.
-- Numerator:   calls on Saturday or Sunday, or before 08:00 or from 18:30 on Monday to Friday (bank holidays are not treated as out of hours: the contract has no calendar).
-- Denominator: every call in the period.
-- Exclusions:  none.
-- Sources:     spoc_calls; geography through mart_person_geography (calls without an NHS number count at ICS level only).
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(isodow(c.call_datetime) IN (6, 7)
            OR CAST(c.call_datetime AS TIME) < TIME '08:00:00'
            OR CAST(c.call_datetime AS TIME) >= TIME '18:30:00' AS INTEGER) AS numerator,
       1 AS denominator
FROM core_spoc_calls c
JOIN mart_periods p ON CAST(c.call_datetime AS DATE) BETWEEN p.period_start AND p.period_end
LEFT JOIN mart_person_geography g ON g.person_id = c.person_id
