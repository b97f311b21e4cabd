-- 002: trace every publication to the run that produced it.
-- meta_runs.release_id names the release (outputs/releases/<release_id>, and the run_id column
-- of the published files and of mart_indicator_values).
ALTER TABLE meta_runs ADD COLUMN IF NOT EXISTS release_id VARCHAR;
