-- ED02  Care homes reached by palliative and end-of-life care training
-- Definition:  percentage of the ICS's care homes whose staff attended palliative and end-of-life care education in the period.
-- Cohort:      ref_care_homes (the latest CQC list), each care home once per period; place from its LSOA.
-- Numerator:   care homes with at least one education_sessions row whose organisation_code is their location_id, dated in the period (two sessions still count the home once).
-- Denominator: every care home on the list.
-- Exclusions:  sessions with no organisation_code or one not on the list reach no care home. Counts organisations, not patients: disclosure rules 1 and 3 do not apply, counts are rounded.
-- Sources:     ref_care_homes, education_sessions, ref_lsoa.
WITH reached AS (
    SELECT DISTINCT p.period_type, p.period_end, s.organisation_code AS location_id
    FROM core_education_sessions s
    JOIN mart_periods p ON s.session_date BETWEEN p.period_start AND p.period_end
)
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(l.place_code, 'unknown') AS place_code,
       CAST(r.location_id IS NOT NULL AS INTEGER) AS numerator,
       1 AS denominator
FROM core_ref_care_homes ch
CROSS JOIN mart_periods p
LEFT JOIN core_ref_lsoa l ON l.lsoa_code = ch.lsoa_code
LEFT JOIN reached r ON r.location_id = ch.location_id
    AND r.period_type = p.period_type AND r.period_end = p.period_end
