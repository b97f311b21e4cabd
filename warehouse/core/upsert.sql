-- upsert (activity): the latest period end wins per (provider, record key); a tie on period
-- end goes to the later file (file_id, arrival order).
CREATE OR REPLACE TABLE core_{extract} AS
SELECT * EXCLUDE (row_number) FROM stg_{extract}
QUALIFY row_number() OVER (PARTITION BY provider, {key} ORDER BY period_end DESC, file_id DESC) = 1;
