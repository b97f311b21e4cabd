"""Drive headless Chromium over the DevTools protocol: open a page, record every request and
console message, evaluate scripts in it and take screenshots.

Chromium is started with the project's flags (--headless --no-sandbox --disable-gpu
--disable-background-networking) and a throw-away profile; it prints the address of its
DevTools websocket on stderr, and this module speaks the protocol over it (websockets is
installed with Prefect).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import websockets

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
STARTUP_SECONDS = 60
WINDOW = (1280, 1600)


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


class Page:
    """One tab of a running Chromium, attached through a flat DevTools session."""

    def __init__(self, socket) -> None:
        self._socket = socket
        self._session = ""  # commands go to the browser until a tab is attached
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: dict[str, asyncio.Event] = {}
        self.log = PageLog()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._socket:
            message = json.loads(raw)
            if "id" in message and message["id"] in self._waiting:
                self._waiting.pop(message["id"]).set_result(message)
                continue
            method, params = message.get("method", ""), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self.log.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                self.log.console_errors.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                self.log.console_errors.append(params["exceptionDetails"].get("text", ""))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.log.console_errors.append(params["entry"]["text"])
            if method in self._events:
                self._events[method].set()

    async def send(self, method: str, **params) -> dict:
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        message = {"id": ident, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        await self._socket.send(json.dumps(message))
        reply = await asyncio.wait_for(future, STARTUP_SECONDS)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def open(self, url: str) -> None:
        for domain in ("Page", "Network", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WINDOW[0],
            height=WINDOW[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        loaded = self._events.setdefault("Page.loadEventFired", asyncio.Event())
        loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), STARTUP_SECONDS)

    async def evaluate(self, expression: str):
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    async def screenshot(self, path: Path, *, full_page: bool, scale: float = 1.0) -> None:
        metrics = await self.send("Page.getLayoutMetrics")
        height = metrics["cssContentSize"]["height"] if full_page else WINDOW[1]
        shot = await self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=full_page,
            clip={"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": scale},
        )
        path.write_bytes(base64.b64decode(shot["data"]))


async def _with_page(chromium: str, profile: Path, work) -> object:
    process = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = None
        for line in process.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                address = found.group(1)
                break
        assert address, "Chromium did not open its DevTools port"
        async with websockets.connect(address, max_size=None) as socket:
            page = Page(socket)
            target = await page.send("Target.createTarget", url="about:blank")
            attached = await page.send(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            page._session = attached["sessionId"]
            return await work(page)
    finally:
        process.terminate()
        process.wait(timeout=30)


def with_page(chromium: str, profile: Path, work):
    """Run `await work(page)` on a fresh tab of a fresh headless Chromium; return its result."""
    return asyncio.run(_with_page(chromium, profile, work))
