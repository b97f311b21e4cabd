"""The NHS.UK frontend stylesheet (vendored in vendor/nhsuk-frontend), made self-contained.

Both pages diewell writes for people - the board report and the providers' data quality
pages - inline it, so they open with no network: the web-font rules are dropped (Arial is
the design system's fallback) and the icons it refers to become data: URIs. Light to import:
no charting library.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor" / "nhsuk-frontend"


@cache
def offline_stylesheet() -> str:
    """The vendored CSS with nothing in it that would reach the network."""
    css = (VENDOR / "nhsuk-frontend.min.css").read_text(encoding="utf-8")
    css = re.sub(r"@font-face\{[^}]*\}", "", css)

    def inline(match: re.Match) -> str:
        svg = (VENDOR / "images" / match.group(1)).read_bytes()
        return f"url(data:image/svg+xml;base64,{base64.b64encode(svg).decode('ascii')})"

    css = re.sub(r"url\(/assets/images/([a-z0-9-]+\.svg)\)", inline, css)
    if re.search(r"url\((?!data:)", css):
        raise ValueError("the vendored stylesheet refers to a file outside the page")
    return css
