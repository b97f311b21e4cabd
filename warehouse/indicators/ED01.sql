-- ED01  Palliative and end-of-life care training attendances
-- Definition:  number of attendances at palliative and end-of-life care education and training sessions (one attendee at one session is one attendance).
-- Cohort:      education_sessions with session_date in the period.
-- Numerator:   the sum of attendees; the published value is that count (statistic count: no denominator, no interval).
-- Denominator: none.
-- Exclusions:  none. Counts staff, not patients: disclosure rules 1 and 3 do not apply, counts are rounded (catalogue disclosure counts_not_people).
-- Sources:     education_sessions; place from the organisation: a care home's LSOA (ref_care_homes, ref_lsoa) or a GP practice (ref_practice); 'unknown' otherwise, including a session with no organisation_code.
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(l.place_code, rp.place_code, 'unknown') AS place_code,
       s.audience_sector,
       s.attendees AS numerator,
       0 AS denominator
FROM core_education_sessions s
JOIN mart_periods p ON s.session_date BETWEEN p.period_start AND p.period_end
LEFT JOIN core_ref_care_homes ch ON ch.location_id = s.organisation_code
LEFT JOIN core_ref_lsoa l ON l.lsoa_code = ch.lsoa_code
LEFT JOIN core_ref_practice rp ON rp.gp_practice_code = s.organisation_code
