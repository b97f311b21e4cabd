-- snapshot_period (gp_population): each period end keeps its own snapshot; within a period end
-- the later file (file_id) wins per key.
CREATE OR REPLACE TABLE core_{extract} AS
SELECT * EXCLUDE (row_number) FROM stg_{extract}
QUALIFY row_number() OVER (PARTITION BY period_end, {key} ORDER BY file_id DESC) = 1;
