"""Back-test: the published outputs of the fixed synthetic ICS against reviewed ground truth.

Any change to a published figure - a count, a value, an interval, a suppression, a trend, a
comparison, the catalogue or the release's shape - makes this test fail until the ground
truth in tests/integration/publication/ground_truth/ is regenerated and the diff reviewed.
"""

from __future__ import annotations

from tests.integration.publication.synthetic_release import (
    GROUND_TRUTH,
    REGENERATE,
    committed_ground_truth,
    describe_changes,
    render_ground_truth,
)


def test_published_outputs_match_the_reviewed_ground_truth(synthetic_run):
    changes = describe_changes(committed_ground_truth(), render_ground_truth(synthetic_run.release))
    assert not changes, (
        "The published outputs of the fixed synthetic ICS differ from the reviewed ground "
        "truth:\n"
        + "\n".join(changes)
        + "\n\nIf this change to published figures is intended, regenerate the ground truth "
        f"with\n    {REGENERATE}\nthen review every changed line "
        "(git diff tests/integration/publication/ground_truth/) and commit it with the change that caused "
        "it. If it is not intended, the change has broken a published figure."
    )


def test_the_ground_truth_stays_small_and_leaves_out_run_specific_fields():
    files = committed_ground_truth()
    assert set(files) == {
        "ics_latest_periods.csv",
        "areas_latest_rolling_12m.csv",
        "digests.csv",
        "indicator_catalogue.csv",
        "release.json",
    }
    assert sum(len(text.encode("utf-8")) for text in files.values()) < 300_000
    for name, text in files.items():
        assert "run_id" not in text and "created_at" not in text, name
    assert (GROUND_TRUTH / "README.md").is_file()
