-- mart_decedent_periods: the decedent cohort crossed with every reporting period its death
-- falls in (a death counts in each rolling 12 months and financial year containing it).
-- Grain: one row per decedent per period. Indicator SQL files select from this view.
CREATE OR REPLACE VIEW mart_decedent_periods AS
SELECT p.period_type, p.period_start, p.period_end, c.*
FROM mart_decedent_cohort c
JOIN mart_periods p ON c.date_of_death BETWEEN p.period_start AND p.period_end;
