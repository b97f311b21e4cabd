-- 003: the per-run validation summary per provider and extract (diewell.validation_report).
-- One row per (run, provider, extract): the files and rows the run validated, and the rows it
-- quarantined by rule. Files whose names did not parse have no provider or extract.
CREATE TABLE IF NOT EXISTS meta_validation_summary (
    run_id              VARCHAR NOT NULL,
    provider            VARCHAR,
    extract             VARCHAR,
    files               INTEGER NOT NULL,
    files_loaded        INTEGER NOT NULL,
    files_unchanged     INTEGER NOT NULL,
    files_rejected      INTEGER NOT NULL,
    rows_read           BIGINT NOT NULL,      -- of the loaded files
    rows_loaded         BIGINT NOT NULL,
    rows_quarantined    BIGINT NOT NULL,
    quarantined_by_rule MAP(VARCHAR, BIGINT), -- rule -> rows (a row breaking two rules counts twice)
    rejected_by_rule    MAP(VARCHAR, BIGINT), -- file rule -> files
    CHECK (rows_read = rows_loaded + rows_quarantined),
    CHECK (files = files_loaded + files_unchanged + files_rejected)
);
COMMENT ON TABLE meta_validation_summary IS 'One row per run, provider and extract: files and rows validated, loaded and quarantined, with quarantined rows by rule and rejected files by rule.';
