"""Where the bench writes its figures: only a complete full run replaces the committed one."""

import pytest

from bench.report import RESULTS_DIR, results_path


@pytest.mark.parametrize(
    ("complete", "quick", "name"),
    [(True, True, "quick.json"), (False, False, "partial.json"), (False, True, "partial.json")],
)
def test_quick_and_partial_runs_leave_the_committed_run_alone(
    complete: bool, quick: bool, name: str
) -> None:
    path = results_path(complete=complete, quick=quick)
    assert path.name == name and path.parent != RESULTS_DIR


def test_a_complete_full_run_is_the_committed_one() -> None:
    assert results_path(complete=True, quick=False) == RESULTS_DIR / "latest.json"
