-- 004: the fingerprint of the pseudonymisation key this warehouse was built with (config.md).
-- One row, written by the first run that starts on the warehouse: the first 16 hex digits of
-- HMAC-SHA256 of a fixed label under the key (diewell.key_check), never the key or a hash of
-- it. A run whose key gives another fingerprint is refused before it loads anything.
CREATE TABLE IF NOT EXISTS meta_key_fingerprint (
    fingerprint VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    run_id      VARCHAR NOT NULL,
    CHECK (length(fingerprint) = 16)
);
