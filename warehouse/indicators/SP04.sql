-- SP04  Unstable phases resolved within 3 days
-- Definition:  percentage of unstable phases of illness that ended within 3 days (PCOC benchmark 90%).
-- Cohort:      unstable phases ending in the period. A phase starts at an assessment with phase 'unstable' (one not preceded by an unstable assessment of the same person and provider) and ends at that person's next assessment by the same provider with another phase.
-- Numerator:   phase length (end date - start date) <= 3 days.
-- Denominator: unstable phases whose end date is in the period.
-- Exclusions:  phases with no later assessment in another phase (not ended; they never count).
-- Sources:     outcome_assessments; geography through mart_person_geography.
WITH ordered AS (
    SELECT person_id, provider, assessment_id, assessment_date, phase_of_illness,
           lag(phase_of_illness) OVER (PARTITION BY person_id, provider
                                       ORDER BY assessment_date, assessment_id) AS previous_phase
    FROM core_outcome_assessments
),
phase_starts AS (
    SELECT * FROM ordered
    WHERE phase_of_illness = 'unstable' AND coalesce(previous_phase, '') <> 'unstable'
),
phases AS (
    SELECT s.person_id, s.assessment_date AS start_date,
           (SELECT min(n.assessment_date) FROM core_outcome_assessments n
            WHERE n.person_id = s.person_id AND n.provider = s.provider
              AND n.phase_of_illness <> 'unstable'
              AND (n.assessment_date > s.assessment_date
                   OR (n.assessment_date = s.assessment_date AND n.assessment_id > s.assessment_id))
           ) AS end_date
    FROM phase_starts s
)
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(date_diff('day', ph.start_date, ph.end_date) <= 3 AS INTEGER) AS numerator,
       1 AS denominator
FROM phases ph
JOIN mart_periods p ON ph.end_date BETWEEN p.period_start AND p.period_end
LEFT JOIN mart_person_geography g ON g.person_id = ph.person_id
