"""Day one: a valid ICS whose providers have sent nothing yet (issue 11, 13).

The run says plainly that nothing has been delivered and there is nothing to publish, ends
with exit code 0 (nothing is wrong), publishes nothing and leaves `current` untouched.
"""

from __future__ import annotations

from diewell.config import load_config
from tests.system.tiny_cli import cli_env, deaths_ics, run_diewell


def test_a_run_before_anything_is_delivered_says_so_and_publishes_nothing(tmp_path):
    ics = deaths_ics(tmp_path / "ics", delivered=False)  # one ICB provider, empty landing
    config = load_config(ics.config_path)
    done = run_diewell(
        "run", "--config", str(ics.config_path), env=cli_env(tmp_path / "prefect-home")
    )
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert "AuditFailed" not in out
    assert done.returncode == 0, out[-3000:]
    assert "Nothing published: nothing has been delivered yet" in done.stdout
    assert not (config.outputs / "current").exists()
    releases = config.outputs / "releases"
    assert not releases.exists() or not any(releases.iterdir())
