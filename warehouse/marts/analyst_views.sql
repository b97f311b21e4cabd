-- Convenience views for analysts (docs/ANALYSTS.md). Views over the marts, rebuilt with them.

-- The decedent cohort with names beside codes.
CREATE OR REPLACE VIEW analyst_decedents AS
SELECT
    c.*,
    coalesce(l.place_name, 'unknown') AS place_name,
    coalesce(p.pcn_name, 'unknown') AS pcn_name,
    coalesce(p.practice_name, 'unknown') AS practice_name
FROM mart_decedent_cohort c
LEFT JOIN (SELECT DISTINCT place_code, place_name FROM core_ref_lsoa) l ON l.place_code = c.place_code
LEFT JOIN core_ref_practice p ON p.gp_practice_code = c.practice_code;

-- Every indicator at ICS level, breakdown 'all', for the latest rolling 12 months (exact).
CREATE OR REPLACE VIEW analyst_latest_ics_indicators AS
SELECT indicator_id, indicator_name, period_start, period_end, numerator, denominator, value,
       lower_95, upper_95, unit, data_complete
FROM mart_indicator_values
WHERE geography_level = 'ics' AND breakdown = 'all' AND period_type = 'rolling_12m'
  AND period_end = (SELECT max(period_end) FROM mart_indicator_values WHERE period_type = 'rolling_12m')
ORDER BY indicator_id;

-- Each run with what it received.
CREATE OR REPLACE VIEW analyst_run_history AS
SELECT r.run_id, r.started_at, r.finished_at, r.status, r.release_id,
       count(f.file_id) AS files_received,
       count(f.file_id) FILTER (WHERE f.status = 'loaded') AS loaded,
       count(f.file_id) FILTER (WHERE f.status = 'rejected') AS rejected,
       count(f.file_id) FILTER (WHERE f.status = 'unchanged') AS unchanged,
       r.rows_loaded, r.rows_quarantined, r.message
FROM meta_runs r
LEFT JOIN landing_files f ON f.run_id = r.run_id
GROUP BY ALL
ORDER BY r.started_at;
