-- snapshot_table (reference data): the latest delivery replaces the whole table: the rows of
-- the last file (file_id) of the latest period end.
CREATE OR REPLACE TABLE core_{extract} AS
SELECT * EXCLUDE (row_number) FROM stg_{extract}
WHERE file_id = (SELECT max(file_id) FROM stg_{extract}
                 WHERE period_end = (SELECT max(period_end) FROM stg_{extract}));
