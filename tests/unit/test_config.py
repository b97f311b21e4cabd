"""The configuration is checked whole before anything runs (docs/CONFIGURATION.md).

An unknown key, a value of the wrong type, a provider code that is not an ODS code, or a
missing or too-short key stops the run at once with one ConfigError naming the file, the key
and what was expected; a run with another key than the warehouse was built with is refused
before it loads anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from diewell import pipeline, warehouse
from diewell.config import ConfigError, load_config
from diewell.synth.layout import config_text, make_layout, make_window
from tests.conftest import REPO, TEST_KEY, TinyIcs, nhs

SHORT_KEY = "0123456789abcdef"  # 16 bytes: half the contract's minimum
OTHER_KEY = "another-key-fedcba9876543210fedcba9876543210"
FINGERPRINT_LABEL = b"diewell pseudonymisation key fingerprint v1"

PROVIDERS = [
    {"code": "QTT", "name": "ICB", "extracts": ["deaths", "ref_lsoa"]},
    {"code": "RD1", "name": "Trust", "extracts": ["apc_spells"]},
]
MINIMUM = {
    "ics": {"code": "QTT", "name": "Tiny Test ICS"},
    "paths": {"landing": "landing", "warehouse": "warehouse/diewell.duckdb", "outputs": "outputs"},
    "providers": PROVIDERS,
}
DEATHS_COLUMNS = [
    "nhs_number",
    "date_of_birth",
    "date_of_death",
    "sex",
    "underlying_cause_icd10",
    "place_of_death",
    "lsoa_code",
]


def write_config(folder: Path, raw: dict | str) -> Path:
    path = folder / "diewell.yaml"
    text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def refused(folder: Path, raw: dict | str) -> str:
    """The one message load_config refuses the configuration with."""
    path = write_config(folder, raw)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert "\n" not in message, "one message, on one line"
    assert str(path) in message, "the message names the file"
    return message


def with_section(**sections) -> dict:
    return {**MINIMUM, **sections}


# --- item 9: typos and wrong types are refused, not ignored -----------------------------------


def test_a_misspelt_section_is_refused_naming_it_and_the_key_meant(tmp_path):
    """`disclosre: {suppress_up_to: 10}` loaded, and published with the default threshold 7."""
    message = refused(tmp_path, with_section(disclosre={"suppress_up_to": 10}))
    assert "'disclosre'" in message
    assert "did you mean 'disclosure'" in message


def test_a_misspelt_key_inside_a_section_is_refused_with_its_path(tmp_path):
    message = refused(tmp_path, with_section(disclosure={"supress_up_to": 10}))
    assert "disclosure.supress_up_to" in message
    assert "did you mean 'suppress_up_to'" in message


def test_a_word_for_a_number_is_one_config_error_naming_the_key(tmp_path):
    """`suppress_up_to: seven` ended in a ValueError traceback from int()."""
    text = yaml.safe_dump(MINIMUM, sort_keys=False) + "disclosure:\n  suppress_up_to: seven\n"
    message = refused(tmp_path, text)
    assert "disclosure.suppress_up_to" in message
    assert "whole number" in message and "'seven'" in message


@pytest.mark.parametrize(
    "sections, key, expected",
    [
        ({"disclosure": {"suppress_up_to": "7"}}, "disclosure.suppress_up_to", "whole number"),
        ({"disclosure": {"suppress_up_to": 7.5}}, "disclosure.suppress_up_to", "whole number"),
        ({"disclosure": {"suppress_up_to": -1}}, "disclosure.suppress_up_to", "at least 0"),
        ({"disclosure": {"round_to": 0}}, "disclosure.round_to", "at least 1"),
        ({"limits": {"max_file_bytes": 0}}, "limits.max_file_bytes", "at least 1"),
        ({"limits": {"max_file_bytes": "2GB"}}, "limits.max_file_bytes", "whole number"),
        ({"limits": {"warehouse_memory_mib": 100}}, "limits.warehouse_memory_mib", "at least 256"),
        (
            {"limits": {"warehouse_memory_mib": "4GB"}},
            "limits.warehouse_memory_mib",
            "whole number",
        ),
        ({"paths": {"landing": "landing", "outputs": "o"}}, "paths.warehouse", "missing"),
        ({"pseudonymisation": {"key_env": 32}}, "pseudonymisation.key_env", "text"),
        ({"mesh": {"url": "https://localhost:8700"}}, "mesh.mailbox", "missing"),
        ({"disclosure": [7, 5]}, "disclosure", "mapping"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(tmp_path, sections, key, expected):
    message = refused(tmp_path, with_section(**sections))
    assert f": {key}: " in message
    assert expected in message


@pytest.mark.parametrize("code", ["rd1", "RD", "R-D1", "RD10000", "RD 1"])
def test_a_provider_code_that_is_not_an_ods_code_is_refused(tmp_path, code):
    providers = [PROVIDERS[0], {**PROVIDERS[1], "code": code}]
    message = refused(tmp_path, with_section(providers=providers))
    assert "providers[1].code" in message
    assert "ODS code" in message


def test_a_provider_code_yaml_reads_as_a_number_is_refused(tmp_path):
    text = yaml.safe_dump(MINIMUM, sort_keys=False).replace("code: RD1", "code: 123456")
    message = refused(tmp_path, text)
    assert "providers[1].code" in message and "text" in message


def test_an_unknown_extract_is_refused_with_the_nearest_known_one(tmp_path):
    providers = [{**PROVIDERS[0], "extracts": ["deaths", "ref_lsao"]}, PROVIDERS[1]]
    message = refused(tmp_path, with_section(providers=providers))
    assert "providers[0].extracts[1]" in message
    assert "did you mean 'ref_lsoa'" in message


def test_a_provider_listed_twice_is_refused(tmp_path):
    message = refused(tmp_path, with_section(providers=[PROVIDERS[0], PROVIDERS[1], PROVIDERS[1]]))
    assert "providers[2].code" in message and "RD1" in message and "twice" in message


def test_a_key_given_twice_is_refused_not_silently_overwritten(tmp_path):
    text = (
        yaml.safe_dump(MINIMUM, sort_keys=False)
        + "disclosure:\n  suppress_up_to: 10\ndisclosure:\n  round_to: 10\n"
    )
    message = refused(tmp_path, text)
    assert "'disclosure'" in message and "twice" in message


def test_mesh_senders_must_name_listed_providers(tmp_path):
    mesh = {"url": "https://localhost:8700", "mailbox": "X26ABC1", "senders": {"RX9": "MBX1"}}
    message = refused(tmp_path, with_section(mesh=mesh))
    assert "mesh.senders.RX9" in message and "providers" in message


def test_every_problem_is_in_the_one_message(tmp_path):
    message = refused(
        tmp_path, with_section(disclosre={"suppress_up_to": 10}, limits={"max_file_bytes": -5})
    )
    assert "2 problems" in message
    assert "disclosre" in message and "limits.max_file_bytes" in message


def test_a_missing_file_and_a_file_that_is_not_a_mapping_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nothing.yaml")
    assert "mapping" in refused(tmp_path, "- just\n- a list\n")
    assert "YAML" in refused(tmp_path, "ics: {code: QTT\n")


# --- the settings as loaded -------------------------------------------------------------------


def test_optional_settings_default_as_config_md_says(tmp_path):
    config = load_config(write_config(tmp_path, MINIMUM))
    assert (config.suppress_up_to, config.round_to) == (7, 5)
    assert config.max_file_bytes == 2 * 1024**3 == 2147483648
    assert config.warehouse_memory_mib == 4096
    assert config.key_env == "DIEWELL_PSEUDO_KEY" and config.key_file is None
    assert config.mesh is None
    assert config.landing == (tmp_path / "landing").resolve()
    assert config.archive == (tmp_path / "archive").resolve()
    assert config.provider("RD1").extracts == ("apc_spells",)
    assert config.is_registered("QTT", "ref_lsoa") and not config.is_registered("RD1", "deaths")


def test_every_optional_key_of_config_md_is_read(tmp_path):
    raw = with_section(
        mesh={
            "url": "https://localhost:8700",
            "mailbox": "x26abc1",
            "password_env": "PW",
            "shared_key_env": "SK",
            "senders": {"QTT": "qtt0001", "RD1": ["RD10001", "RD10002"]},
        },
        disclosure={"suppress_up_to": 10, "round_to": 10},
        pseudonymisation={"key_env": "MY_KEY", "key_file": "secret/pseudo.key"},
        limits={"max_file_bytes": 1_000_000, "warehouse_memory_mib": 1024},
    )
    config = load_config(write_config(tmp_path, raw))
    assert (config.suppress_up_to, config.round_to, config.max_file_bytes) == (10, 10, 1_000_000)
    assert config.warehouse_memory_mib == 1024
    assert config.key_env == "MY_KEY"
    assert config.key_file == (tmp_path / "secret" / "pseudo.key").resolve()
    assert config.mesh.mailbox == "X26ABC1"
    assert (config.mesh.password_env, config.mesh.shared_key_env) == ("PW", "SK")
    assert config.mesh.senders == {"QTT": ("QTT0001",), "RD1": ("RD10001", "RD10002")}


def test_the_configs_diewell_writes_and_tests_use_still_load(tmp_path):
    tiny = load_config(TinyIcs(tmp_path / "tiny", PROVIDERS).config_path)
    assert tiny.ics_code == "QTT"
    corpus = load_config(REPO / "tests" / "corpus" / "diewell.yaml")
    assert corpus.provider("A81001").name == "Abbey Surgery"
    layout = make_layout(20261123, 1_000_000, make_window(dt.date(2026, 9, 30), 3))
    synth = write_config(tmp_path, config_text(layout, "demo"))
    assert load_config(synth).key_file == (tmp_path / "pseudo.key").resolve()
    nameless = with_section(providers=[{"code": "QTT", "extracts": ["deaths"]}])
    assert load_config(write_config(tmp_path, nameless)).provider("QTT").name == "QTT"


def test_the_example_in_the_configuration_guide_loads_with_the_defaults_it_states(tmp_path):
    guide = (REPO / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    example = guide.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = load_config(write_config(tmp_path, example))
    assert (config.suppress_up_to, config.round_to) == (7, 5)
    assert config.max_file_bytes == 2147483648
    assert config.warehouse_memory_mib == 4096
    assert config.provider("RD1").name == "Royal United Hospitals Bath"


# --- the pseudonymisation key -------------------------------------------------------------------


def deliver_reference_and_deaths(ics: TinyIcs) -> dict[str, bytes]:
    """A reference file (loaded first) and a deaths file (pseudonymised); their bytes by name."""
    ics.deliver(
        "ref_lsoa_QTT_20241231.csv",
        [{"lsoa_code": "E01000001", "imd_decile": "1", "place_code": "P1", "place_name": "One"}],
    )
    death = {
        "nhs_number": nhs(0),
        "date_of_birth": "1940-03-02",
        "date_of_death": "2024-12-01",
        "sex": "1",
        "underlying_cause_icd10": "C34.9",
        "place_of_death": "home",
        "lsoa_code": "E01000001",
    }
    ics.deliver("deaths_QTT_20241231.csv", [death], DEATHS_COLUMNS)
    return landing_bytes(ics)


def landing_bytes(ics: TinyIcs) -> dict[str, bytes]:
    landing = ics.root / "landing"
    return {
        p.relative_to(landing).as_posix(): p.read_bytes() for p in landing.rglob("*") if p.is_file()
    }


def test_a_16_byte_key_stops_the_run_before_anything_loads(tmp_path):
    """It passed the start check, loaded the reference data, then failed with a traceback."""
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    delivered = deliver_reference_and_deaths(ics)
    env = {**os.environ, "DIEWELL_PSEUDO_KEY": SHORT_KEY, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "diewell.cli", "run", "--config", str(ics.config_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "pseudonymisation.key_env" in lines[0] and "DIEWELL_PSEUDO_KEY" in lines[0]
    assert "at least 32 bytes" in lines[0] and str(ics.config_path) in lines[0]
    assert SHORT_KEY not in done.stderr
    assert not (ics.root / "warehouse").exists()  # nothing was loaded, not even reference data
    assert landing_bytes(ics) == delivered


def test_a_short_key_is_refused_from_the_key_file_too(tmp_path, monkeypatch):
    monkeypatch.delenv("DIEWELL_PSEUDO_KEY", raising=False)
    key_file = tmp_path / "pseudo.key"
    key_file.write_text(SHORT_KEY + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    config = load_config(
        write_config(tmp_path, with_section(pseudonymisation={"key_file": "pseudo.key"}))
    )
    with pytest.raises(ConfigError) as exc:
        config.pseudonymisation_key()
    assert "pseudonymisation.key_file" in str(exc.value) and "at least 32 bytes" in str(exc.value)
    assert SHORT_KEY not in str(exc.value)


def test_commands_that_need_no_key_load_the_config_without_one(tmp_path, monkeypatch):
    monkeypatch.delenv("DIEWELL_PSEUDO_KEY", raising=False)
    config = load_config(write_config(tmp_path, MINIMUM))
    with pytest.raises(ConfigError, match="no pseudonymisation key"):
        config.pseudonymisation_key()


def run_once(config_path: Path, run_id: str) -> None:
    """Open the warehouse, start a recorded run and ingest the landing folder, as a refresh does."""
    config = load_config(config_path)
    con = pipeline.open_warehouse(config)
    try:
        pipeline.start_run(con, config, run_id)
        pipeline.ingest(con, config, run_id)
        pipeline.finish_run(con, pipeline.RunSummary(run_id), "completed")
    finally:
        pipeline.close_warehouse(con)


def warehouse_state(config_path: Path) -> tuple:
    """The runs, the files and the key fingerprint the working warehouse records."""
    working = warehouse.working_path(load_config(config_path).warehouse)
    con = duckdb.connect(str(working), read_only=True)
    try:
        return (
            con.execute("SELECT run_id FROM meta_runs ORDER BY 1").fetchall(),
            con.execute("SELECT file_name, status FROM landing_files ORDER BY 1").fetchall(),
            con.execute("SELECT count(*) FROM stg_ref_lsoa").fetchall(),
        )
    finally:
        con.close()


def test_a_run_with_another_key_is_refused_before_it_loads_anything(tmp_path, monkeypatch):
    """A changed key would silently unlink every person from their earlier records."""
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    deliver_reference_and_deaths(ics)
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    run_once(ics.config_path, "run-1")
    first = warehouse_state(ics.config_path)
    assert first[0] == [("run-1",)] and len(first[1]) == 2 and first[2] == [(1,)]

    ics.deliver(
        "ref_lsoa_QTT_20250131.csv",
        [{"lsoa_code": "E01000002", "imd_decile": "2", "place_code": "P1", "place_name": "One"}],
    )
    waiting = landing_bytes(ics)
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", OTHER_KEY)
    with pytest.raises(ConfigError) as exc:
        run_once(ics.config_path, "run-2")
    message = str(exc.value)
    assert str(ics.config_path) in message and "pseudonymisation key" in message
    assert "not the key this warehouse was built with" in message
    assert OTHER_KEY not in message and TEST_KEY not in message
    assert warehouse_state(ics.config_path) == first  # nothing recorded, nothing loaded
    assert landing_bytes(ics) == waiting

    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)  # the right key again: the run goes on
    run_once(ics.config_path, "run-3")
    runs, files, reference_rows = warehouse_state(ics.config_path)
    assert runs == [("run-1",), ("run-3",)] and len(files) == 3


def _set_person_key(ics: TinyIcs, person_key: str, domain: str | None) -> None:
    raw = yaml.safe_load(ics.config_path.read_text(encoding="utf-8"))
    raw["pseudonymisation"] = {"person_key": person_key} | ({"domain": domain} if domain else {})
    ics.config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    "first, then, says",
    [
        (("pseudonymised", "bsw-dscro"), ("pseudonymised", "other-dscro"), "other-dscro"),
        (("nhs_number", None), ("pseudonymised", "bsw-dscro"), "pseudonymised"),
        (("pseudonymised", "bsw-dscro"), ("nhs_number", None), "nhs_number"),
    ],
)
def test_a_run_with_another_person_key_or_domain_is_refused_as_a_changed_key_is(
    tmp_path, monkeypatch, first, then, says
):
    """sources.md v3: people keyed by one data service's pseudonyms would silently fail to
    link to another's, or to NHS numbers."""
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    ics.deliver(
        "ref_lsoa_QTT_20241231.csv",
        [{"lsoa_code": "E01000001", "imd_decile": "1", "place_code": "P1", "place_name": "One"}],
    )
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    _set_person_key(ics, *first)
    run_once(ics.config_path, "run-1")
    before = warehouse_state(ics.config_path)
    ics.deliver(
        "ref_lsoa_QTT_20250131.csv",
        [{"lsoa_code": "E01000002", "imd_decile": "2", "place_code": "P1", "place_name": "One"}],
    )
    _set_person_key(ics, *then)
    with pytest.raises(ConfigError) as exc:
        run_once(ics.config_path, "run-2")
    message = str(exc.value)
    assert "person keys" in message and says in message and str(first[1] or first[0]) in message
    assert warehouse_state(ics.config_path) == before  # nothing recorded, nothing loaded

    _set_person_key(ics, *first)  # the warehouse's own keys again: the run goes on
    run_once(ics.config_path, "run-3")
    assert warehouse_state(ics.config_path)[0] == [("run-1",), ("run-3",)]
    working = warehouse.working_path(load_config(ics.config_path).warehouse)
    con = duckdb.connect(str(working), read_only=True)
    recorded = con.execute("SELECT person_key, domain FROM meta_key_fingerprint").fetchall()
    con.close()
    assert recorded == [first]


def test_the_warehouse_records_a_fingerprint_of_the_key_never_the_key(tmp_path, monkeypatch):
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    run_once(ics.config_path, "run-1")
    run_once(ics.config_path, "run-2")
    working = warehouse.working_path(load_config(ics.config_path).warehouse)
    con = duckdb.connect(str(working), read_only=True)
    recorded = con.execute("SELECT fingerprint, run_id FROM meta_key_fingerprint").fetchall()
    con.close()
    expected = hmac.new(TEST_KEY.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]
    assert recorded == [(expected, "run-1")]  # one row, from the run that first wrote the key
    assert TEST_KEY.encode() not in working.read_bytes()
    assert expected != hashlib.sha256(TEST_KEY.encode()).hexdigest()[:16]


# --- paths must not overlap (config.md v3; issue 36 item 9) ------------------------------------


@pytest.mark.parametrize(
    "paths, named",
    [
        ({"outputs": "landing/outputs"}, ["paths.outputs", "lies inside paths.landing"]),
        (
            {"warehouse": "landing/w/diewell.duckdb"},
            ["paths.warehouse", "lies inside paths.landing"],
        ),
        ({"archive": "landing/archive"}, ["paths.archive", "lies inside paths.landing"]),
        ({"rejected": "landing"}, ["paths.rejected", "lies inside paths.landing"]),
        ({"landing": "outputs/drop"}, ["paths.landing", "lies inside paths.outputs"]),
        ({"landing": "archive/in"}, ["paths.landing", "lies inside paths.archive"]),
    ],
)
def test_paths_that_overlap_the_landing_folder_are_refused_naming_both(tmp_path, paths, named):
    """outputs inside landing: the next run took the release, its `current` link and the
    quality pages as deliveries, rejected them and pointed `current` at the emptied release."""
    message = refused(tmp_path, with_section(paths={**MINIMUM["paths"], **paths}))
    for words in named:
        assert words in message


def test_a_warehouse_file_beside_the_landing_folder_is_not_an_overlap(tmp_path):
    config = load_config(
        write_config(tmp_path, with_section(paths={**MINIMUM["paths"], "warehouse": "w.duckdb"}))
    )
    assert config.warehouse.parent == config.landing.parent


# --- v3: layouts, person keys, benchmarks (config.md v3) ---------------------------------------


def test_the_v3_keys_are_read(tmp_path):
    raw = with_section(
        providers=[{"code": "QTT", "extracts": ["deaths"], "layouts": {"deaths": "ncdr_deaths"}}],
        pseudonymisation={"person_key": "pseudonymised", "domain": "bsw-dscro"},
        layouts_folder="layouts",
        benchmarks="benchmarks.csv",
    )
    config = load_config(write_config(tmp_path, raw))
    assert (config.person_key, config.pseudonym_domain) == ("pseudonymised", "bsw-dscro")
    assert config.layout_of("QTT", "deaths") == "ncdr_deaths"
    assert config.layout_of("QTT", "ref_lsoa") is None
    assert config.layouts_folder == tmp_path / "layouts"
    assert config.benchmarks == tmp_path / "benchmarks.csv"
    default = load_config(write_config(tmp_path, MINIMUM))
    assert (default.person_key, default.pseudonym_domain, default.benchmarks) == (
        "nhs_number",
        None,
        None,
    )


@pytest.mark.parametrize(
    "pseudonymisation, words",
    [
        ({"person_key": "pseudonymised"}, "person_key pseudonymised needs a domain"),
        ({"domain": "bsw-dscro"}, "a domain is given only with person_key: pseudonymised"),
        ({"person_key": "tokens"}, "must be nhs_number or pseudonymised, not 'tokens'"),
    ],
)
def test_a_person_key_without_its_domain_or_of_another_kind_is_refused(
    tmp_path, pseudonymisation, words
):
    assert words in refused(tmp_path, with_section(pseudonymisation=pseudonymisation))


def test_a_layout_for_an_extract_the_provider_does_not_send_is_refused(tmp_path):
    raw = with_section(
        providers=[{"code": "QTT", "extracts": ["deaths"], "layouts": {"apc_spells": "x"}}]
    )
    assert "layouts names apc_spells, which this provider is not registered to send" in refused(
        tmp_path, raw
    )


@pytest.mark.parametrize(
    "layout, file_text, words",
    [
        ("no_such_layout", None, "no_such_layout"),
        ("ncdr_apc_episodes", None, "forms no deaths rows"),
        ("broken", "layout: broken\nsource: {required: [A]}\n", "broken.yaml"),
    ],
)
def test_a_layout_that_cannot_be_loaded_for_its_extract_is_refused_before_anything_runs(
    tmp_path, layout, file_text, words
):
    """A provider's layout is checked with the file, not when its first delivery arrives."""
    (tmp_path / "layouts").mkdir()
    if file_text:
        (tmp_path / "layouts" / f"{layout}.yaml").write_text(file_text, encoding="utf-8")
    raw = with_section(
        providers=[{"code": "QTT", "extracts": ["deaths"], "layouts": {"deaths": layout}}],
        layouts_folder="layouts",
    )
    message = refused(tmp_path, raw)
    assert "providers" in message and f"layouts.deaths: {layout}" in message and words in message
