-- SP05  IPOS improved between first and last assessment
-- Definition:  percentage of people assessed with IPOS at least twice whose last IPOS total was lower (better) than their first.
-- Cohort:      people with >= 2 IPOS totals at least 1 day apart whose last IPOS (on or before the period end) is in the period. First = their earliest IPOS on or before the period end, across providers.
-- Numerator:   last ipos_total < first ipos_total.
-- Denominator: people in the cohort.
-- Exclusions:  people with a single IPOS, or all IPOS on one day.
-- Sources:     outcome_assessments; geography through mart_person_geography.
WITH scored AS (
    SELECT person_id, assessment_id, assessment_date, ipos_total
    FROM core_outcome_assessments
    WHERE ipos_total IS NOT NULL
),
per_person AS (
    SELECT p.period_type, p.period_start, p.period_end, s.person_id,
           min(s.assessment_date) AS first_date,
           max(s.assessment_date) AS last_date,
           first(s.ipos_total ORDER BY s.assessment_date, s.assessment_id) AS first_score,
           first(s.ipos_total ORDER BY s.assessment_date DESC, s.assessment_id DESC) AS last_score
    FROM scored s
    JOIN mart_periods p ON s.assessment_date <= p.period_end
    GROUP BY ALL
)
SELECT pp.period_type, pp.period_start, pp.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(pp.last_score < pp.first_score AS INTEGER) AS numerator,
       1 AS denominator
FROM per_person pp
LEFT JOIN mart_person_geography g ON g.person_id = pp.person_id
WHERE pp.last_date >= pp.period_start
  AND date_diff('day', pp.first_date, pp.last_date) >= 1
