"""The report's sections, in the order of the alliance's recommendations."""

from __future__ import annotations

from dataclasses import dataclass

# PCOC (Palliative Care Outcomes Collaboration) benchmarks, as percentages.
PCOC_BENCHMARK_PERCENT = 90.0
BENCHMARKS = {"SP03": PCOC_BENCHMARK_PERCENT, "SP04": PCOC_BENCHMARK_PERCENT}

PLACE_OF_DEATH = ("PD01", "PD02", "PD03", "PD04", "PD05")  # they add up to every death
FUNNEL_INDICATOR = "PD03"  # deaths in hospital, by PCN
FUNNEL_LEVEL = "pcn"
# The figures a board sees first, at the top of the report.
AT_A_GLANCE = ("ID01", "CP04", "PD03", "HU02", "HU07", "SP03", "SC02")
EQUITY_INDICATORS = ("ID01", "CP01", "PD03", "PD06", "SP01", "HU02")


@dataclass(frozen=True)
class Section:
    anchor: str  # the HTML id
    title: str
    recommendation: str  # what the alliance asks for, in one sentence
    indicators: tuple[str, ...]


SECTIONS = (
    Section(
        "identification",
        "Identification of need",
        "People who may be in their last year of life are identified early, so that care "
        "can be planned with them.",
        ("ND01", "ID01", "ID02", "ID03"),
    ),
    Section(
        "care-planning",
        "Personalised care planning and \u201cwhat matters to you\u201d",
        "Everyone approaching the end of life has a personalised care plan that records what "
        "matters to them, including where they would like to die. (Dying in the preferred "
        "place, CP04, is shown with place of death.)",
        ("CP01", "CP02", "CP03", "CP05"),
    ),
    Section(
        "place-of-death",
        "Place of death and dying in the preferred place",
        "People die in the place they chose, and fewer die in hospital when that was not "
        "their wish.",
        ("PD01", "PD02", "PD03", "PD04", "PD05", "PD06", "CP04"),
    ),
    Section(
        "hospital-use",
        "Hospital use in the last months of life",
        "Avoidable emergency admissions and A&E attendances in the last months of life "
        "are reduced, and more of the last six months of life is spent at home or in the "
        "community.",
        ("HU01", "HU02", "HU03", "HU04", "HU05", "HU06", "HU07"),
    ),
    Section(
        "specialist-care",
        "Specialist palliative care: reach and timeliness",
        "Specialist palliative care reaches people early enough to help, and meets the PCOC "
        "benchmarks for timeliness (90% of hospice referrals seen on the day of or the day "
        "after referral; 90% of unstable phases resolved within 3 days).",
        ("SP01", "SP02", "SP03", "SP04", "SP05"),
    ),
    Section(
        "single-point-of-contact",
        "The 24/7 single point of contact",
        "People and their carers can reach one number, day and night, that resolves their "
        "problem without an ambulance or an admission.",
        ("SC01", "SC02"),
    ),
    # catalogue v2: the alliances' own priorities
    Section(
        "childrens-transition",
        "Children's transition to adult palliative care",
        "Young people with life-limiting conditions have a transition plan by 17 and reach "
        "adult palliative care by 18\u00bd, without a gap between children's and adult services.",
        ("TR01", "TR02"),
    ),
    Section(
        "dementia",
        "The dementia journey",
        "People with dementia have a consistent journey from diagnosis to the end of life: "
        "their palliative care needs are identified, they die where they usually lived, and "
        "they are spared repeated emergency admissions.",
        ("DM01", "DM02", "DM03"),
    ),
    Section(
        "bereavement",
        "Bereavement support",
        "Families of people who died in the hospices' care are offered bereavement support, "
        "and soon after the death.",
        ("BV01", "BV02"),
    ),
    Section(
        "education",
        "Education reach",
        "End of life care education reaches more staff in care homes, primary care, acute "
        "hospitals and prisons, and more of the area's care homes.",
        ("ED01", "ED02"),
    ),
)
EQUITY_ANCHOR = "equity"
OTHER_ANCHOR = "other-indicators"
BENCHMARKS_ANCHOR = "benchmarks"
