"""The session state without a pytest session: the changes it owns, what survives the trip from an xdist worker
to the controller, and a plugin import that leaves torch alone."""

from __future__ import annotations

import subprocess
import sys

from pytest_flopbudget.config import Settings
from pytest_flopbudget.state import Measurement, SessionState


def test_the_session_state_owns_its_changes() -> None:
    from pytest_flopbudget.config import Settings
    from pytest_flopbudget.state import SessionState

    worker = SessionState(Settings(), outcomes={"t.py::a": "passed"})
    worker.remember_collected(["t.py::a", "t.py::b", "u.py::c"], ["u.py"])
    worker.problem("a problem")
    worker.problem("a problem")  # said once
    controller = SessionState(Settings())
    controller.merge(worker.payload())
    controller.lose_worker("gw1")
    assert controller.outcomes == {"t.py::a": "passed"}
    assert controller.problems == ["a problem"]
    assert controller.lost_workers == ["gw1"]
    assert controller.whole_files_collected() == ["t.py::a", "t.py::b"]  # u.py was collected only in part


def round_trip(measurements: list[Measurement]) -> list[Measurement]:
    """What a worker ships and the controller reads back."""
    worker, controller = SessionState(Settings(), measurements=measurements), SessionState(Settings())
    controller.merge(worker.payload())
    return controller.measurements


def test_skipped_status_survives_the_xdist_round_trip() -> None:
    from test_budget import make_report

    from pytest_flopbudget.budget import Budget

    report = make_report()
    budget = Budget(max_params=1040)
    measurement = Measurement("t.py::test_a", "watch", report, budget, violations=budget.check(report), skipped=True)
    assert measurement.status == "skipped"
    [back] = round_trip([measurement])
    assert back == measurement
    assert back.status == "skipped"
    assert back.violations == measurement.violations
    ran = Measurement("t.py::test_b", "watch", report, budget, violations=budget.check(report))
    [back] = round_trip([ran])
    assert back.status == "over"
    assert not back.skipped


def test_importing_the_plugin_does_not_import_torch() -> None:
    code = "import sys, pytest_flopbudget.plugin; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
