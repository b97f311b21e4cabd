"""Rewrite the back-test's ground truth from the fixed synthetic ICS; print what changed.

    .venv/bin/python tests/integration/publication/regenerate_ground_truth.py

The readable figure files (ICS and areas) are written from an independent calculation of
the published figures from the warehouse's exact counts (independent_release.py), not from
the release; the script stops without writing if the release disagrees with them. The
digests, catalogue and release summary are snapshots of the release itself.

Run it only after a deliberate change to the published figures (a new or changed indicator,
a statistical method, disclosure control, the output schema, or the synthetic generator).
Then review every changed line with `git diff tests/integration/publication/ground_truth/` - each one is
a figure the dashboard team would see change - and commit the new ground truth together with
the change that caused it, saying why in the commit message.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]  # the script is run by path: tests is not yet importable
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.integration.publication.synthetic_release import (  # noqa: E402
    GROUND_TRUTH,
    committed_ground_truth,
    describe_changes,
    independent_figure_tables,
    render_ground_truth,
    run_synthetic_ics,
)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="diewell-ground-truth-") as tmp:
        run = run_synthetic_ics(Path(tmp) / "ics")
        new = render_ground_truth(run.release)
        independent = independent_figure_tables(run.con)
        run.con.close()
    disagree = describe_changes(independent, {k: new[k] for k in independent})
    if disagree:
        print("The release disagrees with the independent calculation; nothing written:")
        print("\n".join(disagree))
        return 1
    new.update(independent)
    old = committed_ground_truth()
    GROUND_TRUTH.mkdir(parents=True, exist_ok=True)
    for name in old.keys() - new.keys():
        (GROUND_TRUTH / name).unlink()
    for name, text in new.items():
        (GROUND_TRUTH / name).write_text(text, encoding="utf-8")
    changes = describe_changes(old, new)
    if not changes:
        print(f"Ground truth unchanged ({len(new)} files in {GROUND_TRUTH.relative_to(REPO)}).")
        return 0
    print(f"Ground truth rewritten in {GROUND_TRUTH.relative_to(REPO)}:")
    print("\n".join(changes))
    print(
        "\nReview every changed line (git diff tests/integration/publication/ground_truth/) before "
        "committing it with the change that caused it."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
