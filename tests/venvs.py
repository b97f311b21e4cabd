"""Python environments of their own for tests that need another package version.

The MESH sandbox pins its own web framework, and the warehouse must open in an older DuckDB:
each gets a venv under pytest's cache, made once (under a lock, as another pytest may be
making it) and reused while its requirements stay the same. It is installed with uv where
the project's venv has it (the README's setup and .ci/run install it), with pip otherwise.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

INSTALL_TIMEOUT_SECONDS = 900


def _root(request, name: str) -> Path:
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir(name))
    return Path(request.config.rootpath) / ".pytest_cache" / name


def _installer(python: Path) -> list[str]:
    """The command that installs packages into the venv of `python`."""
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        return [str(uv), "pip", "install", "-q", "--python", str(python), "--compile-bytecode"]
    return [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]


def cached_venv_python(request, name: str, requirements: list[str]) -> Path:
    """The python of a venv named `name` holding exactly `requirements`."""
    pins = "\n".join(requirements) + "\n"
    tag = hashlib.sha256(f"{sys.version_info[:2]}\n{pins}".encode()).hexdigest()[:12]
    root = _root(request, name)
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"venv-{tag}"
    python = venv / "bin" / "python"
    marker = venv / "installed.txt"
    with (root / ".lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if marker.exists() and marker.read_text() == pins and python.exists():
                return python
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            done = subprocess.run(
                _installer(python) + requirements,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_SECONDS,
            )
            if done.returncode:
                pytest.fail(
                    f"could not install {', '.join(requirements)} into the {name} test venv:\n"
                    + done.stderr[-3000:],
                    pytrace=False,
                )
            marker.write_text(pins)
            return python
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
