"""GX's Data Docs made to open offline: the assets GX's templates load from public CDNs are
vendored (gx_vendor/, with their licences) and copied into the site, and every page is
pointed at the copy; a GX upgrade whose templates ask for another address fails the build."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


VENDOR = Path(__file__).resolve().parent / "gx_vendor"


VENDOR_IN_SITE = "static/vendor"  # where the vendored files go in data_docs/


# Every address GX's Data Docs templates load a style or script from, and the vendored file
# (validation_report_vendor/README.md: same package, same version) that replaces it.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/dist/css/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/dist/js/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/dist/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "forevolve-bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fortawesome-fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/dist/umd/popper.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
}


# The GX logo on GX's web-asset bucket (no package anywhere): GX copies the same picture
# into static/images/, so the pages show that one.
GX_WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"


LOCAL_LOGO = "static/images/logo-long.png"


# Each pattern starts with literal text, which the regex engine scans for quickly (a page is
# some 50 kB): an address in quotes, the attribute's name checked before it.
_NETWORK_ATTR = re.compile(r'="(https?://[^"]*)"')


_NEWSLETTER = re.compile(
    r'<footer>\s*<p>Stay current on everything GX[^<]*<a href="[^"]*">[^<]*</a></p>\s*</footer>'
)


_WEB_LINK = re.compile(r'<a href="https?://[^"]*">([^<]*)</a>')


_SRI = re.compile(r' integrity="sha\d+-[^"]*" crossorigin="anonymous"')


_FAVICON = re.compile(r'href="(?:\./|(?:\.\./)*)static/images/favicon\.ico"')


_GX_LOGO_URL = re.compile(r"url\('" + re.escape(GX_WEB_ASSETS) + r"[^']*'\)")


_ADDRESS = re.compile(r"https?://")


_LOADS_IT = re.compile(r'(?:src|href)\s*=\s*[\'"]?\s*$|url\(\s*[\'"]?\s*$')  # just before it


HEAD_BYTES = 4096  # GX's pages load their assets at the top: a page made offline has no


def _vendor_into(site: Path) -> None:
    """Copy the vendored files to `static/vendor/` in the site (each only when it changed)."""
    for source in VENDOR.rglob("*"):
        if not source.is_file():
            continue
        target = site / VENDOR_IN_SITE / source.relative_to(VENDOR)
        stat = source.stat()
        try:
            current = target.stat()
            if (current.st_size, current.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                continue
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def offline_text(text: str, up: str) -> str:
    """A GX page (or stylesheet) with every address outside the machine replaced by a path to
    the vendored copy, `up` ("../" once per folder below the site's root) leading back to
    the root. Only GX's own markup is touched: a sender's text is HTML-escaped before GX
    sees it (`sender_text`), so it holds no `src="...` to match."""

    def local(match: re.Match) -> str:
        url = match.group(1)
        if not match.string.endswith((" src", " href"), 0, match.start()):
            return match.group(0)
        if url in CDN_ASSETS:
            return f'="{up}{VENDOR_IN_SITE}/{CDN_ASSETS[url]}"'
        if url.startswith(GX_WEB_ASSETS + "logo-long.png"):
            return f'="{up}{LOCAL_LOGO}"'
        return match.group(0)

    text = _NETWORK_ATTR.sub(local, text)
    text = _SRI.sub("", text)  # a browser refuses a CORS fetch of a file:// script
    text = _NEWSLETTER.sub("", text)
    text = _WEB_LINK.sub(r"\1", text)  # a link to GX's website: its words, as plain text
    text = _GX_LOGO_URL.sub(f"url('{up}{LOCAL_LOGO}')", text)
    # GX writes the icon's path one folder short on validation pages
    return _FAVICON.sub(f'href="{up}static/images/favicon.ico"', text)


def network_reference(text: str) -> int | None:
    """Where the first address outside the machine in a `src`, an `href` or a CSS `url()`
    starts, or None (an address in plain text, or escaped, is no load)."""
    for found in _ADDRESS.finditer(text):
        if _LOADS_IT.search(text, max(0, found.start() - 12), found.start()):
            return found.start()
    return None


def make_offline(site: Path) -> None:
    """Vendor the site's styles and scripts and point every page and GX stylesheet at them.

    Pages already rewritten (nothing outside the machine in their head) are skipped after
    reading their first few kilobytes, so a rebuild costs in proportion to its new pages; a
    page left from before this rewrite, or one GX wrote again, is rewritten. Raises when an
    address outside the machine is left: a GX release that loads something new fails loudly
    instead of leaving pages that fail offline."""
    _vendor_into(site)
    files = [*site.rglob("*.html"), *(site / "static" / "styles").glob("*.css")]
    for path in files:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
        if b"http://" not in head and b"https://" not in head and path.suffix == ".html":
            continue
        text = path.read_text(encoding="utf-8")
        depth = len(path.relative_to(site).parts) - 1
        offline = offline_text(text, "../" * depth)
        left = network_reference(offline)
        if left is not None:
            raise ValueError(
                f"a Data Docs file ({path.relative_to(site).as_posix()}) still loads from the "
                f"network: {offline[max(0, left - 20) : left + 100]!r}"
            )
        if offline != text:
            partial = path.with_name(path.name + ".partial")
            partial.write_text(offline, encoding="utf-8")
            os.replace(partial, path)
