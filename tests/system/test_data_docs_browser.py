"""The Data Docs pages, loaded in a real browser (headless Chromium) from a local web server.

The project rule is "a real browser for any HTML". Chromium comes from Debian's `chromium`
package: when /usr/bin/chromium is missing and the tests run as root, the session fixture
installs it with `apt-get install -y chromium`; otherwise the test fails saying so (it never
skips silently).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading

import pytest

from diewell.expectations.report.validation_report import data_docs_index
from tests.integration.validation.conftest import COLUMNS, spells

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            # a fresh machine may have no package lists yet
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
    return CHROMIUM


@pytest.fixture
def served(tmp_path):
    """Serve a folder on a free localhost port, in a thread; yields a function folder -> url."""
    servers = []

    def serve(folder) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for s in servers:
        s.shutdown()
        s.server_close()


def dump_dom(chromium: str, url: str, profile) -> str:
    """The page's DOM after Chromium has loaded it and run its scripts."""
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_validation_page_shows_the_failed_rule_its_note_and_count(
    ics, chromium, served, tmp_path
):
    ics.deliver("apc_spells_RX1_20250131.csv", spells(6, bad_method_rows=(2, 5)), COLUMNS)
    ics.run("run-1")
    index = data_docs_index(ics.config)
    base = served(index.parent)

    page = dump_dom(chromium, f"{base}/index.html", tmp_path / "profile-index")
    assert "apc_spells" in page and "run-1" in page
    pages = sorted(index.parent.glob("validations/apc_spells/run-1/*/*.html"))
    assert len(pages) == 1
    assert pages[0].name in page  # the index links the file's validation page

    rel = pages[0].relative_to(index.parent).as_posix()
    page = dump_dom(chromium, f"{base}/{rel}", tmp_path / "profile-page")
    assert "[value_not_allowed] admission_method must be one of the listed codes" in page
    assert "2 unexpected values found" in page
    assert "apc_spells_RX1_20250131.csv" in page


ALERT = "<img src=x onerror=alert(1)>"
MARKS_THE_PAGE = "<img src=x onerror=document.body.setAttribute('data-pwned','yes')>"


def test_a_quarantined_value_holding_markup_is_shown_as_text_and_runs_no_script(
    ics, chromium, served, tmp_path
):
    """Issue 11, 2: nothing a sender writes may become markup or script in the Data Docs.

    (Before the fix the alert opened a dialog that held headless Chromium until the test's
    time-out.)"""
    rows = spells(6)
    rows[1]["admission_method"] = ALERT  # row 2
    rows[4]["admission_method"] = MARKS_THE_PAGE  # row 5
    ics.deliver("apc_spells_RX1_20250131.csv", rows, COLUMNS)
    outcomes = ics.run("run-1")
    assert [(o.status, o.rows_quarantined) for o in outcomes] == [("loaded", 2)]
    index = data_docs_index(ics.config)
    (page_file,) = index.parent.glob("validations/apc_spells/run-1/*/*.html")

    html = page_file.read_text(encoding="utf-8")
    assert "<img src=x" not in html.lower()  # the plain file: no raw markup from the sender
    assert "&lt;img src=x onerror=alert(1)&gt;" in html

    base = served(index.parent)
    rel = page_file.relative_to(index.parent).as_posix()
    dom = dump_dom(chromium, f"{base}/{rel}", tmp_path / "profile-page")
    assert "2 unexpected values found" in dom  # the page rendered
    assert '<img src="x"' not in dom  # no img element was made from the value
    assert 'data-pwned="yes"' not in dom  # and no script of the sender's ran
    # shown literally: the text node holds the characters the sender sent
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "&lt;img src=x onerror=document.body.setAttribute('data-pwned','yes')&gt;" in dom
