"""The synthetic ICS in the national layouts (`synthesize(..., layouts="national")`, issue 38):
the same people, delivered as an ICB's data team receives them (sources.md v3).

- Person keys: every NHS number, in every extract, is replaced by the synthetic data service's
  pseudonym (`person_token`): a keyed hash of the NHS number under a fixed, published secret,
  standing for NCDR's Der_Pseudo_NHS_Number. It is 22 characters of `A-Z a-z 0-9 _ -`, the same
  for one person in every file, and never shaped like an NHS number.
- The extracts national datasets carry (layout.NATIONAL_LAYOUTS) are written in their built-in
  layouts, each delivery's records as the layout's source rows (`national_rows`,
  `national_ecds_csds`, `national_gp`), so that applying the layout gives the records back for every column the
  layout carries, plus a small share of rows the layout must filter. The other extracts keep
  the contract layout (with pseudonyms, and the defects `defect_rate` asks for; the national
  files carry none but the rows to filter).
- Deaths give some LSOAs as their 2011 codes, which the ICB's ref_lsoa_2011 lookup (written
  here) maps back to the 2021 codes.
- FILTERED_NAME, beside the config (outside the landing folder), lists every row written to be
  filtered: file, source_row (1-based data row), reason.

Columns the national layouts do not carry (they come back empty, or derived where the
contract row was given): deaths.place_of_death_org_code, deaths.date_of_birth where only the
age at death is sent; palliative_register.identification_tool, preferred_place_of_death,
preferred_place_recorded_date, what_matters_date, ethnic_category;
dementia_register.dementia_subtype; apc_spells.specialist_palliative_care is `N` where the
contract left it empty; community_contacts.out_of_hours is `Y` for every contact on a weekend
or bank holiday (CSDS derives it from the date and time). ICD-10 codes come back in the
layout's form (`C34.9`, `I10`) whatever form the contract row had.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import numpy as np
import polars as pl

from diewell.synth import national_ecds_csds, national_gp, national_rows
from diewell.synth.deliveries import (
    Parts,
    deliver,
    file_path,
    sorted_records,
    write_file,
)
from diewell.synth.events import SECONDS_PER_DAY
from diewell.synth.layout import NATIONAL_LAYOUTS, Layout, Provider, Window, to_days
from diewell.synth.national_rows import FILTERED, unit

# The synthetic data service's pseudonymisation secret: fixed and published, since the people
# are fictional; a real data service's key is its own and secret.
DATA_SERVICE_SECRET = b"diewell synthetic data service (synthetic-dscro): fictional people only"
TOKEN_BYTES = 16  # 22 characters of URL-safe base64
LSOA_2011_SHARE = 0.125  # LSOAs whose 2011 code differs from the 2021 code
FILTERED_NAME = "layout-filtered.csv"
PERSON_COLUMNS = {
    "deaths": "DER_PSEUDO_NHS_NUMBER",
    "apc_spells": "Der_Pseudo_NHS_Number",
    "ae_attendances": "Der_Pseudo_NHS_Number",
    "community_contacts": "Der_Pseudo_NHS_Number",
    "palliative_register": "person_id",
    "dementia_register": "person_id",
}
SOURCE_COLUMNS = {
    "deaths": national_rows.DEATHS_COLUMNS,
    "apc_spells": national_rows.APC_COLUMNS,
    "ae_attendances": national_ecds_csds.ECDS_COLUMNS,
    "community_contacts": national_ecds_csds.CSDS_COLUMNS,
    "palliative_register": national_gp.GP_EVENT_COLUMNS,
    "dementia_register": national_gp.GP_EVENT_COLUMNS,
}
DOA_SCHEMA = {
    "provider": pl.String,
    "period": pl.Int64,
    "nhs_number": pl.Int64,
    "arrival": pl.Datetime("ms"),
}


def person_token(nhs_number: int | str) -> str:
    """The synthetic data service's pseudonym of an NHS number (spaces ignored)."""
    digits = str(nhs_number).replace(" ", "").zfill(10)
    digest = hmac.new(DATA_SERVICE_SECRET, digits.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode("ascii").rstrip("=")


class PersonKeys:
    """NHS numbers (Int64 or text) -> pseudonyms, remembered across files; empty stays empty."""

    def __init__(self) -> None:
        self.known: dict[int, str] = {}

    def __call__(self, numbers: pl.Series) -> pl.Series:
        values = numbers.cast(pl.String).str.replace_all(" ", "").cast(pl.Int64)
        unique = values.drop_nulls().unique().to_list()
        tokens = []
        for number in unique:
            if number not in self.known:
                self.known[number] = person_token(number)
            tokens.append(self.known[number])
        pairs = pl.DataFrame(
            {"n": unique, "token": tokens}, schema={"n": pl.Int64, "token": pl.String}
        )
        joined = values.to_frame("n").join(pairs, on="n", how="left", maintain_order="left")
        return joined["token"]


def lsoa_2011_codes(layout: Layout, seed: int) -> dict[str, str]:
    """2021 code -> 2011 code of the LSOAs whose code changed in 2021 (LSOA_2011_SHARE). A
    2011 code is the 2021 code's number moved past every 2021 code, so no 2011 code is a 2021
    code."""
    n = len(layout.lsoa_codes)
    changed = unit(np.arange(n), seed, "lsoa 2011") < LSOA_2011_SHARE
    out = {}
    for i in np.flatnonzero(changed):
        number = int(layout.lsoa_codes[i][3:])
        out[layout.lsoa_codes[i]] = f"E01{(number - 100_000 + n) % 900_000 + 100_000:06d}"
    return out


class NationalWriter:
    """Writes one synthetic ICS's deliveries in the national layouts, pseudonymised.

    `deliver` takes deliveries.deliver's arguments (for deliveries.assemble);
    `write_registers` writes a chunk's practices' register deliveries; `learn_deaths` must see
    every delivered death before ae_attendances are written; `finish` writes ref_lsoa_2011
    and FILTERED_NAME."""

    def __init__(self, layout: Layout, window: Window, seed: int, landing: Path):
        self.layout, self.window, self.seed, self.landing = layout, window, seed, landing
        self.keys = PersonKeys()
        self.lsoa_2011 = lsoa_2011_codes(layout, seed)
        self.filtered: list[pl.DataFrame] = []
        self.deaths = pl.DataFrame(schema={"nhs_number": pl.Int64, "date_of_death": pl.Date})
        self.dead_on_arrival = pl.DataFrame(schema=DOA_SCHEMA)
        self._holidays: frozenset[str] | None = None

    @property
    def holidays(self) -> frozenset[str]:
        """England's bank holidays, from the calendar the csds_contacts layout uses."""
        if self._holidays is None:
            from diewell.expectations.layouts import load_layout

            lookup = load_layout("csds_contacts").lookups["england_bank_holidays"]
            self._holidays = frozenset(lookup.keys or ())
        return self._holidays

    def learn_deaths(self, deaths: pl.DataFrame) -> None:
        """Every delivered death (deaths records): no planned follow-up comes after one, and
        DEAD_ON_ARRIVAL_SHARE of deaths `elsewhere` in the window arrive at their trust's
        emergency department on the day."""
        self.deaths = deaths.select("nhs_number", "date_of_death").unique(
            "nhs_number", keep="first"
        )
        nhs = deaths["nhs_number"].to_numpy()
        dod = deaths["date_of_death"].cast(pl.Int32).to_numpy().astype(np.int64)
        inside = (dod >= self.window.start) & (dod <= self.window.end)
        chosen = np.flatnonzero(
            national_rows.dead_on_arrival(nhs, deaths["place_of_death"].to_numpy(), self.seed)
            & inside
        )
        lsoa_index = {code: i for i, code in enumerate(self.layout.lsoa_codes)}
        lsoa = [lsoa_index[c] for c in deaths["lsoa_code"].gather(chosen).to_list()]
        trust = self.layout.place_trust[self.layout.lsoa_place[np.array(lsoa, dtype=np.int64)]]
        codes = np.array([t.code for t in self.layout.trusts], dtype=object)
        seconds = (unit(nhs[chosen], self.seed, "arrival time") * SECONDS_PER_DAY).astype(np.int64)
        month = self.window.month_ends[np.searchsorted(self.window.month_ends, dod[chosen])]
        self.dead_on_arrival = pl.DataFrame(
            {
                "provider": pl.Series(codes[trust], dtype=pl.String),
                "period": pl.Series(month, dtype=pl.Int64),
                "nhs_number": pl.Series(nhs[chosen], dtype=pl.Int64),
                "arrival": pl.Series((dod[chosen] * SECONDS_PER_DAY + seconds) * 1000).cast(
                    pl.Datetime("ms")
                ),
            },
            schema=DOA_SCHEMA,
        )

    def deliver(
        self, records: pl.DataFrame, extract: str, provider: Provider, period_end: int,
        landing: Path, seed: int, defect_rate: float,
    ) -> None:  # fmt: skip
        """One provider's file of one period: in the extract's national layout, or else in
        the contract layout with pseudonyms (and its defects)."""
        if extract not in NATIONAL_LAYOUTS:
            deliver(records, extract, provider, period_end, landing, seed, defect_rate, self.keys)
            return
        records = sorted_records(records, extract)
        if extract == "deaths":
            rows = national_rows.deaths_rows(records, seed, self.lsoa_2011)
        elif extract == "apc_spells":
            rows = national_rows.apc_episode_rows(records, seed)
        elif extract == "ae_attendances":
            doa = self.dead_on_arrival.filter(
                (pl.col("provider") == provider.code) & (pl.col("period") == period_end)
            )
            rows = national_ecds_csds.ecds_rows(records, seed, period_end, self.deaths, doa)
        else:
            rows = national_ecds_csds.csds_rows(records, seed, self.holidays)
        self._write(rows, extract, provider, period_end)

    def write_registers(self, register: pl.DataFrame, extract: str, practices: range) -> None:
        """Each practice's quarterly gp_events delivery of one register (header-only if empty)."""
        if extract == "palliative_register":
            events = national_gp.palliative_events(register, self.window, self.seed)
        else:
            events = national_gp.dementia_events(register, self.seed)
        groups = events.partition_by("provider", "period", as_dict=True)
        by_key = {(code, to_days(period)): frame for (code, period), frame in groups.items()}
        empty = pl.DataFrame(schema=national_gp.EVENT_SCHEMA)
        for i in practices:
            practice = self.layout.practices[i]
            for period_end in self.window.quarter_ends:
                rows = by_key.get((practice.code, int(period_end)), empty)
                table = national_gp.gp_event_file(rows, practice.day_first_dates)
                self._write(table, extract, practice, int(period_end))

    def _write(self, rows: pl.DataFrame, extract: str, provider: Provider, period_end: int) -> None:
        path = file_path(self.landing, extract, provider, period_end)
        reasons = rows.with_row_index("source_row", offset=1).filter(pl.col(FILTERED).is_not_null())
        if reasons.height:
            self.filtered.append(
                reasons.select(
                    pl.lit(path.name).alias("file"),
                    pl.col("source_row").cast(pl.Int64),
                    pl.col(FILTERED).alias("reason"),
                )
            )
        person = PERSON_COLUMNS[extract]
        table = rows.select(SOURCE_COLUMNS[extract]).with_columns(
            pl.lit(self.keys(rows[person]), dtype=pl.String).alias(person)
        )
        write_file(table, path, provider)

    def finish(self, out_dir: Path) -> None:
        """The ICB's ref_lsoa_2011 (at the window end) and the list of rows to be filtered."""
        lookup = pl.DataFrame(
            {"lsoa11_code": list(self.lsoa_2011.values()), "lsoa21_code": list(self.lsoa_2011)},
            schema={"lsoa11_code": pl.String, "lsoa21_code": pl.String},
        ).sort("lsoa11_code")
        icb = self.layout.icb
        write_file(lookup, file_path(self.landing, "ref_lsoa_2011", icb, self.window.end), icb)
        filtered = pl.concat(
            [
                pl.DataFrame(
                    schema={"file": pl.String, "source_row": pl.Int64, "reason": pl.String}
                ),
                *self.filtered,
            ]
        )
        filtered.write_csv(out_dir / FILTERED_NAME, line_terminator="\n")


def read_deaths(parts: Parts, window: Window) -> pl.DataFrame:
    """Every delivered death's records, from the assembly's temporary parts."""
    return pl.concat([parts.read("deaths", int(p)) for p in window.month_ends])
