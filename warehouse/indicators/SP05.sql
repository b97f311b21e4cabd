-- SP05  IPOS improved between first and last assessment
-- Definition:  percentage of people assessed with IPOS at least twice whose last IPOS total was lower (better) than their first.
-- Cohort:      people with >= 2 IPOS totals at least 1 day apart whose last IPOS (on or before the period end) is in the period. First = their earliest IPOS on or before the period end, across providers.
-- Numerator:   last ipos_total < first ipos_total.
-- Denominator: people in the cohort.
-- Exclusions:  people with a single IPOS, or all IPOS on one day.
-- Sources:     outcome_assessments; geography through mart_person_geography.
-- Method:      an IPOS is the last of the periods it falls in whose end comes before the person's next IPOS (by date, then assessment id); the first is the person's earliest, the same for every period it precedes.
WITH scored AS (
    SELECT person_id, assessment_id, assessment_date, ipos_total,
           lead(assessment_date) OVER (
               PARTITION BY person_id ORDER BY assessment_date, assessment_id
           ) AS next_date,
           min(assessment_date) OVER (PARTITION BY person_id) AS first_date,
           first_value(ipos_total) OVER (
               PARTITION BY person_id ORDER BY assessment_date, assessment_id
           ) AS first_score
    FROM core_outcome_assessments
    WHERE ipos_total IS NOT NULL
),
per_person AS (
    SELECT p.period_type, p.period_start, p.period_end, s.person_id,
           s.first_date,
           s.assessment_date AS last_date,
           s.first_score,
           s.ipos_total AS last_score
    FROM scored s
    JOIN mart_periods p
      ON s.assessment_date BETWEEN p.period_start AND p.period_end
     AND (s.next_date IS NULL OR s.next_date > p.period_end)
)
SELECT pp.period_type, pp.period_start, pp.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(pp.last_score < pp.first_score AS INTEGER) AS numerator,
       1 AS denominator
FROM per_person pp
LEFT JOIN mart_person_geography g ON g.person_id = pp.person_id
WHERE date_diff('day', pp.first_date, pp.last_date) >= 1
