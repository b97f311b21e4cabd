-- 005 (extracts.md and sources.md v3): files superseded on arrival, and rows a layout filters.
-- landing_files: a loaded file's rows read (in the delivered file) = rows loaded + rows
-- quarantined + rows filtered by its layout (sources.md), with the filtered rows per reason;
-- a file superseded on arrival (a later delivery of the same extract, provider and period end
-- was waiting beside it) is recorded with status 'superseded' and no row counts.
-- meta_validation_summary: the same per run, provider and extract, and the files superseded.
-- DuckDB cannot change a CHECK constraint in place, so both tables are made anew and refilled.
CREATE TABLE landing_files_v5 (
    file_id            BIGINT PRIMARY KEY,
    file_name          VARCHAR NOT NULL,
    extract            VARCHAR,
    provider           VARCHAR,
    period_end         DATE,
    format             VARCHAR,
    sha256             VARCHAR NOT NULL,
    bytes              BIGINT NOT NULL,
    run_id             VARCHAR NOT NULL,
    received_at        TIMESTAMP NOT NULL,
    status             VARCHAR NOT NULL,      -- loaded | rejected | superseded | unchanged
    reject_rule        VARCHAR,
    reject_reason      VARCHAR,
    rows_read          BIGINT,
    rows_loaded        BIGINT,
    rows_quarantined   BIGINT,
    extra_columns      VARCHAR,
    rows_filtered      BIGINT DEFAULT 0,
    filtered_by_reason VARCHAR,               -- JSON: reason -> rows
    layout             VARCHAR,
    rows_formed        BIGINT,                -- contract rows a layout formed (aggregating)
    CHECK (status <> 'loaded' OR rows_read = rows_loaded + rows_quarantined + coalesce(rows_filtered, 0))
);
INSERT INTO landing_files_v5 BY NAME SELECT * FROM landing_files;
DROP TABLE landing_files;
ALTER TABLE landing_files_v5 RENAME TO landing_files;

CREATE TABLE meta_validation_summary_v5 (
    run_id              VARCHAR NOT NULL,
    provider            VARCHAR,
    extract             VARCHAR,
    files               INTEGER NOT NULL,
    files_loaded        INTEGER NOT NULL,
    files_unchanged     INTEGER NOT NULL,
    files_rejected      INTEGER NOT NULL,
    rows_read           BIGINT NOT NULL,
    rows_loaded         BIGINT NOT NULL,
    rows_quarantined    BIGINT NOT NULL,
    quarantined_by_rule MAP(VARCHAR, BIGINT),
    rejected_by_rule    MAP(VARCHAR, BIGINT),
    files_superseded    INTEGER NOT NULL DEFAULT 0,
    rows_filtered       BIGINT NOT NULL DEFAULT 0,
    filtered_by_reason  MAP(VARCHAR, BIGINT),
    CHECK (rows_read = rows_loaded + rows_quarantined + rows_filtered),
    CHECK (files = files_loaded + files_unchanged + files_rejected + files_superseded)
);
INSERT INTO meta_validation_summary_v5 BY NAME SELECT * FROM meta_validation_summary;
DROP TABLE meta_validation_summary;
ALTER TABLE meta_validation_summary_v5 RENAME TO meta_validation_summary;
