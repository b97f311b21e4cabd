-- one_per_person (deaths): a person appears once across deliveries (ingest holds back a second
-- death as duplicate_death), so every staged row is current.
CREATE OR REPLACE TABLE core_{extract} AS
SELECT * EXCLUDE (row_number) FROM stg_{extract};
