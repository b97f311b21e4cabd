-- SP03  Hospice referrals first seen on the day of or day after referral
-- Definition:  percentage of hospice referrals seen for the first time on the day of referral or the day after (PCOC benchmark 90%).
-- Cohort:      hospice_referrals with referral_date in the period and a first_contact_date.
-- Numerator:   first_contact_date - referral_date <= 1 day.
-- Denominator: referrals in the period that have had a first contact.
-- Exclusions:  referrals not yet seen (no first_contact_date).
-- Sources:     hospice_referrals; geography through mart_person_geography (ICS only when the person does not link).
SELECT p.period_type, p.period_start, p.period_end,
       coalesce(g.place_code, 'unknown') AS place_code,
       coalesce(g.pcn_code, 'unknown') AS pcn_code,
       coalesce(g.practice_code, 'unknown') AS practice_code,
       CAST(date_diff('day', r.referral_date, r.first_contact_date) <= 1 AS INTEGER) AS numerator,
       1 AS denominator
FROM core_hospice_referrals r
JOIN mart_periods p ON r.referral_date BETWEEN p.period_start AND p.period_end
LEFT JOIN mart_person_geography g ON g.person_id = r.person_id
WHERE r.first_contact_date IS NOT NULL
