"""The summary's lines (``pytest_flopbudget.summary.lines``) from a plain session state, without a pytest
session."""

from __future__ import annotations

from pytest_flopbudget.summary import lines


def test_problems_are_noted_at_every_verbosity_and_the_table_is_not() -> None:
    from pytest_flopbudget.config import Settings
    from pytest_flopbudget.state import SessionState

    state = SessionState(Settings(origins={"convention": "default", "disable": "default"}),
                         lost_workers=["gw1"], json_written=None, problems=["could not write m.json: OSError: full"])
    problems = ["measurements missing from crashed xdist workers: gw1", "could not write m.json: OSError: full"]
    for verbose in (-2, -3, -10):
        assert lines(state, verbose) == problems
    for verbose in (-1, 0, 1):
        assert lines(state, verbose)[-2:] == problems
    written = SessionState(Settings(origins={"convention": "default"}), json_written="m.json")
    assert lines(written, -2) == []
    assert lines(written, -1) == ["measurements written to m.json"]
    disabled = SessionState(Settings(disable=True, origins={"disable": "command line"}), lost_workers=["gw0"])
    assert lines(disabled, -2) == ["measurements missing from crashed xdist workers: gw0"]
