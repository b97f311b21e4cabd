-- mart_person_geography: where a person belongs, for indicators that do not start from a death
-- (SP03-SP05, SC01-SC02). indicators.md: such activity is placed at practice, PCN and place
-- level only when the person links to a decedent or a palliative care register record with a
-- practice; everyone else counts at ICS level only (geography code 'unknown' below it).
-- Grain: one row per person_id. A decedent's practice wins over a register record's; place
-- and PCN come from the practice (ref_practice).
CREATE OR REPLACE TABLE mart_person_geography AS
WITH linked AS (
    SELECT person_id, practice_code AS gp_practice_code, 1 AS source_rank, 'deaths' AS linked_from
    FROM mart_decedent_cohort
    WHERE practice_code <> 'unknown'
    UNION ALL
    SELECT person_id, gp_practice_code, 2, 'palliative_register'
    FROM core_palliative_register
)
SELECT
    l.person_id,
    l.gp_practice_code AS practice_code,
    coalesce(pr.pcn_code, 'unknown') AS pcn_code,
    coalesce(pr.place_code, 'unknown') AS place_code,
    l.linked_from
FROM linked l
LEFT JOIN core_ref_practice pr ON pr.gp_practice_code = l.gp_practice_code
QUALIFY row_number() OVER (PARTITION BY l.person_id ORDER BY l.source_rank, l.gp_practice_code) = 1;

-- mart_population_snapshot: for each reporting period, each practice's latest gp_population
-- snapshot dated inside the period (RG01 and MR01 denominators). Grain: period x practice x
-- sex x 5-year age band.
CREATE OR REPLACE TABLE mart_population_snapshot AS
WITH in_period AS (
    SELECT p.period_type, p.period_start, p.period_end, g.period_end AS snapshot_date,
           g.gp_practice_code, g.sex, g.age_band, g.patients
    FROM core_gp_population g
    JOIN mart_periods p ON g.period_end BETWEEN p.period_start AND p.period_end
)
SELECT * FROM in_period
QUALIFY snapshot_date = max(snapshot_date) OVER (PARTITION BY period_type, period_end, gp_practice_code);
