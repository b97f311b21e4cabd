"""What the night shift is told, on a real Prefect server with the deployments and a worker.

A local webhook receiver (stdlib http.server in a thread) stands for the ICS's channel; a
Prefect Custom Webhook notification block points at it; automations.yaml is applied with
`python -m diewell.flows.automations apply`, as the data engineer does. Then real runs of the real
nightly refresh deployment: one whose config file is missing (it fails), one held on the
warehouse's writer lock past the not-completed window (a short window, so the test need not
wait until 07:00) and then killed (it crashes), one no worker takes (the pool paused) until
after the window, and one that completes inside the window (no late notification), the three
at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from diewell.config import load_config
from diewell.flows import support
from tests.conftest import REPO, TEST_KEY
from tests.system.prefect_stack import POOL, Stack, deployed_stack, free_port
from tests.system.tiny_cli import deaths_ics

pytestmark = pytest.mark.slow

BLOCK = "custom-webhook/diewell-night-shift"
LATE_WINDOW = 50  # seconds: the test's stand-in for 02:30 to 07:00
# seconds after it was due that the test's server marks a run no worker took Late (Prefect's
# default, and so production's, is 15: README, "What the night shift is told")
LATE_AFTER = 5
NOTIFY_TIMEOUT = 90  # seconds for a notification to reach the receiver


class Receiver:
    """A webhook receiver on a free loopback port: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    receiver.received.append({**body, "at": time.monotonic()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def about(self, words: str) -> list[dict]:
        with self.lock:
            return [n for n in self.received if words in n["subject"] + n["body"]]

    def wait_for(self, *words: str, timeout: float = NOTIFY_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [n for n in self.about(words[0]) if all(w in n["subject"] for w in words)]
            if found:
                return found[0]
            time.sleep(0.5)
        raise TimeoutError(f"no notification with {words} in {timeout} s: {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def python(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


SAVE_TEST_BLOCK = """
import sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
CustomWebhookNotificationBlock(
    name="diewell night shift (test)",
    url=sys.argv[1],
    json_data={"subject": "{{subject}}", "body": "{{body}}"},
).save("diewell-night-shift", overwrite=True)
"""


@pytest.fixture(scope="module")
def ics(tmp_path_factory) -> Path:
    return deaths_ics(tmp_path_factory.mktemp("night-shift-ics")).config_path


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ics, receiver) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("night-shift-stack")
    with deployed_stack(
        root,
        ics,
        server_env={"PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": str(LATE_AFTER)},
        worker_env={"DIEWELL_PSEUDO_KEY": TEST_KEY},
    ) as stack:
        # the notification block (the ICS's would be Teams or e-mail), then the automations
        python(stack, "-c", SAVE_TEST_BLOCK, receiver.url)
        out = python(
            stack,
            "-m",
            "diewell.flows.automations",
            "apply",
            "--block",
            BLOCK,
            "--late-window-seconds",
            str(LATE_WINDOW),
        )
        assert out.count("applied automation") == 2, out
        yield stack


def assert_nothing_private(notification: dict, *paths: Path) -> None:
    text = notification["subject"] + notification["body"]
    for path in paths:
        assert str(path) not in text and path.name not in text
    assert not re.search(r"\b\d{10}\b", text)  # no NHS numbers


def test_the_late_window_is_the_nightly_cron_to_seven():
    """automations.yaml's window runs from the nightly's cron time to 07:00 (by hand:
    02:30 to 07:00 is 4 h 30 min, 16200 s), so a change to one needs the other."""
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    [nightly] = [d for d in prefect_yaml["deployments"] if d["name"] == "nightly"]
    [schedule] = nightly["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == ("30 2 * * *", "Europe/London")
    spec = yaml.safe_load((REPO / "automations.yaml").read_text(encoding="utf-8"))
    [late] = [a for a in spec["automations"] if a["trigger"]["posture"] == "Proactive"]
    assert late["trigger"]["within"] == 16200
    assert "07:00" in late["name"]


def test_a_failed_nightly_run_is_notified_with_its_name_and_state(stack, receiver, tmp_path):
    missing = tmp_path / "nowhere" / "diewell.yaml"
    run_id = stack.trigger("diewell-refresh/nightly", config_path=str(missing))
    run = stack.wait(run_id)
    assert run["state"]["type"] == "FAILED", stack.logs()
    finished = time.monotonic()
    notification = receiver.wait_for(run["name"], "Failed")
    print(f"failure notified {notification['at'] - finished:.1f} s after the run ended")
    print(f"  {notification['subject']}\n  {notification['body']}")
    assert "diewell-refresh" in notification["subject"]
    assert "ended Failed" in notification["body"]
    assert f"/runs/flow-run/{run_id}" in notification["body"]
    assert_nothing_private(notification, missing, tmp_path)


def test_nightly_runs_are_notified_only_when_not_completed_in_their_window(stack, receiver, ics):
    """Three nights at once, each window counted from its own run (so the test waits for about
    one window, not three): one run that completes inside its window (nothing is said of it);
    one a worker took and that waits on the warehouse's writer lock (it is Running; then its
    process is killed and it crashes); and one no worker takes (the worker down, here the pool
    paused: Prefect marks it Late LATE_AFTER s after it was due, which opens its window; at the
    window's end the night shift hears it is still Late)."""
    config = load_config(ics)
    completed = stack.scheduled_run("diewell-refresh/nightly")
    completed_due = time.monotonic()
    run = stack.wait(completed)
    took = time.monotonic() - completed_due
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    print(f"the nightly run completed {took:.1f} s after it was due (window {LATE_WINDOW} s)")
    assert took < LATE_WINDOW - 5, "the run took too long for this test to say anything"
    try:
        with support.one_writer(config, "test holds the warehouse"):
            held = stack.scheduled_run("diewell-refresh/nightly")
            held_due = time.monotonic()
            deadline = held_due + LATE_WINDOW - 10
            while stack.run(held)["state"]["type"] != "RUNNING":  # a worker has taken it
                assert time.monotonic() < deadline, stack.logs()
                time.sleep(0.5)
            stack.pause_pool()
            untaken = stack.scheduled_run("diewell-refresh/nightly")
            untaken_due = time.monotonic()
            held_name, untaken_name = stack.run(held)["name"], stack.run(untaken)["name"]

            late = receiver.wait_for(
                "has not completed", held_name, timeout=LATE_WINDOW + NOTIFY_TIMEOUT
            )
            waited = late["at"] - held_due
            assert stack.run(held)["state"]["type"] == "RUNNING"  # still waiting for the lock
            print(
                f"late notification {waited:.1f} s after the run was due (window {LATE_WINDOW} s)"
            )
            print(f"  {late['subject']}\n  {late['body']}")
            assert LATE_WINDOW <= waited < LATE_WINDOW + 30
            assert "it is Running" in late["body"]
            assert f"/runs/flow-run/{held}" in late["body"]
            assert_nothing_private(late, ics.parent)

            late = receiver.wait_for(
                "has not completed", untaken_name, timeout=LATE_WINDOW + NOTIFY_TIMEOUT
            )
            waited = late["at"] - untaken_due
            print(f"late notification (no worker) {waited:.1f} s after the run was due")
            assert stack.run(untaken)["state"]["name"] == "Late"
            assert "it is Late" in late["body"]
            assert LATE_WINDOW + LATE_AFTER <= waited < LATE_WINDOW + LATE_AFTER + 30

            # the held run's process killed (the machine's OOM killer, say): the run crashes
            pids = stack.run_processes(held)
            assert pids, stack.logs()
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            assert stack.wait(held)["state"]["type"] == "CRASHED", stack.logs()
            crashed = receiver.wait_for(held_name, "Crashed")
            print(f"  {crashed['subject']}\n  {crashed['body']}")
            assert "ended Crashed" in crashed["body"]
            assert_nothing_private(crashed, ics.parent)
    finally:
        stack.http.patch(f"/work_pools/{POOL}", json={"is_paused": False}).raise_for_status()
    assert stack.wait(untaken)["state"]["type"] == "COMPLETED", stack.logs()
    # the completed run's window and the server's 5 s look are long past: nothing about it
    assert time.monotonic() > completed_due + LATE_WINDOW + LATE_AFTER
    # Nothing is said of it, but for a known Prefect fault: its automations now and then miss a
    # quick run's Completed event and notify it anyway (PrefectHQ/prefect#21932, open; README, "What
    # the night shift is told"). Such a notice must say the run completed, so they can tell.
    for notice in receiver.about(run["name"]):
        assert "it is Completed" in notice["body"], receiver.received


def test_applying_again_replaces_and_does_not_duplicate(stack):
    python(stack, "-m", "diewell.flows.automations", "apply", "--block", BLOCK)
    automations = stack.http.post("/automations/filter", json={}).json()
    names = sorted(a["name"] for a in automations)
    assert names == [
        "diewell nightly refresh not completed by 07:00",
        "diewell run failed or crashed",
    ]
    [late] = [a for a in automations if a["trigger"]["posture"] == "Proactive"]
    assert late["trigger"]["within"] == 16200


def test_the_block_commands_read_secrets_from_the_environment_only(monkeypatch, capsys):
    from prefect.blocks.notifications import MicrosoftTeamsWebhook

    from diewell.flows.automations import TEAMS_URL_ENV, main

    monkeypatch.delenv(TEAMS_URL_ENV, raising=False)
    assert main(["teams", "diewell-night-shift"]) == 2
    assert f"set {TEAMS_URL_ENV}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["teams", "diewell-night-shift", "--url", "https://example.invalid/hook"])
    # the block type the command saves accepts a Power Automate workflow URL
    MicrosoftTeamsWebhook(
        url="https://prod-00.uksouth.logic.azure.com:443/workflows/abc/triggers/manual/paths/"
        "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=not-a-secret"
    )
