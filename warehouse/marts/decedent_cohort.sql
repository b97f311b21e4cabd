-- mart_decedent_cohort: one row per death in the deaths extract, excluding neonatal deaths
-- (under 28 days of age), with every derived fact of indicators.md "The decedent cohort".
-- Grain: one row per decedent (person_id is the keyed pseudonym of the NHS number).
-- Linking to activity is by person_id only. Windows are inclusive at both ends:
--   window_90d  = [date_of_death - 90, date_of_death]  (91 days)
--   window_182d = [date_of_death - 182, date_of_death]  (183 days: bed_days_182d, v3)
--   window_12m  = [date_of_death - 365, date_of_death]
--   bereavement = [date_of_death, date_of_death + 90]  (after death: support for those close)
-- Activity after the date of death never counts.

CREATE OR REPLACE TABLE mart_decedent_cohort AS
WITH deaths AS (
    SELECT
        d.*,
        upper(replace(d.underlying_cause_icd10, '.', '')) AS cause,
        -- completed years from the date of birth; without one, the age a national feed gives
        -- (extracts.md v3: one of the two is required, and with both they agree)
        coalesce(date_sub('year', d.date_of_birth, d.date_of_death), d.age_at_death) AS age_years
    FROM core_deaths d
    -- neonatal deaths (under 28 days) are not in the cohort: by the date of birth, or, without
    -- one, by the layout's neonatal marker (a death at age 0 without either is kept)
    WHERE CASE WHEN d.date_of_birth IS NOT NULL
               THEN date_diff('day', d.date_of_birth, d.date_of_death) >= 28
               ELSE coalesce(d.neonatal, 'N') <> 'Y' END
),
classified AS (
    SELECT
        *,
        left(cause, 1) AS cause_letter,
        TRY_CAST(substr(cause, 2, 2) AS INTEGER) AS cause_number,
        -- Etkind et al. 2017 palliative care need groups (indicators.md)
        CASE
            WHEN left(cause, 1) = 'C' AND TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 0 AND 97 THEN 'cancer'
            WHEN left(cause, 3) IN ('I12', 'I13', 'N17', 'N18', 'N28') THEN 'renal'
            WHEN left(cause, 1) = 'I' AND TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 0 AND 52 THEN 'heart'
            WHEN left(cause, 1) = 'J' AND (TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 40 AND 47
                                          OR left(cause, 3) = 'J96') THEN 'respiratory'
            WHEN left(cause, 1) = 'I' AND TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 60 AND 69 THEN 'stroke'
            WHEN left(cause, 1) = 'K' AND TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 70 AND 77 THEN 'liver'
            WHEN left(cause, 3) IN ('F01', 'F03', 'G30', 'R54') THEN 'dementia_frailty'
            WHEN left(cause, 3) IN ('G10', 'G20', 'G35') OR left(cause, 4) IN ('G122', 'G231', 'G903')
                THEN 'neurodegenerative'
            WHEN left(cause, 1) = 'B' AND TRY_CAST(substr(cause, 2, 2) AS INTEGER) BETWEEN 20 AND 24 THEN 'hiv'
        END AS need_group
    FROM deaths
),
register AS (
    SELECT * FROM core_palliative_register
),
emergency AS (
    SELECT c.person_id, count(*) AS n
    FROM classified c
    JOIN core_apc_spells s ON s.person_id = c.person_id
    WHERE s.admission_method IN ('21', '22', '23', '24', '25', '2A', '2B', '2C', '2D', '28')
      AND s.admission_date BETWEEN c.date_of_death - INTERVAL 90 DAY AND c.date_of_death
    GROUP BY c.person_id
),
-- Hospital bed days in two windows, over the spells overlapping the wider one: bed_days_90d
-- (window_90d) and, v3, HU07's time in hospital in the last six months of life, bed_days_182d
-- (the 183 days [date_of_death - 182, date_of_death]). Every admission method counts; a stay
-- that began before a window counts from the window's first day, a stay still open at death
-- (or discharged after it) counts to the day of death, and a stay ending before a window adds
-- nothing to it (greatest(0, ...)).
bed_days AS (
    SELECT c.person_id,
           sum(greatest(0, date_diff('day',
                greatest(s.admission_date, CAST(c.date_of_death - INTERVAL 90 DAY AS DATE)),
                least(coalesce(s.discharge_date, c.date_of_death), c.date_of_death)))) AS n_90,
           sum(greatest(0, date_diff('day',
                greatest(s.admission_date, CAST(c.date_of_death - INTERVAL 182 DAY AS DATE)),
                least(coalesce(s.discharge_date, c.date_of_death), c.date_of_death)))) AS n_182
    FROM classified c
    JOIN core_apc_spells s ON s.person_id = c.person_id
    WHERE s.admission_date <= c.date_of_death
      AND coalesce(s.discharge_date, c.date_of_death) >= c.date_of_death - INTERVAL 182 DAY
    GROUP BY c.person_id
),
ae AS (
    SELECT c.person_id, count(*) AS n
    FROM classified c
    JOIN core_ae_attendances a ON a.person_id = c.person_id
    WHERE CAST(a.arrival_datetime AS DATE) BETWEEN c.date_of_death - INTERVAL 90 DAY AND c.date_of_death
    GROUP BY c.person_id
),
spc_contacts AS (
    SELECT person_id, contact_date AS spc_date FROM core_hospice_contacts
    UNION ALL
    SELECT person_id, contact_date FROM core_community_contacts WHERE service = 'community_palliative_care'
    UNION ALL
    SELECT person_id, admission_date FROM core_apc_spells WHERE specialist_palliative_care = 'Y'
),
bereavement AS (
    SELECT c.person_id, min(b.contact_date) AS first_bereavement_contact_date
    FROM classified c
    JOIN core_bereavement_contacts b ON b.person_id = c.person_id
    WHERE b.contact_date BETWEEN c.date_of_death AND c.date_of_death + INTERVAL 90 DAY
    GROUP BY c.person_id
),
spc AS (
    SELECT c.person_id, min(s.spc_date) AS first_spc_contact_date
    FROM classified c
    JOIN spc_contacts s ON s.person_id = c.person_id
    WHERE s.spc_date BETWEEN c.date_of_death - INTERVAL 365 DAY AND c.date_of_death
    GROUP BY c.person_id
)
SELECT
    c.person_id,
    c.date_of_death,
    c.age_years,
    CASE WHEN c.age_years < 18 THEN '0-17' WHEN c.age_years < 65 THEN '18-64'
         WHEN c.age_years < 75 THEN '65-74' WHEN c.age_years < 85 THEN '75-84' ELSE '85+' END AS age_band,
    CASE c.sex WHEN '1' THEN 'male' WHEN '2' THEN 'female' WHEN '9' THEN 'indeterminate'
               ELSE 'not_known' END AS sex,
    c.place_of_death,
    c.lsoa_code,
    coalesce(CAST((l.imd_decile + 1) // 2 AS VARCHAR), 'unknown') AS imd_quintile,
    coalesce(l.place_code, 'unknown') AS place_code,
    coalesce(pr.pcn_code, 'unknown') AS pcn_code,
    coalesce(c.gp_practice_code, 'unknown') AS practice_code,
    c.cause AS underlying_cause_icd10,
    c.need_group IS NOT NULL AS palliative_need,
    CASE
        WHEN c.need_group = 'cancer' THEN 'cancer'
        WHEN c.need_group IN ('heart', 'respiratory', 'renal', 'liver') THEN 'organ_failure'
        WHEN c.need_group = 'dementia_frailty' THEN 'dementia_frailty'
        WHEN c.need_group IN ('stroke', 'neurodegenerative') THEN 'neurological'
        ELSE 'other'
    END AS condition_group,
    (c.cause_letter IN ('V', 'W', 'X') OR (c.cause_letter = 'Y' AND c.cause_number <= 89)
        OR left(c.cause, 4) = 'U509') AS external_cause,
    coalesce(r.ethnic_category, 'unknown') AS ethnicity,
    coalesce(r.date_added < c.date_of_death, FALSE) AS on_register,
    CASE WHEN r.date_added < c.date_of_death THEN date_diff('day', r.date_added, c.date_of_death) END
        AS days_on_register,
    coalesce(r.care_plan_date < c.date_of_death, FALSE) AS care_plan_before_death,
    coalesce(r.respect_date < c.date_of_death, FALSE) AS respect_before_death,
    coalesce(r.what_matters_date < c.date_of_death, FALSE) AS what_matters_before_death,
    CASE WHEN r.preferred_place_recorded_date < c.date_of_death
              AND r.preferred_place_of_death <> 'not_stated'
         THEN r.preferred_place_of_death END AS preferred_place_of_death,
    coalesce(r.preferred_place_recorded_date < c.date_of_death
             AND r.preferred_place_of_death <> 'not_stated', FALSE) AS preferred_place_recorded,
    coalesce(r.preferred_place_recorded_date < c.date_of_death
             AND r.preferred_place_of_death <> 'not_stated'
             AND r.preferred_place_of_death = c.place_of_death, FALSE) AS died_in_preferred_place,
    coalesce(e.n, 0) AS emergency_admissions_90d,
    coalesce(b.n_90, 0) AS bed_days_90d,
    coalesce(a.n, 0) AS ae_attendances_90d,
    coalesce(b.n_182, 0) AS bed_days_182d,
    spc.first_spc_contact_date IS NOT NULL AS spc_contact_12m,
    spc.first_spc_contact_date,
    -- v2: dementia (a register diagnosis before the day of death, or the underlying cause)
    (coalesce(dr.date_diagnosed < c.date_of_death, FALSE)
        OR left(c.cause, 3) IN ('F00', 'F01', 'F02', 'F03', 'G30')) AS dementia,
    bv.first_bereavement_contact_date,
    date_diff('day', c.date_of_death, bv.first_bereavement_contact_date) AS days_to_bereavement_contact,
    c.file_id AS death_file_id
FROM classified c
LEFT JOIN core_ref_lsoa l ON l.lsoa_code = c.lsoa_code
LEFT JOIN core_ref_practice pr ON pr.gp_practice_code = c.gp_practice_code
LEFT JOIN register r ON r.person_id = c.person_id
LEFT JOIN emergency e ON e.person_id = c.person_id
LEFT JOIN bed_days b ON b.person_id = c.person_id
LEFT JOIN ae a ON a.person_id = c.person_id
LEFT JOIN spc ON spc.person_id = c.person_id
LEFT JOIN core_dementia_register dr ON dr.person_id = c.person_id
LEFT JOIN bereavement bv ON bv.person_id = c.person_id
ORDER BY c.date_of_death, c.person_id;
