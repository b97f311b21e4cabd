-- 006: what the warehouse's person keys are (sources.md v3), beside the key's fingerprint:
-- `person_key` (nhs_number or pseudonymised) and, for pseudonyms, the `domain` of the data
-- service that made them. Written with the fingerprint by the first run; a run whose
-- configuration names another person key or domain is refused before it loads anything, as
-- a changed key is (its people would silently fail to link). A fingerprint recorded before
-- v3 was of NHS numbers: person_key is filled in so.
ALTER TABLE meta_key_fingerprint ADD COLUMN IF NOT EXISTS person_key VARCHAR;
ALTER TABLE meta_key_fingerprint ADD COLUMN IF NOT EXISTS domain VARCHAR;
UPDATE meta_key_fingerprint SET person_key = 'nhs_number' WHERE person_key IS NULL;
