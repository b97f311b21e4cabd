-- 001: landing metadata, quarantine and run history.
-- Staging tables (stg_<extract>) are created from the extract contracts in expectations/contracts.

CREATE SEQUENCE IF NOT EXISTS landing_file_id START 1;

CREATE TABLE IF NOT EXISTS meta_runs (
    run_id          VARCHAR PRIMARY KEY,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL,       -- running | completed | failed
    config_path     VARCHAR NOT NULL,
    files_seen      INTEGER,
    files_loaded    INTEGER,
    files_rejected  INTEGER,
    files_unchanged INTEGER,
    rows_loaded     BIGINT,
    rows_quarantined BIGINT,
    message         VARCHAR
);
COMMENT ON TABLE meta_runs IS 'One row per pipeline run: when it ran, what it did and how it ended.';

CREATE TABLE IF NOT EXISTS landing_files (
    file_id          BIGINT PRIMARY KEY,
    file_name        VARCHAR NOT NULL,
    extract          VARCHAR,               -- null when the name did not parse
    provider         VARCHAR,
    period_end       DATE,
    format           VARCHAR,
    sha256           VARCHAR NOT NULL,
    bytes            BIGINT NOT NULL,
    run_id           VARCHAR NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    status           VARCHAR NOT NULL,      -- loaded | rejected | superseded | unchanged
    reject_rule      VARCHAR,
    reject_reason    VARCHAR,
    rows_read        BIGINT,
    rows_loaded      BIGINT,
    rows_quarantined BIGINT,
    extra_columns    VARCHAR,
    CHECK (status <> 'loaded' OR rows_read = rows_loaded + rows_quarantined)
);
COMMENT ON TABLE landing_files IS 'One row per delivered file seen by the pipeline, with its checksum, outcome and row accounting (rows_read = rows_loaded + rows_quarantined).';

CREATE TABLE IF NOT EXISTS quarantine_rows (
    file_id     BIGINT NOT NULL,
    file_name   VARCHAR NOT NULL,
    row_number  BIGINT NOT NULL,            -- 1 = the first data row after the header
    rule        VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    value       VARCHAR,                    -- offending value; NHS numbers masked
    message     VARCHAR NOT NULL
);
COMMENT ON TABLE quarantine_rows IS 'One row per broken rule per quarantined row: which file, which row, which rule and column, and what the provider must fix. NHS numbers are masked.';
