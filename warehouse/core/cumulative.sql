-- cumulative (the registers): a person's record is their latest delivered row, across
-- practices: the latest period end, then the latest latest_by date of the suite; a tie goes to
-- the provider first in name order, then the earlier row of the file.
CREATE OR REPLACE TABLE core_{extract} AS
SELECT * EXCLUDE (row_number) FROM stg_{extract}
QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY period_end DESC, {latest_by} DESC, provider, row_number) = 1;
