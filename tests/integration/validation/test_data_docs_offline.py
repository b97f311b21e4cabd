"""The GX Data Docs work offline (issue 14): opened from the disk in headless Chromium, no
request leaves the machine, the index's table is filled by its scripts and the pages are
styled by the vendored Bootstrap.

GX's templates load their styles and scripts from public CDNs; diewell vendors the same files
(diewell/validation_report_vendor/) and points the pages at them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from diewell.expectations.contracts import SUITES_DIR
from diewell.expectations.report.offline import CDN_ASSETS, VENDOR, VENDOR_IN_SITE, offline_text
from diewell.expectations.report.validation_report import data_docs_dir
from tests.integration.validation.conftest import COLUMNS, spells
from tests.system.browser import with_page
from tests.system.test_data_docs_browser import chromium  # noqa: F401  (the fixture)

# A sender's value that looks like one of the tags the rewrite changes: it must stay text.
LOOKALIKE = '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
LOOKALIKE_ESCAPED = (
    "&lt;script src=&quot;https://code.jquery.com/jquery-3.7.1.min.js&quot;&gt;&lt;/script&gt;"
)
# An address in an attribute or a CSS url(), quoted or not (a plain text mention is no load)
NETWORK_REFERENCE = re.compile(
    r"""\b(?:src|href)\s*=\s*["']?\s*https?://|url\(\s*["']?\s*https?://"""
)
# The digests GX's templates pin (js_script_imports.j2, integrity attributes)
GX_PINNED_SHA384 = {
    "popper.js-1.12.9/dist/umd/popper.min.js": (
        "ApNbgh9B+Y1QKtv3Rn7W3mgPxhU9K/ScQsAP7hUibX39j7fakFPskvXusvfa0b4Q"
    ),
    "bootstrap-4.3.1/dist/js/bootstrap.min.js": (
        "JjSmVgyd0p3pXB1rRibZUAYoIIy6OrQ6VrjIEaFf/nJGzIxFDsf4x0xIM+B07jRM"
    ),
}


@pytest.fixture
def site(ics) -> Path:
    """The Data Docs of one run: one file, rows 2 and 5 quarantined (row 5's value is markup
    naming a CDN script)."""
    rows = spells(6, bad_method_rows=(2,))
    rows[4]["admission_method"] = LOOKALIKE  # row 5
    ics.deliver("apc_spells_RX1_20250131.csv", rows, COLUMNS)
    outcomes = ics.run("run-1")
    assert [(o.status, o.rows_quarantined) for o in outcomes] == [("loaded", 2)]
    return data_docs_dir(ics.config)


def _validation_page(site: Path) -> Path:
    (page,) = site.glob("validations/apc_spells/run-1/*/*.html")
    return page


def test_no_page_loads_anything_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    # the index, the extract's validation page and a page for each suite of the contract
    assert len(pages) == 2 + len(list(SUITES_DIR.glob("*.json")))
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = NETWORK_REFERENCE.search(text)
        assert not found, f"{page.relative_to(site)}: {text[found.start() : found.start() + 100]}"
        # no link to a web site either (GX's attribution and newsletter): nothing at all in an
        # attribute that starts with http, so nothing a click would try to fetch offline
        assert not re.search(r"""=\s*["']?https?:""", text), page
    stylesheets = (site / "static" / "styles").glob("*.css")
    for css in stylesheets:
        assert not NETWORK_REFERENCE.search(css.read_text(encoding="utf-8")), css


def test_every_vendored_address_resolves_at_each_depth(site):
    """Each page's local paths lead to a vendored file, whatever its folder's depth."""
    for page in (site / "index.html", _validation_page(site)):
        text = page.read_text(encoding="utf-8")
        local = re.findall(r'\b(?:src|href)="([^"#]+\.(?:js|css|png|ico))"', text)
        assert len([p for p in local if VENDOR_IN_SITE in p]) == 15  # GX's 15 assets a page
        for path in local:
            assert (page.parent / path).resolve().is_file(), f"{page.name}: {path}"
    # the Font Awesome stylesheet finds its fonts beside it (../webfonts/)
    css = site / VENDOR_IN_SITE / "fortawesome-fontawesome-free-6.6.0" / "css" / "all.min.css"
    fonts = re.findall(r"url\((\.\./webfonts/[^)]+)\)", css.read_text(encoding="utf-8"))
    assert fonts and all((css.parent / f).resolve().is_file() for f in fonts)


def test_the_vendored_scripts_are_the_ones_gx_pins():
    """GX pins two scripts by SHA-384: the vendored files have exactly those digests."""
    for path, digest in GX_PINNED_SHA384.items():
        data = (VENDOR / path).read_bytes()
        assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest
    for path in CDN_ASSETS.values():
        assert (VENDOR / path).is_file(), path
    licences = {p.parent.name for p in VENDOR.glob("*/LICENSE*")}
    assert licences == {p.split("/")[0] for p in CDN_ASSETS.values()}


def test_a_sender_value_naming_a_cdn_script_stays_escaped_text(site):
    text = _validation_page(site).read_text(encoding="utf-8")
    assert LOOKALIKE_ESCAPED in text  # exactly as the sender wrote it, escaped, untouched
    assert LOOKALIKE not in text


def test_the_rewrite_leaves_escaped_text_alone():
    page = (
        '<link rel="stylesheet" href="https://code.jquery.com/jquery-3.7.1.min.js">'
        f"<td>{LOOKALIKE_ESCAPED}</td>"
    )
    assert offline_text(page, "../../") == (
        '<link rel="stylesheet" href="../../static/vendor/jquery-3.7.1/dist/jquery.min.js">'
        f"<td>{LOOKALIKE_ESCAPED}</td>"
    )


def test_a_rebuild_rewrites_only_what_gx_wrote_again(ics, site):
    """The second run's build leaves the first run's page as it was (not read past its head,
    not written) and makes the new one offline too."""
    first = _validation_page(site)
    before = first.stat().st_mtime_ns
    ics.deliver("apc_spells_RX1_20250228.csv", spells(4), COLUMNS)
    ics.run("run-2")
    assert first.stat().st_mtime_ns == before
    (second,) = site.glob("validations/apc_spells/run-2/*/*.html")
    assert not NETWORK_REFERENCE.search(second.read_text(encoding="utf-8"))
    assert not NETWORK_REFERENCE.search((site / "index.html").read_text(encoding="utf-8"))


LOOK = """(async () => {
  await document.fonts.ready;
  const body = getComputedStyle(document.body);
  const rows = [...document.querySelectorAll('table.ge-index-page-validation-results-table tbody tr')];
  return {
    fontFamily: body.fontFamily,
    bodyMargin: body.marginTop,
    scripts: [typeof window.jQuery, typeof window.jQuery?.fn.bootstrapTable,
              typeof window.jQuery?.fn.datepicker, typeof window.Popper,
              typeof window.vega?.View, typeof window.vegaLite?.compile, typeof window.vegaEmbed],
    iconFonts: [...document.fonts].filter(f => f.family.includes('Font Awesome') && f.status === 'loaded').length,
    rows: rows.map(r => r.innerText),
    text: document.body.innerText,
  };
})()"""


def _open_offline(browser: str, profile: Path, url: str):
    async def look(page):
        # no network for this tab: anything that tries is refused, and recorded
        await page.send("Network.enable")
        await page.send(
            "Network.emulateNetworkConditions",
            offline=True,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )
        await page.open(url)
        found = await page.evaluate(LOOK)
        await page.screenshot(profile.with_suffix(".png"), full_page=False, scale=0.5)
        return found, page.log

    return with_page(browser, profile, look)


def test_index_and_validation_page_work_offline_in_a_browser(site, chromium, tmp_path):  # noqa: F811
    index = site / "index.html"
    looked = {}
    for name, page in (("index", index), ("page", _validation_page(site))):
        url = page.resolve().as_uri()
        found, log = _open_offline(chromium, tmp_path / f"profile-{name}", url)
        looked[name] = found
        outside = [u for u in log.requests if not u.startswith(("file://", "data:"))]
        assert outside == [], f"{name}: requests left the machine"
        assert any(u.startswith("file://") and "static/vendor" in u for u in log.requests)
        assert log.console_errors == [], name
        # styled: Bootstrap's body font and margin, not the browser's Times and 8px
        assert "Segoe UI" in found["fontFamily"] and found["bodyMargin"] == "0px", name
        assert found["scripts"] == ["function"] * 7, name
        assert found["iconFonts"] >= 1, name  # Font Awesome's icons drawn from its own font

    rows = looked["index"]["rows"]
    assert len(rows) == 1, rows  # the index's table, filled by bootstrap-table
    assert (
        "apc_spells" in rows[0] and "run-1" in rows[0] and "all_providers" in rows[0]
    )  # a page per run and extract
    page = looked["page"]["text"]
    assert "2 unexpected values found" in page
    assert LOOKALIKE in page  # the sender's value shown as the characters sent
