"""diewell.sources.mesh against a real MESH server: NHS England's mesh-sandbox, driven by mesh-client.

The sandbox pins fastapi exactly (mesh-sandbox 1.0.137: fastapi==0.150.0), which would drag
the project's own fastapi (kept for Prefect) along with it, so it is installed, pinned, into
a virtual environment of its own under .pytest_cache (made once, reused while the pins are
unchanged) and run from there with uvicorn on a free loopback port. Providers send with
mesh-client from their own mailboxes to the ICB's; `pull_from_mesh` then takes them.

Each test uses a fresh ICB mailbox, so the tests do not depend on one another.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import urllib.request
from pathlib import Path

import pytest
import yaml
from mesh_client import MeshClient

from diewell.config import load_config
from diewell.expectations.files import is_plain_name, sha256_of
from diewell.sources.mesh import pull_from_mesh
from diewell.sources.mesh_client import MeshConfigError, mesh_client_for
from diewell.sources.mesh_files import MeshPullError
from tests.conftest import nhs
from tests.venvs import cached_venv_python

# mesh-sandbox and everything it needs, pinned (a `pip freeze` of a venv made from
# mesh-sandbox==1.0.137 on Python 3.11). Changing a pin makes a new venv.
SANDBOX_REQUIREMENTS = (
    "mesh-sandbox==1.0.137",
    "Mesh-Client==5.0.2",
    "fastapi==0.150.0",
    "starlette==1.10.0",
    "uvicorn==0.54.0",
    "gunicorn==26.2.0",
    "pydantic==2.14.3",
    "pydantic_core==2.50.4",
    "annotated-doc==0.0.7",
    "annotated-types==0.8.0",
    "anyio==4.16.0",
    "certifi==2026.10.18",
    "cffi==2.1.1",
    "charset-normalizer==3.5.2",
    "click==8.5.1",
    "cryptography==50.0.2",
    "h11==0.16.0",
    "idna==3.20",
    "MarkupSafe==3.0.4",
    "opentelemetry-api==1.45.2",
    "pycparser==3.12",
    "python-dateutil==2.9.0.post0",
    "requests==2.34.2",
    "six==1.17.0",
    "types-python-dateutil==2.9.0.20261116",
    "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "Werkzeug==3.1.9",
)

SHARED_KEY = "diewell-test-shared-key"
PASSWORD = "password"  # the sandbox gives every mailbox found on disk this password
PASSWORD_ENV = "DIEWELL_TEST_MESH_PASSWORD"
SHARED_KEY_ENV = "DIEWELL_TEST_MESH_SHARED_KEY"
WORKFLOW_ID = "DIEWELL_EXTRACT"

# Provider mailboxes (ODS code + OT + number, as MESH names them).
QOX_MAILBOX = "QOXOT001"  # the ICB's own data service
RD1_MAILBOX = "RD1OT001"  # Royal United Hospitals Bath
RD1_OTHER_MAILBOX = "RD1OT009"  # a mailbox of the trust not configured to send extracts
J83_MAILBOX = "J83OT001"  # a GP practice
ICB_MAILBOXES = [f"QOXT{i:04d}" for i in range(1, 13)]  # one fresh inbox per test
ALL_MAILBOXES = [QOX_MAILBOX, RD1_MAILBOX, RD1_OTHER_MAILBOX, J83_MAILBOX, *ICB_MAILBOXES]

PROVIDERS = [
    {
        "code": "QOX",
        "name": "BSW ICB data service",
        "extracts": ["deaths", "gp_population", "ref_lsoa", "ref_practice"],
    },
    {
        "code": "RD1",
        "name": "Royal United Hospitals Bath",
        "extracts": ["apc_spells", "ae_attendances"],
    },
    {"code": "J83001", "name": "Example surgery", "extracts": ["palliative_register"]},
    # a hospice that sends by secure upload, not MESH: no mailbox may deliver as it
    {"code": "HX1", "name": "Example hospice", "extracts": ["hospice_referrals"]},
]
SENDERS = {"QOX": QOX_MAILBOX, "RD1": [RD1_MAILBOX], "J83001": J83_MAILBOX}


# --- the sandbox --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox_python(request) -> Path:
    """The python of a venv holding the pinned mesh-sandbox (made once, then reused)."""
    return cached_venv_python(request, "mesh-sandbox", list(SANDBOX_REQUIREMENTS))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def sandbox(sandbox_python, tmp_path_factory):
    """A running mesh-sandbox (file store, full authentication) on a free loopback port."""
    store = tmp_path_factory.mktemp("mesh-store")
    for mailbox in ALL_MAILBOXES:  # the sandbox finds mailboxes as upper-case folders
        (store / mailbox / "in").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        STORE_MODE="file",
        AUTH_MODE="full",
        SHARED_KEY=SHARED_KEY,
        MAILBOXES_DATA_DIR=str(store),
        PYTHONWARNINGS="ignore",
    )
    log_path = store / "sandbox.log"
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [str(sandbox_python), "-m", "uvicorn", "mesh_sandbox.api:app"]
                + ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=env,
                cwd=store,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not _healthy(url):
            time.sleep(0.2)
        if process.poll() is None and _healthy(url):
            break
        process.kill()
        process.wait()
    else:
        pytest.fail("mesh-sandbox did not start:\n" + log_path.read_text()[-3000:], pytrace=False)
    try:
        yield {"url": url, "store": store}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_icb_mailboxes = itertools.count()


@pytest.fixture
def icb_mailbox(sandbox) -> str:
    return ICB_MAILBOXES[next(_icb_mailboxes)]


def client(sandbox, mailbox: str, **kwargs) -> MeshClient:
    return MeshClient(sandbox["url"], mailbox, PASSWORD, shared_key=SHARED_KEY.encode(), **kwargs)


def send(sandbox, sender: str, recipient: str, data, **headers) -> str:
    headers.setdefault("workflow_id", WORKFLOW_ID)  # MESH requires one on every message
    with client(sandbox, sender) as c:
        return c.send_message(recipient, data, **headers)


def inbox(sandbox, mailbox: str) -> list[str]:
    with client(sandbox, mailbox) as c:
        return c.list_messages()


@pytest.fixture
def ics(tmp_path, sandbox, icb_mailbox, monkeypatch):
    """An ICS config whose mesh section points at the sandbox, secrets in the environment."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(SHARED_KEY_ENV, SHARED_KEY)
    raw = {
        "ics": {"code": "QOX", "name": "Test ICB"},
        "paths": {
            "landing": "landing",
            "warehouse": "warehouse/diewell.duckdb",
            "outputs": "outputs",
        },
        "providers": PROVIDERS,
        "mesh": {
            "url": sandbox["url"],
            "mailbox": icb_mailbox,
            "password_env": PASSWORD_ENV,
            "shared_key_env": SHARED_KEY_ENV,
            "senders": SENDERS,
        },
    }
    path = tmp_path / "ics" / "diewell.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return load_config(path)


def csv_bytes(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def visible_files(folder: Path) -> list[str]:
    return (
        sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        if folder.exists()
        else []
    )


def part_files(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.glob("*.part")]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- tests --------------------------------------------------------------------------------


def test_several_providers_land_under_contract_names_and_are_acknowledged(
    sandbox, ics, icb_mailbox, caplog
):
    icb = icb_mailbox
    marker = nhs(3)  # a (test-range) NHS number inside the content: must never reach the logs
    sent = {
        "deaths_QOX_20250331.csv": (
            QOX_MAILBOX,
            csv_bytes("nhs_number,date_of_death", [f"{marker},2025-03-02", f"{nhs(4)},2025-03-09"]),
            {"filename": "deaths_QOX_20250331.csv"},
        ),
        "ref_lsoa_QOX_20250331.csv": (
            QOX_MAILBOX,
            csv_bytes("lsoa_code,imd_decile,place_code,place_name", ["E01014370,3,BAN,Bath"]),
            {"filename": "ref_lsoa_QOX_20250331.csv"},
        ),
        "apc_spells_RD1_20250331.csv": (
            RD1_MAILBOX,
            csv_bytes("spell_id,nhs_number", [f"S1,{marker}"]),
            {"filename": "apc_spells_RD1_20250331.csv", "local_id": "apc-2025-03"},
        ),
        "ae_attendances_RD1_20250331.parquet": (
            RD1_MAILBOX,
            b"PAR1" + bytes(range(256)) * 40 + b"PAR1",
            {"filename": "ae_attendances_RD1_20250331.parquet"},
        ),
        # this practice's system puts the name in the subject, not the file name
        "palliative_register_J83001_20250331.csv": (
            J83_MAILBOX,
            csv_bytes("nhs_number,gp_practice_code,date_added", [f"{nhs(5)},J83001,2025-01-10"]),
            {"subject": "palliative_register_J83001_20250331.csv"},
        ),
    }
    for sender, data, headers in sent.values():
        send(sandbox, sender, icb, data, **headers)
    assert len(inbox(sandbox, icb)) == 5

    caplog.set_level("DEBUG", logger="diewell")
    summary = pull_from_mesh(ics)

    assert summary.counts() == {
        "messages": 5,
        "landed": 5,
        "already_landed": 0,
        "rejected": 0,
        "reports": 0,
        "failed": 0,
        "bytes_landed": sum(len(d) for _, d, _ in sent.values()),
    }
    assert summary.ok
    assert visible_files(ics.landing) == sorted(sent)
    for name, (_sender, data, _) in sent.items():
        assert sha256_of(ics.landing / name) == sha(data)
    by_name = {o.file_name: o for o in summary.outcomes}
    assert {n: by_name[n].sender for n in sent} == {n: s for n, (s, _, _) in sent.items()}
    assert inbox(sandbox, icb) == []
    assert part_files(ics.landing, ics.rejected) == []
    assert marker not in caplog.text
    assert "5 messages: 5 landed" in caplog.text

    again = pull_from_mesh(ics)  # nothing left: a second poll changes nothing
    assert again.outcomes == []
    assert visible_files(ics.landing) == sorted(sent)


CRASHING_PULL = textwrap.dedent(
    """
    import os, sys
    from diewell.config import load_config
    from diewell.sources.mesh import pull_from_mesh
    from diewell.sources.mesh_client import mesh_client_for

    config_path, crash_at = sys.argv[1], sys.argv[2]

    class Crashing:
        # the real client, but the process dies (no clean-up at all) at one point
        def __init__(self, settings):
            self._client = mesh_client_for(settings)

        def __getattr__(self, name):
            return getattr(self._client, name)

        def retrieve_message(self, message_id):
            message = self._client.retrieve_message(message_id)
            if crash_at == "download":
                real_read, calls = message.read, []
                def read(n=None):
                    calls.append(n)
                    if len(calls) > 1:
                        os._exit(3)
                    return real_read(10)
                message.read = read
            return message

        def acknowledge_message(self, message_id):
            if crash_at == "acknowledge":
                os._exit(4)
            self._client.acknowledge_message(message_id)

    pull_from_mesh(load_config(config_path), client_factory=Crashing)
    """
)


def test_crash_before_acknowledging_lands_the_message_exactly_once(
    sandbox, ics, icb_mailbox, tmp_path
):
    icb = icb_mailbox
    first = csv_bytes("spell_id,nhs_number", [f"S{i},{nhs(i)}" for i in range(20)])
    second = csv_bytes(
        "attendance_id,nhs_number,arrival_datetime", [f"A1,{nhs(30)},2025-03-01T10:00"]
    )
    send(sandbox, RD1_MAILBOX, icb, first, filename="apc_spells_RD1_20250331.csv")
    send(sandbox, RD1_MAILBOX, icb, second, filename="ae_attendances_RD1_20250331.csv")
    script = tmp_path / "crashing_pull.py"
    script.write_text(CRASHING_PULL, encoding="utf-8")

    def crashing_pull(crash_at: str) -> int:
        done = subprocess.run(
            [sys.executable, str(script), str(ics.path), crash_at],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return done.returncode

    # killed part-way through writing the first message: nothing visible lands, both stay
    assert crashing_pull("download") == 3
    assert visible_files(ics.landing) == []
    assert len(part_files(ics.landing)) == 1  # the dead pull's temporary file
    assert len(inbox(sandbox, icb)) == 2

    # killed after the first message was durably written, before acknowledging it
    assert crashing_pull("acknowledge") == 4
    assert visible_files(ics.landing) == ["apc_spells_RD1_20250331.csv"]
    assert sha256_of(ics.landing / "apc_spells_RD1_20250331.csv") == sha(first)
    assert part_files(ics.landing) == []  # the stale temporary file was cleared
    assert len(inbox(sandbox, icb)) == 2

    # the next poll finds the first already landed (acknowledges it), lands the second
    summary = pull_from_mesh(ics)
    statuses = {o.file_name: o.status for o in summary.outcomes}
    assert statuses == {
        "apc_spells_RD1_20250331.csv": "already_landed",
        "ae_attendances_RD1_20250331.csv": "landed",
    }
    assert summary.failed == 0
    assert visible_files(ics.landing) == [
        "ae_attendances_RD1_20250331.csv",
        "apc_spells_RD1_20250331.csv",
    ]
    assert sha256_of(ics.landing / "apc_spells_RD1_20250331.csv") == sha(first)
    assert sha256_of(ics.landing / "ae_attendances_RD1_20250331.csv") == sha(second)
    assert inbox(sandbox, icb) == []
    assert part_files(ics.landing, ics.rejected) == []


def test_failed_acknowledgement_is_reported_and_healed_by_the_next_poll(sandbox, ics, icb_mailbox):
    icb = icb_mailbox
    data = csv_bytes("spell_id,nhs_number", [f"S1,{nhs(1)}"])
    send(sandbox, RD1_MAILBOX, icb, data, filename="apc_spells_RD1_20250228.csv")

    class AckRefused:
        def __init__(self, settings):
            self._client = mesh_client_for(settings)

        def __getattr__(self, name):
            return getattr(self._client, name)

        def acknowledge_message(self, message_id):
            raise ConnectionError("connection reset by peer")

    summary = pull_from_mesh(ics, client_factory=AckRefused)
    assert [(o.status, o.stage, o.file_name) for o in summary.outcomes] == [
        ("failed", "acknowledge", "apc_spells_RD1_20250228.csv")
    ]
    assert not summary.ok
    with pytest.raises(MeshPullError, match="1 MESH message"):
        summary.raise_if_failed()
    assert sha256_of(ics.landing / "apc_spells_RD1_20250228.csv") == sha(data)
    assert len(inbox(sandbox, icb)) == 1

    healed = pull_from_mesh(ics)
    assert [o.status for o in healed.outcomes] == ["already_landed"]
    assert visible_files(ics.landing) == ["apc_spells_RD1_20250228.csv"]
    assert inbox(sandbox, icb) == []


def test_messages_breaking_the_contract_are_rejected_with_a_reason_and_acknowledged(
    sandbox, ics, icb_mailbox, caplog
):
    icb = icb_mailbox
    secret = nhs(7)  # the bad name carries an NHS number: it must not reach the logs
    bad = [
        # (sender, file name header, expected rule)
        (QOX_MAILBOX, f"Deaths March {secret}.xlsx", "file_name_invalid"),
        (RD1_MAILBOX, "deaths_RD1_20250331.csv", "provider_not_registered"),
        (RD1_OTHER_MAILBOX, "apc_spells_RD1_20250331.csv", "sender_mailbox_not_allowed"),
        (RD1_MAILBOX, "../../apc_spells_RD1_20250331.csv", "file_name_invalid"),
        (RD1_MAILBOX, "/etc/cron.d/apc_spells_RD1_20250331.csv", "file_name_invalid"),
        # a provider with no mailbox in mesh.senders: no mailbox may deliver as it
        (RD1_MAILBOX, "hospice_referrals_HX1_20250331.csv", "sender_mailbox_not_allowed"),
        (RD1_MAILBOX, "apc_spells_RD1_20250231.csv", "period_invalid"),
    ]
    sent = []
    for i, (sender, name, rule) in enumerate(bad):
        data = csv_bytes("spell_id,nhs_number", [f"B{i},{nhs(40 + i)}"])
        message_id = send(sandbox, sender, icb, data, filename=name)
        sent.append((message_id, sender, name, rule, data))
    good = csv_bytes(
        "attendance_id,nhs_number,arrival_datetime", [f"A9,{nhs(50)},2025-03-31 23:59"]
    )
    send(sandbox, RD1_MAILBOX, icb, good, filename="ae_attendances_RD1_20250331.csv")

    caplog.set_level("DEBUG", logger="diewell")
    summary = pull_from_mesh(ics, run_id="run-test-1")

    assert (summary.rejected, summary.landed, summary.failed) == (len(bad), 1, 0)
    assert inbox(sandbox, icb) == []  # every message acknowledged: nothing blocks the mailbox
    assert visible_files(ics.landing) == ["ae_attendances_RD1_20250331.csv"]
    assert sha256_of(ics.landing / "ae_attendances_RD1_20250331.csv") == sha(good)
    outcomes = {o.message_id: o for o in summary.outcomes}
    for message_id, sender, name, rule, data in sent:
        outcome = outcomes[message_id]
        assert (outcome.status, outcome.rule, outcome.sender) == ("rejected", rule, sender)
        stored = outcome.path
        assert stored.parent == ics.rejected  # never outside it, whatever the name said
        assert sha256_of(stored) == sha(data)
        detail = json.loads(Path(f"{stored}.reason.json").read_text(encoding="utf-8"))
        # the same keys as ingest's rejections, plus where the message came from
        assert {"file_name", "sha256", "rule", "reason", "run_id", "rejected_at"} <= set(detail)
        # a name holding a folder is recorded by its stored (plain) name, never as a path
        recorded = name if "/" not in name else stored.name
        assert is_plain_name(stored.name) and is_plain_name(detail["file_name"])
        assert (detail["file_name"], detail["sha256"], detail["rule"]) == (
            recorded,
            sha(data),
            rule,
        )
        assert detail.get("mesh_file_name", name) == name
        assert (detail["run_id"], detail["mesh_message_id"], detail["mesh_sender"]) == (
            "run-test-1",
            message_id,
            sender,
        )
        text = Path(f"{stored}.reason.txt").read_text(encoding="utf-8").splitlines()
        assert text[0] == f"{recorded} was rejected whole and nothing of it was loaded."
        assert text[1] == f"Reason ({rule}): {detail['reason']}"
    reasons = {(o.rule, o.sender): o.reason for o in summary.outcomes if o.status == "rejected"}
    wrong_mailbox = reasons["sender_mailbox_not_allowed", RD1_OTHER_MAILBOX]
    assert "RD1OT001" in wrong_mailbox and "RD1OT009" in wrong_mailbox
    unmapped = reasons["sender_mailbox_not_allowed", RD1_MAILBOX]
    assert "provider HX1" in unmapped and "mailbox RD1OT001" in unmapped
    assert "no MESH mailbox" in unmapped
    reasons = {rule: reason for (rule, _), reason in reasons.items()}
    assert "not registered to send deaths" in reasons["provider_not_registered"]
    # nothing was written outside the landing and rejected folders
    root = ics.path.parent
    written = {p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file()}
    assert written == {"diewell.yaml", "landing", "rejected"}
    assert secret not in caplog.text
    assert part_files(ics.landing, ics.rejected) == []


def test_a_100_mb_chunked_message_is_streamed_and_lands_byte_identical(
    sandbox, ics, icb_mailbox, tmp_path
):
    icb = icb_mailbox
    size = 100 * 1024 * 1024
    source = tmp_path / "apc_spells_RD1_20250331.csv"
    digest = hashlib.sha256()
    numbers = [nhs(i) for i in range(100)]
    with source.open("wb") as f:
        written, row = 0, 0
        header = b"spell_id,nhs_number,admission_date,admission_method,discharge_date\n"
        f.write(header)
        digest.update(header)
        written += len(header)
        while written < size:
            block = "".join(
                f"S{row + k:09d},{numbers[(row + k) % 100]},2024-{(row + k) % 12 + 1:02d}-"
                f"{(row + k) % 28 + 1:02d},21,\n"
                for k in range(20_000)
            ).encode()[: size - written]
            row += 20_000
            f.write(block)
            digest.update(block)
            written += len(block)
    assert source.stat().st_size == size

    started = time.monotonic()
    with source.open("rb") as f:  # mesh-client splits it into 75 MiB chunks by default
        message_id = send(sandbox, RD1_MAILBOX, icb, f, filename=source.name)
    sent_at = time.monotonic()
    chunks = sorted(p.name for p in (sandbox["store"] / icb / "in" / message_id).iterdir())
    assert chunks == ["1", "2"]  # the sandbox holds it as two chunks

    tracemalloc.start()
    try:
        summary = pull_from_mesh(ics)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    pulled_at = time.monotonic()

    landed = ics.landing / source.name
    assert [o.status for o in summary.outcomes] == ["landed"]
    assert summary.outcomes[0].size == size
    assert summary.outcomes[0].sha256 == digest.hexdigest()
    assert landed.stat().st_size == size
    assert sha256_of(landed) == digest.hexdigest()
    assert peak < 32 * 1024 * 1024, f"pull held {peak / 2**20:.0f} MiB at once: not streamed"
    assert inbox(sandbox, icb) == []
    source.unlink()  # 200 MiB less left in pytest's kept temporary folders
    landed.unlink()
    print(
        f"100 MiB message: sent in {sent_at - started:.1f}s, pulled in {pulled_at - sent_at:.1f}s, "
        f"peak traced memory {peak / 2**20:.1f} MiB"
    )


def test_secrets_come_only_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("DIEWELL_UNSET_PASSWORD", raising=False)
    path = tmp_path / "diewell.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ics": {"code": "QOX", "name": "Test ICB"},
                "paths": {"landing": "landing", "warehouse": "w.duckdb", "outputs": "outputs"},
                "providers": PROVIDERS,
                "mesh": {
                    "url": "http://127.0.0.1:9",
                    "mailbox": "qoxt0099",
                    "password_env": "DIEWELL_UNSET_PASSWORD",
                    "senders": SENDERS,
                },
            }
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.mesh.mailbox == "QOXT0099"
    with pytest.raises(MeshConfigError, match="DIEWELL_UNSET_PASSWORD"):
        pull_from_mesh(config)


def test_a_pull_without_mesh_senders_is_refused_before_the_mailbox_is_touched(
    tmp_path, monkeypatch
):
    """Without mesh.senders a file's provider would rest on its name alone: refused."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(SHARED_KEY_ENV, SHARED_KEY)
    path = tmp_path / "diewell.yaml"
    raw = {
        "ics": {"code": "QOX", "name": "Test ICB"},
        "paths": {"landing": "landing", "warehouse": "w.duckdb", "outputs": "outputs"},
        "providers": PROVIDERS,
        "mesh": {
            "url": "http://127.0.0.1:9",
            "mailbox": "QOXT0099",
            "password_env": PASSWORD_ENV,
            "shared_key_env": SHARED_KEY_ENV,
        },
    }
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = load_config(path)
    with pytest.raises(MeshConfigError, match=r"mesh\.senders must map each provider"):
        pull_from_mesh(config)
    assert not (tmp_path / "landing").exists()
