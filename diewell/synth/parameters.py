"""Every rate and share the synthetic ICS is drawn from, with the figure it was set against.

Read this module as a table to review against the published figures. "Target" means the
value the generated data should reproduce once the pipeline derives it (indicators.md);
"brief" means a design target of the synthetic ICS, not a published statistic; "approx."
figures are rounded from the named source. Shares within a table need not sum to exactly 1:
they are normalised where used.
"""

from __future__ import annotations

# --- Geography and organisations ---------------------------------------------------------

PEOPLE_PER_LSOA = 1_600  # ONS: 33,755 LSOAs (2021) for 56.5M people in England
PEOPLE_PER_PLACE = 333_000  # brief: 3 places at 1M
PRACTICES_PER_MILLION_SMALL_ICS = 60  # brief: ~60 practices at 1M (larger lists than average)
PEOPLE_PER_PRACTICE_NATIONAL = 9_500  # NHS Digital: ~6,300 practices for 60M registrations
MIN_PRACTICES = 6
PRACTICES_PER_PCN = 6  # NHS England: ~1,250 PCNs for ~6,300 practices
PEOPLE_PER_TRUST = 350_000  # brief (acute trusts); at least 3
PEOPLE_PER_HOSPICE = 250_000  # brief; at least 4 (one of them for children)
# Together for Short Lives: ~54 children's vs ~200 adult hospices
HOSPICES_PER_CHILDRENS_HOSPICE = 8
PEOPLE_PER_COMMUNITY_PROVIDER = 1_000_000
PEOPLE_PER_SPOC_HOST = 1_000_000
PRACTICE_LIST_SIZE_CV = 0.45  # spread of list sizes around the mean
CATCHMENT_SHARE = 0.90  # registered with a practice whose catchment holds their LSOA
OTHER_PLACE_SHARE = 0.02  # registered with a practice in a place other than their LSOA's
DD_MM_YYYY_PRACTICE_SHARE = 0.35  # practices on the clinical system exporting DD/MM/YYYY dates
# activity starts this long before the window (only what reaches into it is delivered)
LEAD_IN_DAYS = 180
# deaths are simulated this long after the window (their last year starts inside it)
RUN_OUT_DAYS = 365
CHUNK_PEOPLE = 250_000  # people generated at once (memory stays flat whatever the population)

# --- Population: England mid-2021 (ONS mid-year estimates), thousands, (male, female) -------

AGE_BANDS = (
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49",
    "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85-89", "90+",
)  # fmt: skip
ENGLAND_POPULATION_THOUSANDS = (
    (1635, 1555), (1745, 1660), (1760, 1670), (1600, 1520), (1750, 1690), (1870, 1860),
    (1920, 1950), (1860, 1900), (1730, 1760), (1770, 1820), (1900, 1960), (1850, 1900),
    (1600, 1660), (1370, 1450), (1330, 1450), (960, 1100), (610, 770), (330, 490), (150, 320),
)  # fmt: skip
OLDEST_AGE = 106  # ages 90+ are spread over 90..OLDEST_AGE, thinning with age
NINETY_PLUS_MEAN_EXTRA_YEARS = 3.5
PRACTICE_OLD_AGE_SPREAD = 0.25  # practices differ in their share of people 65+ (lognormal sd)

BIRTH_RATE = 0.0103  # ONS 2022: 577,046 live births in England and Wales / 60.2M ≈ 9.6 per 1,000

# --- Mortality -----------------------------------------------------------------------------

# Deaths per 100,000 per year by AGE_BANDS (male, female): ONS 2022 England and Wales
# age-specific mortality rates (approx.). The 0-4 band excludes infants (births are simulated).
MORTALITY_PER_100K = (
    (11, 9), (7, 6), (9, 8), (30, 16), (50, 22), (60, 30), (85, 45), (120, 70), (175, 110),
    (260, 170), (390, 260), (590, 390), (900, 580), (1400, 900), (2200, 1450), (3500, 2400),
    (6000, 4300), (10800, 8300), (22000, 19000),
)  # fmt: skip
# tunes the crude death rate to ~1% a year (E&W 2022: 577,160 deaths / 60.2M = 0.96%)
MORTALITY_SCALE = 1.16
# ONS: age-standardised mortality, most vs least deprived decile ~1.8
DEPRIVATION_MORTALITY_RATIO = 1.8
NEONATAL_DEATH_RISK = 0.0027  # ONS 2022: neonatal mortality 2.7 per 1,000 live births
POSTNEONATAL_DEATH_RISK = 0.0011  # ONS 2022: infant 3.9 minus neonatal 2.7 per 1,000
WINTER_EXCESS = 0.15  # ONS: deaths peak in January, ~15% above the annual mean

# Registration delay after death (days): median ~5 (ONS); coroner cases (external causes) months
REGISTRATION_DELAY_MEDIAN_DAYS = 5
CORONER_DELAY_MEDIAN_DAYS = 80
NO_PRACTICE_CODE_SHARE = 0.012  # deaths delivered without a GP practice code

# --- Causes of death -----------------------------------------------------------------------

CONDITION_GROUPS = (
    "cancer",
    "organ_failure",
    "dementia_frailty",
    "neurological",
    "hiv",
    "other",
    "external",
)
# Share of deaths by group, per age band at death (ONS 2022 leading causes by age, approx.);
# overall: cancer 27%, organ failure 25%, dementia/frailty 14%, neurological 9%, external 4%
# (brief; Etkind et al. 2017: ~75% of deaths have palliative care need).
CAUSE_AGE_BANDS = (1, 18, 45, 65, 75, 85)  # lower bounds: 1-17, 18-44, 45-64, 65-74, 75-84, 85+
CAUSE_GROUP_SHARES_BY_AGE = (
    (0.18, 0.06, 0.00, 0.12, 0.000, 0.34, 0.300),
    (0.22, 0.12, 0.00, 0.05, 0.004, 0.25, 0.356),
    (0.40, 0.22, 0.01, 0.06, 0.003, 0.22, 0.087),
    (0.42, 0.26, 0.03, 0.08, 0.001, 0.17, 0.039),
    (0.31, 0.28, 0.12, 0.10, 0.000, 0.175, 0.015),
    (0.13, 0.25, 0.28, 0.09, 0.000, 0.232, 0.018),
)
# ICD-10 underlying causes within each group (ONS leading causes, approx. weights).
# Codes in FOURTH_CHARACTER_MATTERS are never shortened to three characters.
CAUSE_CODES = {
    "cancer": {
        "C34.9": 20, "C18.9": 7, "C20": 3, "C50.9": 7, "C61": 7, "C25.9": 6, "C15.9": 5,
        "C16.9": 3, "C67.9": 3, "C71.9": 3, "C80.9": 5, "C90.0": 2, "C92.0": 2, "C91.1": 1.5,
        "C22.0": 3, "C56": 3, "C64": 2.5, "C85.9": 3, "C43.9": 1.5, "C45.0": 2, "C32.9": 1,
        "C53.9": 1, "C54.1": 1.5, "C73": 0.5,
    },
    "organ_failure": {
        "I25.1": 22, "I21.9": 10, "I50.9": 6, "I48": 3, "I11.9": 2, "I35.0": 2, "I42.9": 2,
        "I49.9": 1, "J44.9": 18, "J44.1": 4, "J43.9": 2, "J47": 1, "J96.1": 1, "N18.5": 2,
        "N18.9": 1, "N17.9": 2, "I12.0": 2, "I13.2": 0.5, "N28.9": 0.2, "K70.3": 5, "K74.6": 4,
        "K72.9": 1, "K76.0": 1,
    },
    "dementia_frailty": {"F03": 55, "G30.9": 28, "F01.9": 12, "R54": 5},
    "neurological": {
        "I63.9": 35, "I61.9": 12, "I64": 12, "I67.9": 5, "I69.4": 4, "G20": 14, "G35": 3,
        "G12.2": 5, "G10": 1, "G23.1": 2, "G90.3": 1,
    },
    "hiv": {"B20.9": 3, "B22.7": 2, "B24": 5},
    "other": {
        "J18.9": 18, "A41.9": 8, "U07.1": 6, "E11.9": 4, "K55.0": 2, "K92.2": 2, "N39.0": 2,
        "E86": 1, "I71.4": 3, "I70.2": 2, "J22": 2, "J69.0": 3, "K56.6": 2, "K57.3": 2,
        "D64.9": 1, "R99": 1, "E87.1": 1, "M06.9": 1, "J84.1": 4, "K63.1": 1, "A09": 1,
        "G40.9": 2, "G80.9": 1, "Q89.9": 1,
    },
    "external": {
        "W19": 35, "W10.9": 5, "X42": 8, "X44": 6, "X70": 8, "X59.9": 3, "V89.2": 8, "V43.5": 3,
        "W80": 3, "W78": 2, "Y83.8": 5, "X80": 2, "W69": 2, "X49": 4, "W06": 4,
    },
    "infant": {
        "P07.0": 25, "P07.2": 10, "P22.0": 10, "P36.9": 8, "P21.9": 6, "Q89.9": 10, "Q24.9": 10,
        "Q91.3": 5, "P52.9": 5, "R95": 6, "P29.8": 5,
    },
}  # fmt: skip
FOURTH_CHARACTER_MATTERS = ("G12.2", "G23.1", "G90.3")
# How the ICB data service writes a code: C34.9 / C349 / C34 (extracts.md allows all three).
CODE_FORMAT_SHARES = {"dotted": 0.55, "undotted": 0.30, "three_character": 0.15}
CONTRIBUTING_CAUSES = ("I10", "E11.9", "I25.1", "J18.9", "F03", "N18.3", "I48", "E66.9", "J44.9", "R54", "A41.9", "C78.0", "C79.5", "D63.0", "E43")  # fmt: skip
CONTRIBUTING_CAUSE_COUNT_SHARES = (0.35, 0.30, 0.22, 0.13)  # 0, 1, 2, 3 contributing causes

# --- Place of death ------------------------------------------------------------------------

PLACES_OF_DEATH = ("hospital", "home", "care_home", "hospice", "other")
# Target overall (OHID PEoLC profile, England 2022): hospital 43.4%, home 28.7%,
# care home 20.5%, hospice 4.7%, other 2.6% (reference/published_peolc_figures.csv).
# Base shares by condition group (ONS/OHID place of death by cause, approx.: cancer → home and
# hospice, dementia → care home), before the age and deprivation modifiers below.
PLACE_SHARES_BY_GROUP = {
    "cancer": (0.31, 0.43, 0.095, 0.145, 0.02),
    "organ_failure": (0.55, 0.29, 0.13, 0.012, 0.018),
    "dementia_frailty": (0.18, 0.18, 0.625, 0.003, 0.012),
    "neurological": (0.52, 0.20, 0.25, 0.018, 0.012),
    "hiv": (0.60, 0.25, 0.06, 0.06, 0.03),
    "other": (0.595, 0.25, 0.12, 0.01, 0.025),
    "external": (0.42, 0.30, 0.05, 0.0, 0.23),
    "infant": (0.84, 0.08, 0.0, 0.04, 0.04),
}
# Odds multipliers (hospital, home, care_home, hospice, other) by age at death: younger people
# die in hospital more and in care homes less (ONS place of death by age).
PLACE_AGE_BANDS = (18, 65, 75, 85)  # lower bounds: 0-17, 18-64, 65-74, 75-84, 85+
PLACE_ODDS_BY_AGE = (
    (2.0, 1.2, 0.02, 1.5, 1.0),
    (1.25, 1.25, 0.25, 1.4, 1.6),
    (1.15, 1.15, 0.55, 1.3, 1.1),
    (1.0, 1.0, 1.0, 1.0, 1.0),
    (0.88, 0.85, 1.45, 0.65, 0.9),
)
# Odds multipliers by IMD quintile (1 most deprived): more hospital, fewer home and hospice
# deaths in deprived areas (OHID PEoLC profile inequality breakdowns).
PLACE_ODDS_BY_QUINTILE = (
    (1.18, 0.90, 0.95, 0.72, 1.1),
    (1.07, 0.96, 0.98, 0.88, 1.0),
    (1.0, 1.0, 1.0, 1.0, 1.0),
    (0.95, 1.04, 1.01, 1.12, 1.0),
    (0.90, 1.08, 1.02, 1.25, 0.95),
)
# deaths.place_of_death as the ICB data service writes it: a word or a death location type code.
PLACE_CODE_SHARE = 0.4  # rows using the NHS Data Dictionary code rather than the word
PLACE_CODES = {
    "hospital": ("10",),
    "home": ("20", "21"),
    "care_home": ("40", "41", "42"),
    "hospice": ("30",),
    "other": ("22", "50"),
}

# --- Hospital activity ---------------------------------------------------------------------

# Background rates per person-year (brief; HES 2022-23: ~6.4M emergency admissions, ~9M
# ordinary and day-case elective admissions, ~16M A&E attendances for ~56M people).
EMERGENCY_ADMISSIONS_PER_YEAR = 0.10
ELECTIVE_ADMISSIONS_PER_YEAR = 0.15
AE_ATTENDANCES_PER_YEAR = 0.35  # all A&E, including those before an emergency admission
AE_BEFORE_EMERGENCY_ADMISSION = 0.75  # share of emergency admissions preceded by an A&E arrival
MATERNITY_ADMISSIONS_PER_WOMAN_YEAR = 0.055  # women 15-44
# Relative rates by age (bands 0-4, 5-14, 15-44, 45-64, 65-74, 75-84, 85+; HES age profiles)
ACTIVITY_AGE_BANDS = (5, 15, 45, 65, 75, 85)
EMERGENCY_BY_AGE = (1.2, 0.4, 0.6, 0.9, 1.7, 3.0, 5.5)
ELECTIVE_BY_AGE = (0.2, 0.15, 0.5, 1.3, 2.3, 2.5, 1.5)
AE_BY_AGE = (1.6, 0.75, 1.0, 0.75, 0.9, 1.3, 2.3)
COMMUNITY_BY_AGE = (0.2, 0.1, 0.2, 0.6, 1.5, 4.0, 9.0)
EMERGENCY_METHOD_SHARES = {"21": 0.70, "22": 0.12, "23": 0.02, "24": 0.04, "25": 0.01, "2A": 0.03, "2B": 0.03, "2D": 0.03, "28": 0.02}  # fmt: skip
ELECTIVE_METHOD_SHARES = {"11": 0.58, "12": 0.25, "13": 0.12, "81": 0.03, "83": 0.02}
MATERNITY_METHOD_SHARES = {"31": 0.7, "32": 0.3}
DAY_CASE_SHARE_EMERGENCY = 0.30
MEAN_STAY_EMERGENCY_DAYS = 5.5  # ordinary emergency stays (NHS Digital HES: mean ~5-6 days)
DAY_CASE_SHARE_ELECTIVE = 0.75
MEAN_STAY_ELECTIVE_DAYS = 3.0
DISCHARGE_DESTINATIONS = {"19": 0.86, "54": 0.06, "51": 0.03, "29": 0.02, "65": 0.02, "98": 0.01}
DIED_DESTINATION = "79"
EMERGENCY_DIAGNOSES = ("R07.4", "J18.9", "N39.0", "I48", "R10.4", "S72.0", "J44.1", "I50.9", "R55", "K80.2", "L03.1", "A41.9", "I21.4", "E87.1", "R06.0")  # fmt: skip
ELECTIVE_DIAGNOSES = ("H25.9", "K40.9", "M17.1", "C50.9", "Z51.1", "K63.5", "N40", "M16.1", "H26.9", "D12.6", "K80.2", "C44.3")  # fmt: skip
MATERNITY_DIAGNOSES = ("O80", "O82", "O47.1", "O70.0", "O99.8")
AE_DEPARTMENT_SHARES = {"01": 0.70, "02": 0.02, "03": 0.25, "04": 0.03}
# trusts other than the first leave specialist_palliative_care empty 10%
SPC_FLAG_FILLED_SHARE = 0.9
NEIGHBOUR_TRUST_SHARE = 0.12  # people using an acute trust other than their place's

# --- Community services and the single point of contact -------------------------------------

COMMUNITY_CONTACTS_PER_YEAR = 0.30  # brief
COMMUNITY_CONTACTS_PER_EPISODE = 6.0  # a district nursing episode is a run of visits
COMMUNITY_EPISODE_DAYS = 35
COMMUNITY_SERVICE_SHARES = {"district_nursing": 0.60, "rapid_response": 0.08, "other": 0.315, "community_palliative_care": 0.005}  # fmt: skip
FACE_TO_FACE_SHARE = 0.8
OUT_OF_HOURS_FLAG = {"Y": 0.09, "N": 0.86, "": 0.05}
# SPoC calls: brief ~0.004 per person-year overall, most about people in their last weeks.
SPOC_LIVING_CALLS_PER_YEAR = 0.0007  # calls about people not in their last year
SPOC_UNIDENTIFIED_SHARE = 0.15  # brief: nhs_number empty for ~15% of calls
SPOC_OUT_OF_HOURS_SHARE = 0.55  # brief (SC01): weekends, or before 08:00 / from 18:30 on weekdays
SPOC_CALLER_SHARES = {"patient": 0.15, "carer_family": 0.50, "professional": 0.30, "other": 0.05}
SPOC_OUTCOME_SHARES = {"advice_only": 0.45, "visit_arranged": 0.25, "referred_to_gp": 0.17, "ambulance_or_admission": 0.08, "other": 0.05}  # fmt: skip

# --- The last year of life -----------------------------------------------------------------

# Emergency admissions in the last 90 days besides a terminal admission: negative binomial
# with these means by group (tuned to target HU02 ≈ 55% with ≥1 and HU01 6.2% with ≥3: OHID
# PEoLC profile 2022; Nuffield Trust QualityWatch 7.1% in 2021).
EOL_EMERGENCY_MEAN_90D = {"cancer": 0.55, "organ_failure": 0.59, "dementia_frailty": 0.35, "neurological": 0.44, "hiv": 0.5, "other": 0.41, "external": 0.10, "infant": 0.0}  # fmt: skip
EOL_EMERGENCY_MEAN_HOSPITAL_DEATH_FACTOR = 0.8
# gamma shape of the negative binomial (a few people are admitted often)
EOL_EMERGENCY_DISPERSION = 0.4
# Nuffield Trust: 25% have 3+ emergency admissions in the last year
EOL_EMERGENCY_MEAN_91_365D = 0.45
TERMINAL_EMERGENCY_SHARE = 0.90  # hospital deaths admitted as emergencies
TERMINAL_SAME_DAY_SHARE = 0.12  # hospital deaths on the day of admission
TERMINAL_STAY_MEDIAN_DAYS = 7
EOL_AE_WITHOUT_ADMISSION_MEAN_90D = 0.30
EOL_AE_WITHOUT_ADMISSION_MEAN_91_365D = 0.25
EOL_ELECTIVE_MEAN_365D = {"cancer": 0.8, "other_groups": 0.1}  # day-case chemotherapy etc.
EOL_DISTRICT_NURSING_MEAN_30D = {"home": 6.0, "care_home": 2.0, "other_places": 0.8}
EOL_SPOC_CALLER_SHARE = {"need_dying_outside_hospital": 0.33, "others": 0.05}
EOL_SPOC_EXTRA_CALLS_MEAN = 1.2
EOL_SPOC_DAYS_BEFORE_DEATH_MEAN = 9.0

# --- Palliative care register --------------------------------------------------------------

# On the register before death, among decedents with palliative need (target ID01 ~40%; GSF/
# QOF audits; Stow et al. BJGP 2020 12.6% of 75+ in 2015 in one record system, higher since).
REGISTER_SHARE_BY_GROUP = {"cancer": 0.64, "organ_failure": 0.30, "dementia_frailty": 0.36, "neurological": 0.33, "hiv": 0.40, "other": 0.07, "external": 0.0, "infant": 0.0}  # fmt: skip
REGISTER_ODDS_BY_QUINTILE = (0.78, 0.92, 1.0, 1.06, 1.12)  # fewer in the most deprived
REGISTER_CHILD_FACTOR = 0.5
# Days from date_added to death: 42% added ≥ 91 days before (brief: ~45%), the rest in the last
# 90 days (median overall ~65, brief ~60); a few added on or after the day of death.
REGISTER_EARLY_SHARE = 0.42
REGISTER_EARLY_MEDIAN_EXTRA_DAYS = 200  # days beyond 91, lognormal
REGISTER_EARLY_SIGMA = 1.0
REGISTER_LATE_BETA = (1.0, 2.0)  # days = 90 * Beta(a, b) in the last 90 days
REGISTER_AFTER_DEATH_SHARE = 0.025  # added on the day of death or up to 14 days after
REGISTER_LIVING_SHARE = 0.0030  # living people on registers (prevalence 0.3-0.5% with the dying)
REGISTER_LIVING_AGE_WEIGHTS = (0.02, 0.02, 0.08, 0.6, 1.5, 3.0, 5.0)  # ACTIVITY_AGE_BANDS
REGISTER_LIVING_ADDED_YEARS_BEFORE_START = 4
PREFERRED_PLACE_RECORDED_SHARE = 0.70  # brief: preferred place recorded for ~70% of entries
PREFERRED_PLACE_NOT_STATED_SHARE = 0.10  # of those, `not_stated`
DIED_IN_PREFERRED_PLACE_SHARE = 0.70  # brief; ONS/OHID VOICES: most die where they preferred
PREFERRED_PLACE_SHARES = {"home": 0.55, "care_home": 0.14, "hospice": 0.20, "hospital": 0.08, "other": 0.03}  # fmt: skip
CARE_PLAN_SHARE = 0.60
RESPECT_SHARE = 0.55
DNACPR_SHARE_WITH_RESPECT = 0.75  # a ReSPECT form usually records the CPR decision
DNACPR_SHARE_WITHOUT_RESPECT = 0.25  # overall ~50% of entries
WHAT_MATTERS_SHARE = 0.40
RECORD_BEFORE_ADDED_SHARE = 0.15  # a form completed (in hospital) before the register entry
IDENTIFICATION_TOOL_SHARES = {"spict": 0.25, "gsf_pig": 0.20, "surprise_question": 0.25, "other": 0.10, "unknown": 0.10, "": 0.10}  # fmt: skip
# NHS ethnic category (ONS Census 2021, England, people 65+: ~91% White; A = White British).
ETHNIC_CATEGORY_SHARES = {
    "A": 0.80, "B": 0.005, "C": 0.03, "D": 0.003, "E": 0.003, "F": 0.004, "G": 0.004, "H": 0.025,
    "J": 0.02, "K": 0.008, "L": 0.008, "M": 0.008, "N": 0.01, "P": 0.004, "R": 0.005,
    "S": 0.01, "Z": 0.03, "99": 0.015,
}  # fmt: skip

# --- Specialist palliative care ------------------------------------------------------------

# Any SPC contact in the last year, among decedents with need (target SP01 ~45%; Marie Curie
# "Better End of Life" 2022: 40-50%), by group and register status (on, off).
SPC_SHARE = {
    "cancer": (0.86, 0.50), "organ_failure": (0.55, 0.22), "dementia_frailty": (0.33, 0.12),
    "neurological": (0.60, 0.25), "hiv": (0.6, 0.3), "other": (0.30, 0.06),
    "external": (0.0, 0.01), "infant": (0.0, 0.08),
}  # fmt: skip
# First contact in the last 14 days, besides first contacts by the hospital team or in a hospice
# inpatient unit, which are mostly late (brief: SP02 ~20% overall).
SPC_LATE_SHARE = 0.10
SPC_EARLY_MEAN_EXTRA_DAYS = 90  # days beyond 14, exponential, capped at 365
SPC_HOSPICE_MODALITY = 0.62  # outside hospital deaths: hospice vs community SPC
SPC_HOSPITAL_TEAM_SHARE = 0.35  # hospital deaths with SPC: seen by the hospital team
SPC_SECOND_SERVICE_SHARE = 0.25  # also seen by the other community service
HOSPICE_DEATH_WITHOUT_CONTACT_SHARE = 0.08  # died in an out-of-area hospice (no local record)
HOSPICE_STAY_MEAN_DAYS = 12
HOSPICE_REFERRAL_LAG = {0: 0.45, 1: 0.30}  # rest: 2+ days (target SP03 ~75% within 1 day)
HOSPICE_REFERRAL_LAG_MEAN_LONG = 7
HOSPICE_REFERRAL_SOURCES = {"gp": 0.35, "hospital": 0.30, "community": 0.20, "care_home": 0.05, "self_or_carer": 0.05, "other": 0.05}  # fmt: skip
HOSPICE_SERVICES = {"community": 0.45, "hospice_at_home": 0.25, "outpatient": 0.15, "day_services": 0.05, "inpatient_unit": 0.10}  # fmt: skip
SETTINGS_BY_SERVICE = {
    "community": {"home": 0.55, "telephone_video": 0.30, "care_home": 0.10, "clinic": 0.05},
    "hospice_at_home": {"home": 0.85, "telephone_video": 0.15},
    "outpatient": {"clinic": 0.6, "telephone_video": 0.4},
    "day_services": {"clinic": 0.8, "telephone_video": 0.2},
    "inpatient_unit": {"inpatient_unit": 1.0},
    "childrens": {"home": 0.4, "clinic": 0.2, "inpatient_unit": 0.25, "telephone_video": 0.15},
}
SPC_CONTACT_DAYS_PER_CONTACT = 5.0  # contacts every ~5 days over the episode (up to 120 days)
HOSPICE_CONTACT_OUT_OF_HOURS = 0.08
NEVER_SEEN_REFERRAL_SHARE = 0.12  # need decedents without SPC referred in their last days
LIVING_SPC_EPISODES_PER_ADULT_YEAR = 0.0012  # hospice caseload discharged alive
LIVING_CHILDRENS_EPISODES_PER_CHILD_YEAR = 0.0009  # children with life-limiting conditions
LIVING_NEVER_SEEN_SHARE = 0.06
LIVING_HOSPICE_SHARE = 0.7  # of living adult SPC episodes (rest: community SPC)

# --- Outcome assessments (PCOC phase, AKPS, IPOS) -------------------------------------------

ASSESSMENT_DAYS_APART = 8.0
MAX_ASSESSMENTS = 14
PHASES = ("stable", "unstable", "deteriorating", "dying")
FIRST_PHASE_SHARES = (0.35, 0.20, 0.40, 0.05)
# Next phase given the current one; an unstable phase never follows itself (PCOC).
PHASE_TRANSITIONS = (
    (0.50, 0.20, 0.28, 0.02),
    (0.35, 0.00, 0.55, 0.10),
    (0.08, 0.20, 0.50, 0.22),
    (0.00, 0.00, 0.00, 1.00),
)
UNSTABLE_RESOLVED_IN_3_DAYS = 0.72  # brief ~70% (PCOC benchmark 90%)
AKPS_BY_PHASE = ((50, 60, 70), (30, 40, 50), (30, 40, 50), (10, 20))
AKPS_MISSING_SHARE = 0.05
IPOS_FIRST_MEAN, IPOS_FIRST_SD = 24.0, 8.0
IPOS_IMPROVES_SHARE = 0.58  # target SP05 ~55% (ties count as not improved)
IPOS_MISSING_SHARE = 0.06

# --- Defects -------------------------------------------------------------------------------

DEFECT_KINDS = (
    "bad_check_digit",
    "unparseable_date",
    "discharge_before_admission",
    "duplicate_key",
)
MAX_DEFECT_SHARE_PER_FILE = 0.10  # brief: never more than 10% of a file's rows

# --- Catalogue v2: children's transition, dementia, bereavement, education -----------------
# Each rate is a plausible England figure, rounded; docs/INDICATORS.md compares the results.

# Young people with a life-limiting condition known to a children's hospice: about 66 per
# 10,000 aged 0-19 have one (Fraser et al. 2020); about a quarter are on a hospice caseload.
TRANSITION_CASELOAD_SHARE = 0.0015  # of people aged 12-19 at some time in the window
TRANSITION_FIRST_REFERRAL_AGE = (8.0, 16.0)  # years: referral to the children's hospice
TRANSITION_PLAN_SHARES = {"by_17": 0.5, "after_17": 0.2, "none": 0.3}
TRANSITION_PLAN_AGE = {"by_17": (14.0, 17.0), "after_17": (17.0, 18.0)}  # years
ADULT_SERVICES_SHARE = 0.65  # reach adult palliative care from 16 to 19 (5 in 6 of them by 18 1/2)
ADULT_SERVICES_AGE = (16.0, 19.0)  # years: the adult referral
ADULT_SERVICES = {
    "community": 0.5,
    "day_services": 0.25,
    "outpatient": 0.15,
    "hospice_at_home": 0.1,
}

# Dementia register: diagnosed prevalence ~0.7% of registered patients (QOF 2023-24: 0.74%),
# by age at the window end or at death.
DEMENTIA_DIAGNOSED_BY_AGE = {  # lower age of band -> share diagnosed
    0: 0.0003, 65: 0.006, 70: 0.012, 75: 0.025, 80: 0.05, 85: 0.085, 90: 0.13,
}  # fmt: skip
DEMENTIA_CAUSE_DIAGNOSED = 0.85  # of deaths from dementia (F01, F03, G30) diagnosed before
DEMENTIA_CAUSE_PREFIXES = ("F00", "F01", "F02", "F03", "G30")
DEMENTIA_YEARS_BEFORE = (0.1, 7.0)  # diagnosis to death or the window end
DEMENTIA_SUBTYPES = {
    "alzheimers": 0.5, "vascular": 0.17, "mixed": 0.1, "lewy_body": 0.04, "frontotemporal": 0.02,
    "other": 0.02, "unspecified": 0.1, "": 0.05,
}  # fmt: skip

# Bereavement support: about half the families of people the hospice knew (brief).
BEREAVEMENT_SUPPORTED_SHARE = 0.5
BEREAVEMENT_FIRST_DAYS = (3, 28.0)  # first contact: at least 3 days after, then exponential mean
BEREAVEMENT_MORE_CONTACTS_MEAN = 1.2
BEREAVEMENT_DAYS_BETWEEN = (7, 42)
BEREAVEMENT_FIRST_SUPPORT = {"offer": 0.65, "assessment": 0.35}
BEREAVEMENT_LATER_SUPPORT = {"one_to_one": 0.5, "group": 0.3, "signposted": 0.2}
BEREAVEMENT_RELATIONSHIPS = {
    "partner": 0.45, "child": 0.3, "parent": 0.05, "sibling": 0.05, "friend": 0.04, "other": 0.03,
    "": 0.08,
}  # fmt: skip

# Care homes (CQC directory): ~14,800 in England for ~57 million people.
PEOPLE_PER_CARE_HOME = 3_850
CARE_HOME_BEDS = (8, 90)
CARE_HOME_NURSING_SHARE = 0.3
# Education sessions: a hospice education team's monthly programme, scaled to the ICS.
EDUCATION_SESSIONS_PER_100K_MONTH = 2.5
EDUCATION_SECTORS = {
    "care_home": 0.35, "primary_care": 0.15, "acute": 0.15, "community": 0.12,
    "social_care": 0.08, "prison": 0.03, "hospice": 0.07, "other": 0.05,
}  # fmt: skip
EDUCATION_ORGANISATION_RECORDED = 0.9  # sessions naming the attendees' organisation
EDUCATION_ATTENDEES = {"care_home": (3, 14), "default": (5, 30)}  # uniform whole numbers
EDUCATION_HOURS = ("1", "1.5", "2", "3", "3.5", "7", "14")
EDUCATION_COURSES = (
    "Recognising dying",
    "Advance care planning conversations",
    "Symptom control at the end of life",
    "Verification of expected death",
    "ReSPECT conversations",
    "Six Steps to Success",
    "Communication skills (SAGE & THYME)",
    "Bereavement awareness",
)
