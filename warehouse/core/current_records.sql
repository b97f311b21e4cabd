-- Core layer: the current version of every delivered record.
-- Staging keeps one row per source record of every current delivery (a re-delivery for the
-- same extract, provider and period end has already replaced the earlier one). Here each
-- extract's load semantics (extracts.md) pick the version that counts:
--   upsert extracts     latest period end wins per (provider, record id)
--   palliative and dementia registers  cumulative: latest delivered row per person, across practices
--   gp_population       snapshot per period end
--   ref_lsoa/practice/care_homes  the latest delivery replaces the whole table
-- Ties on period end are broken by file_id (arrival order) so the result is deterministic.

CREATE OR REPLACE TABLE core_deaths AS
SELECT * EXCLUDE (row_number) FROM stg_deaths;

CREATE OR REPLACE TABLE core_palliative_register AS
SELECT * EXCLUDE (row_number) FROM stg_palliative_register
QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY period_end DESC, date_added DESC, provider, row_number) = 1;

CREATE OR REPLACE TABLE core_dementia_register AS
SELECT * EXCLUDE (row_number) FROM stg_dementia_register
QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY period_end DESC, date_diagnosed DESC, provider, row_number) = 1;

CREATE OR REPLACE TABLE core_apc_spells AS
SELECT * EXCLUDE (row_number) FROM stg_apc_spells
QUALIFY row_number() OVER (PARTITION BY provider, spell_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_ae_attendances AS
SELECT * EXCLUDE (row_number) FROM stg_ae_attendances
QUALIFY row_number() OVER (PARTITION BY provider, attendance_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_hospice_referrals AS
SELECT * EXCLUDE (row_number) FROM stg_hospice_referrals
QUALIFY row_number() OVER (PARTITION BY provider, referral_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_hospice_contacts AS
SELECT * EXCLUDE (row_number) FROM stg_hospice_contacts
QUALIFY row_number() OVER (PARTITION BY provider, contact_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_community_contacts AS
SELECT * EXCLUDE (row_number) FROM stg_community_contacts
QUALIFY row_number() OVER (PARTITION BY provider, contact_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_spoc_calls AS
SELECT * EXCLUDE (row_number) FROM stg_spoc_calls
QUALIFY row_number() OVER (PARTITION BY provider, call_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_outcome_assessments AS
SELECT * EXCLUDE (row_number) FROM stg_outcome_assessments
QUALIFY row_number() OVER (PARTITION BY provider, assessment_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_bereavement_contacts AS
SELECT * EXCLUDE (row_number) FROM stg_bereavement_contacts
QUALIFY row_number() OVER (PARTITION BY provider, contact_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_education_sessions AS
SELECT * EXCLUDE (row_number) FROM stg_education_sessions
QUALIFY row_number() OVER (PARTITION BY provider, session_id ORDER BY period_end DESC, file_id DESC) = 1;

CREATE OR REPLACE TABLE core_gp_population AS
SELECT * EXCLUDE (row_number) FROM stg_gp_population
QUALIFY row_number() OVER (PARTITION BY period_end, gp_practice_code, sex, age_band ORDER BY file_id DESC) = 1;

CREATE OR REPLACE TABLE core_ref_lsoa AS
SELECT * EXCLUDE (row_number) FROM stg_ref_lsoa
WHERE file_id = (SELECT max(file_id) FROM stg_ref_lsoa
                 WHERE period_end = (SELECT max(period_end) FROM stg_ref_lsoa));

CREATE OR REPLACE TABLE core_ref_practice AS
SELECT * EXCLUDE (row_number) FROM stg_ref_practice
WHERE file_id = (SELECT max(file_id) FROM stg_ref_practice
                 WHERE period_end = (SELECT max(period_end) FROM stg_ref_practice));

CREATE OR REPLACE TABLE core_ref_care_homes AS
SELECT * EXCLUDE (row_number) FROM stg_ref_care_homes
WHERE file_id = (SELECT max(file_id) FROM stg_ref_care_homes
                 WHERE period_end = (SELECT max(period_end) FROM stg_ref_care_homes));
