-- SC02  Single point of contact calls resolved without ambulance or admission
-- Definition:  percentage of calls to the single point of contact whose outcome was not an ambulance or an admission.
-- Cohort:      spoc_calls with call_datetime in the period.
-- Numerator:   outcome <> 'ambulance_or_admission'.
-- Denominator: every call in the period.
-- Exclusions:  none.
-- Sources:     spoc_calls; geography through mart_person_geography (calls without an NHS number count at ICS level only).
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(c.outcome <> 'ambulance_or_admission' AS INTEGER) AS numerator,
       1 AS denominator
FROM core_spoc_calls c
JOIN mart_periods p ON CAST(c.call_datetime AS DATE) BETWEEN p.period_start AND p.period_end
LEFT JOIN mart_person_geography g ON g.person_id = c.person_id
