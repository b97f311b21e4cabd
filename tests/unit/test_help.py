"""The command line explains itself: `--version`, and for every command a sentence, an example
and help text for every option."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from diewell.cli import build_parser, main
from tests.conftest import REPO

COMMANDS = ["run", "check", "status", "synth", "demo", "reprocess", "report", "suites", "docs"]


def diewell(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "diewell.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_version_is_the_package_version():
    out = diewell("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"diewell {version('diewell')}"


def test_every_command_is_listed():
    assert sorted(_subparsers(build_parser())) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_a_description_and_an_example(command, monkeypatch, capsys):
    """Each command's --help, as cli.main prints it in this process (the top-level help and
    --version run the real command)."""
    p = _subparsers(build_parser())[command]
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as ended:
        main([command, "--help"])
    assert ended.value.code == 0
    text = capsys.readouterr().out
    # the sentence describing the command is printed (wrapped), and ends in a full stop
    description = " ".join(p.description.split())
    assert description.endswith(".") and len(description.split()) >= 6
    assert description in " ".join(text.split())
    [example] = [line for line in text.splitlines() if line.startswith("Example: ")]
    assert example.startswith(f"Example: diewell {command}")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_text(command):
    p = _subparsers(build_parser())[command]
    for action in p._actions:
        assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)


def test_the_top_level_help_lists_each_command_with_its_summary():
    out = diewell("--help")
    assert out.returncode == 0
    assert "Example: diewell run --config" in out.stdout
    for command in COMMANDS:
        assert f"    {command}" in out.stdout
    top = build_parser()
    assert all(a.help for a in top._actions)
