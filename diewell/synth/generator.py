"""The synthetic ICS generator: `synthesize` writes a whole ICS's provider extracts and config.

Steps, in order:
1. the layout: window, places, LSOAs, PCNs, practices and providers (one seed, tiny);
2. per chunk of practices (seeded by (seed, chunk index), so no result depends on the order
   chunks run in): people, deaths, activity, register; records go to temporary Parquet parts,
   the chunk's practices' register files are written straight away;
3. assembly: one file per provider per period for every activity extract and deaths;
4. the ICB's quarterly registered population and the reference tables;
5. the config file and, if there is none yet, the pseudonymisation key file.

`layouts="national"` writes the same people as an ICB's data team receives them (national.py):
the national-source extracts in their built-in layouts, every person key a pseudonym, the
ICB's ref_lsoa_2011, and national.FILTERED_NAME beside the config; the contract mode's output
is unchanged by it.

Output is byte-identical for the same arguments (the key file excepted: it is random and
written once). Nothing here logs row-level data.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from diewell.synth import activity, alliances, end_of_life, national, palliative_care, records
from diewell.synth import parameters as P
from diewell.synth.deliveries import (
    Parts,
    assemble,
    deliver,
    empty_records,
    file_path,
    formatted,
    write_file,
)
from diewell.synth.events import concat
from diewell.synth.layout import (
    Layout,
    Window,
    config_text,
    make_layout,
    make_window,
    to_date,
    to_days,
)
from diewell.synth.people import make_deaths, make_people

CHUNK_STREAM = 4
CONFIG_NAME = "diewell.yaml"
KEY_NAME = "pseudo.key"
PARTS_FOLDER = ".synth-parts"
ASSEMBLED = (
    "deaths",
    "apc_spells",
    "ae_attendances",
    "hospice_referrals",
    "hospice_contacts",
    "community_contacts",
    "spoc_calls",
    "outcome_assessments",
    "bereavement_contacts",
)
REGISTERS = ("palliative_register", "dementia_register")  # quarterly, per practice
GENERATED_FILE = re.compile(r"^[a-z_]+_[A-Z0-9]{3,6}_[0-9]{8}\.(csv|parquet)$")


def synthesize(
    out_dir: Path,
    *,
    seed: int = 20261123,
    population: int = 1_000_000,
    years: int = 3,
    end_date: dt.date = dt.date(2026, 9, 30),
    defect_rate: float = 0.0005,
    progress: Callable[[str, int, int], None] | None = None,
    layouts: Literal["contract", "national"] = "contract",
) -> Path:
    """Write a synthetic ICS into out_dir; return the path of its config file (out_dir/'diewell.yaml').

    `end_date` is the last period end (a month end; any other date means the month end before
    it). `defect_rate` is the share of activity and deaths rows carrying one defect each.
    Parquet deliveries hold every column as a string. `layouts="national"`: the extracts that
    national datasets carry in their built-in layouts, pseudonymised (national.py).
    """
    if not 0 <= defect_rate <= P.MAX_DEFECT_SHARE_PER_FILE:
        raise ValueError(f"defect_rate must be between 0 and {P.MAX_DEFECT_SHARE_PER_FILE}")
    if layouts not in ("contract", "national"):
        raise ValueError("layouts must be 'contract' or 'national'")
    report = progress or (lambda step, done, total: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    window = make_window(end_date, years)
    layout = make_layout(seed, population, window)
    landing = out_dir / "landing"
    _remove_earlier_deliveries(landing)
    (out_dir / national.FILTERED_NAME).unlink(missing_ok=True)
    writer = (
        national.NationalWriter(layout, window, seed, landing) if layouts == "national" else None
    )
    parts = Parts(out_dir / PARTS_FOLDER)
    shutil.rmtree(parts.folder, ignore_errors=True)
    registered = np.zeros(
        (len(layout.practices), 2, len(P.AGE_BANDS), len(window.quarter_ends)), dtype=np.int64
    )
    try:
        for chunk, (first, stop) in enumerate(layout.chunks):
            frames, registers, counts = generate_chunk(
                layout, window, seed, chunk, range(first, stop)
            )
            for extract, frame in frames.items():
                parts.add(chunk, extract, frame)
            for extract, register in registers.items():
                if writer:
                    writer.write_registers(register, extract, range(first, stop))
                    continue
                write_registers(
                    register, extract, layout, range(first, stop), window, landing, seed
                )
            registered[first:stop] = counts
            report("generate", chunk + 1, len(layout.chunks))
        if writer:
            writer.learn_deaths(national.read_deaths(parts, window))
        for extract in ASSEMBLED:
            periods = window.quarter_ends if extract == "outcome_assessments" else window.month_ends
            assemble(
                parts,
                extract,
                periods,
                layout.providers_for(extract),
                landing,
                seed,
                defect_rate,
                report,
                writer.deliver if writer else None,
            )
    finally:
        shutil.rmtree(parts.folder, ignore_errors=True)
    write_registered_population(registered, layout, window, landing)
    report("write gp_population", 1, 1)
    write_references(layout, window, landing)
    write_education(layout, window, landing, seed, defect_rate)
    if writer:
        writer.finish(out_dir)
    report("write reference", 1, 1)
    config = out_dir / CONFIG_NAME
    header = (
        f"Synthetic ICS written by `diewell synth` (seed {seed}, population {population:,}, "
        f"{years} years to {to_date(window.end).isoformat()}): fictional organisations, NHS numbers "
        "in the 9xx range no patient holds."
    )
    if writer:
        header += (
            " National extracts in their built-in layouts; every person key the synthetic data "
            "service's pseudonym of such a number."
        )
    config.write_text(config_text(layout, header, national=bool(writer)), encoding="utf-8")
    write_key_once(out_dir / KEY_NAME)
    return config


def generate_chunk(
    layout: Layout, window: Window, seed: int, chunk: int, practices: range
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame], np.ndarray]:
    """One chunk's extract records (by extract), register rows (by register) and
    registered-patient counts."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, CHUNK_STREAM, chunk]))
    v2_rng = np.random.default_rng(
        np.random.SeedSequence([seed, alliances.ALLIANCES_STREAM, chunk])
    )
    transition_rng = np.random.default_rng(
        np.random.SeedSequence([seed, alliances.TRANSITION_STREAM, chunk])
    )
    people = make_people(layout, window, practices, rng)
    deaths = make_deaths(people, rng)
    svc = activity.services(layout, people)
    ids = activity.Ids()
    usual = activity.background(people, window, svc, rng)
    dying = end_of_life.end_of_life(people, deaths, window, svc, rng, ids)
    living = palliative_care.living_palliative_care(people, window, svc, rng, ids)
    apc = activity.tidy_spells(concat([usual["apc"], dying["apc"]]), len(people))
    episodes = concat([dying["episodes"], living["episodes"]])
    hospice_codes = records.hospice_codes(layout)
    referrals = concat([
        dying["referrals"],
        living["referrals"],
        alliances.transition_referrals(people, window, svc, transition_rng, ids),
    ])  # fmt: skip
    referrals = concat([
        referrals, alliances.adult_referrals(referrals, people, window, svc, transition_rng, ids)
    ])  # fmt: skip
    referrals = alliances.add_transition_plans(referrals, people, transition_rng)
    dementia = alliances.dementia_register(people, deaths, window, v2_rng)
    bereavement = alliances.bereavement_contacts(
        people, concat([dying["contacts"], living["contacts"]]), v2_rng
    )
    frames = {
        "deaths": records.deaths_frame(layout, window, people, deaths, rng),
        "apc_spells": records.apc_frame(layout, window, people, apc, chunk, rng),
        "ae_attendances": records.ae_frame(
            layout, window, people, concat([usual["ae"], dying["ae"]]), chunk
        ),
        "hospice_referrals": records.referrals_frame(
            window,
            people,
            referrals,
            hospice_codes,
            chunk,
        ),
        "hospice_contacts": records.contacts_frame(
            window, people, concat([dying["contacts"], living["contacts"]]), hospice_codes, chunk
        ),
        "community_contacts": records.community_frame(
            window,
            people,
            concat([usual["community"], dying["community"], living["community"]]),
            records.community_codes(layout),
            chunk,
        ),  # fmt: skip
        "spoc_calls": records.calls_frame(
            layout, window, people, concat([usual["calls"], dying["calls"]]), chunk
        ),
        "outcome_assessments": records.assessments_frame(
            window, people, palliative_care.assessments(episodes, rng), chunk
        ),
        "bereavement_contacts": records.bereavement_frame(
            window, people, bereavement, hospice_codes, chunk
        ),
    }
    register = records.register_frame(
        layout, window, people, concat([dying["register"], living["register"]]), rng
    )
    registers = {
        "palliative_register": register,
        "dementia_register": records.dementia_register_frame(layout, window, people, dementia),
    }
    counts = records.registered_counts(people, window, len(practices), practices.start)
    return frames, registers, counts


def write_registers(
    register: pl.DataFrame,
    extract: str,
    layout: Layout,
    practices: range,
    window: Window,
    landing: Path,
    seed: int,
) -> None:
    """Each practice's quarterly cumulative register file of one register (header-only if empty)."""
    groups = register.partition_by("provider", "period", as_dict=True)
    by_key = {(code, to_days(period)): frame for (code, period), frame in groups.items()}
    for i in practices:
        practice = layout.practices[i]
        for period_end in window.quarter_ends:
            rows = by_key.get((practice.code, int(period_end)), empty_records(extract))
            deliver(rows, extract, practice, int(period_end), landing, seed, 0.0)


def write_registered_population(
    counts: np.ndarray, layout: Layout, window: Window, landing: Path
) -> None:
    """The ICB's quarterly gp_population snapshots: every practice, sex and age band."""
    n_practices, n_sexes, n_bands, _ = counts.shape
    practice = np.repeat(np.arange(n_practices), n_sexes * n_bands)
    sex = np.tile(np.repeat(np.arange(1, n_sexes + 1), n_bands), n_practices)
    band = np.tile(np.arange(n_bands), n_practices * n_sexes)
    codes = np.array([p.code for p in layout.practices])
    for q, period_end in enumerate(window.quarter_ends):
        table = pl.DataFrame({
            "gp_practice_code": codes[practice],
            "sex": sex.astype(str),
            "age_band": np.array(P.AGE_BANDS)[band],
            "patients": counts[..., q].reshape(-1),
        })  # fmt: skip
        write_file(
            formatted(table, "gp_population", layout.icb),
            file_path(landing, "gp_population", layout.icb, int(period_end)),
            layout.icb,
        )


def write_references(layout: Layout, window: Window, landing: Path) -> None:
    """ref_lsoa and ref_practice, delivered once at the window end."""
    lsoa = pl.DataFrame({
        "lsoa_code": layout.lsoa_codes,
        "imd_decile": layout.lsoa_decile.astype(np.int64),
        "place_code": np.array(layout.place_codes)[layout.lsoa_place],
        "place_name": np.array(layout.place_names)[layout.lsoa_place],
    })  # fmt: skip
    practice = pl.DataFrame({
        "gp_practice_code": [p.code for p in layout.practices],
        "practice_name": [p.name for p in layout.practices],
        "pcn_code": np.array(layout.pcn_codes)[layout.practice_pcn],
        "pcn_name": np.array(layout.pcn_names)[layout.practice_pcn],
        "place_code": np.array(layout.place_codes)[layout.practice_place],
        "place_name": np.array(layout.place_names)[layout.practice_place],
    })  # fmt: skip
    for extract, table in (("ref_lsoa", lsoa), ("ref_practice", practice)):
        write_file(
            formatted(table, extract, layout.icb),
            file_path(landing, extract, layout.icb, window.end),
            layout.icb,
        )


def write_education(
    layout: Layout, window: Window, landing: Path, seed: int, defect_rate: float
) -> None:
    """ref_care_homes (the ICB's CQC list, once at the window end) and each hospice's monthly
    education_sessions file, drawn once per ICS (they hold no people)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, alliances.EDUCATION_STREAM]))
    homes = alliances.care_homes(layout, rng)
    write_file(
        formatted(homes, "ref_care_homes", layout.icb),
        file_path(landing, "ref_care_homes", layout.icb, window.end),
        layout.icb,
    )
    sessions = alliances.education_sessions(layout, window, homes, rng)
    groups = sessions.partition_by("provider", "period", as_dict=True)
    by_key = {(code, to_days(period)): frame for (code, period), frame in groups.items()}
    for provider in layout.providers_for("education_sessions"):
        for period_end in window.month_ends:
            rows = by_key.get((provider.code, int(period_end)), empty_records("education_sessions"))
            deliver(
                rows, "education_sessions", provider, int(period_end), landing, seed, defect_rate
            )


def write_key_once(path: Path) -> None:
    """64 random hex characters, readable by the owner only; an existing key is kept."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")


def _remove_earlier_deliveries(landing: Path) -> None:
    """Delete extract files a previous run left in landing/<extract>/ (only generated names)."""
    if not landing.exists():
        return
    for folder in landing.iterdir():
        if folder.is_dir() and folder.name in records.ID_PREFIX.keys() | {
            "deaths", *REGISTERS, "gp_population", "ref_lsoa", "ref_practice", "ref_care_homes",
            "education_sessions", "ref_lsoa_2011",
        }:  # fmt: skip
            for path in folder.iterdir():
                if path.is_file() and GENERATED_FILE.match(path.name):
                    path.unlink()
