"""``python -m pytest_flopbudget compare``: two runs side by side, its exit status and its Markdown.

nn.Linear(64, 32) on 4 x 64: 8192 MACs, 2 * 8192 + 4 * 32 = 16512 FLOPs (full), 2080 params.
nn.Linear(64, 40): 10240 MACs, 20640 FLOPs, 2600 params: +25.0% on each count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_support import run

import pytest_flopbudget

#: test_grows measures nn.Linear(64, <the number in the file "width">); test_mlp's last layer is as wide.
SESSION = """
from pathlib import Path

WIDTH = int(Path("width").read_text()) if Path("width").exists() else 32

def test_grows():
    nn.Linear(64, WIDTH)(X)

def test_mlp():
    torch.manual_seed(0)
    nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, WIDTH // 2))(X)

def test_same():
    linear()(X)
"""


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, run from the pytest_flopbudget this session imported (not whatever else is installed)."""
    source = str(Path(pytest_flopbudget.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pytest_flopbudget", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def two_runs(pytester: pytest.Pytester, width: int, extra: str = "") -> None:
    """old.json at width 32, new.json at ``width`` (with ``extra`` tests added to the new run only)."""
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=old.json")
    pytester.path.joinpath("width").write_text(str(width))
    run(pytester, SESSION + extra, "--flopbudget-watch=all", "--flopbudget-json=new.json")


def test_growth_exits_1_with_each_count_before_and_after(pytester: pytest.Pytester) -> None:
    two_runs(pytester, 40)
    process = cli(pytester.path, "compare", "old.json", "new.json")
    assert process.returncode == 1, process.stderr
    lines = process.stdout.splitlines()
    grows = next(line for line in lines if line.startswith("test_model.py::test_grows "))
    assert grows.split()[3:] == ["1.65e-05", "->", "2.06e-05", "(+25.0%)", "8.19e-06", "->", "1.02e-05", "(+25.0%)",
                                 "2.08K", "->", "2.60K", "(+25.0%)", "grew"]
    same = next(line for line in lines if line.startswith("test_model.py::test_same "))
    assert same.split()[3:] == ["1.65e-05", "(=)", "8.19e-06", "(=)", "2.08K", "(=)", "equal"]
    # test_mlp's last layer, Linear(32, 16) -> Linear(32, 20) on 4 x 32: 2 * 4*32*16 + 4*16 = 4160 FLOPs ->
    # 2 * 4*32*20 + 4*20 = 5200 FLOPs (+1040); the first layer and the ReLU did not move.
    assert "test_model.py::test_mlp Sequential [4x64]: where the FLOPs moved" in lines
    assert "  2 (Linear) 4.16K -> 5.20K FLOPs (+1.04K)" in lines
    assert lines[-1] == ("3 measurements: 2 grew, 1 equal; 2 failing (grew beyond the tolerance of 0%, or "
                         "unmatched)")


def test_within_the_tolerance_exits_0(pytester: pytest.Pytester) -> None:
    two_runs(pytester, 40)
    process = cli(pytester.path, "compare", "old.json", "new.json", "--tolerance", "25%")
    assert process.returncode == 0, process.stdout  # +25.0% exactly is not beyond 25%
    assert process.stdout.splitlines()[-1].endswith("nothing grew beyond the tolerance of 25%")


def test_new_removed_and_unmatched_measurements(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION + "\ndef test_gone():\n    linear()(X)\n", "--flopbudget-watch=all",
        "--flopbudget-json=old.json")
    # test_grows now measures an 8 x 64 input: its key changes, which the old run cannot compare (unmatched)
    run(pytester, SESSION.replace("nn.Linear(64, WIDTH)(X)", "nn.Linear(64, WIDTH)(torch.randn(8, 64))")
        + "\ndef test_new():\n    linear()(X)\n", "--flopbudget-watch=all", "--flopbudget-json=new.json")
    process = cli(pytester.path, "compare", "old.json", "new.json")
    assert process.returncode == 1
    rows = process.stdout.splitlines()
    assert any(row.startswith("test_model.py::test_grows  Linear [8x64]") and row.endswith("unmatched") for row in rows)
    assert any(row.startswith("test_model.py::test_grows  Linear [4x64]") and row.endswith("removed") for row in rows)
    assert any(row.startswith("test_model.py::test_new   ") and row.endswith("new") for row in rows)
    assert any(row.startswith("test_model.py::test_gone  ") and row.endswith("removed") for row in rows)


def test_a_baseline_can_be_the_old_side_and_markdown_is_a_table(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-baseline=b.json", "--flopbudget-update")
    pytester.path.joinpath("width").write_text("40")
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=new.json", "-p", "no:randomly")
    process = cli(pytester.path, "compare", "b.json", "new.json", "--markdown")
    assert process.returncode == 1
    lines = process.stdout.splitlines()
    assert lines[0] == "## flop budget: compared"
    assert "| test | measurement | GFLOPs | GMACs | params | status |" in lines
    row = next(line for line in lines if line.startswith("| test_model.py::test_grows |"))
    # ">" is written as an entity in a Markdown cell (GitHub shows "->")
    assert row == ("| test_model.py::test_grows | Linear [4x64] | 1.65e-05 -&gt; 2.06e-05 (+25.0%) | "
                   "8.19e-06 -&gt; 1.02e-05 (+25.0%) | 2.08K -&gt; 2.60K (+25.0%) | grew |")
    assert "where the FLOPs moved" not in process.stdout  # a baseline has no per-module breakdown


@pytest.mark.parametrize(("args", "says"), [
    (("compare", "missing.json", "new.json"), "cannot read missing.json"),
    (("compare", "notours.json", "new.json"), "notours.json is not a --flopbudget-json file"),
    (("compare", "new.json", "new.json", "--tolerance", "-1"), "--tolerance '-1': expected a percentage"),
])
def test_errors_are_one_line(pytester: pytest.Pytester, args: tuple[str, ...], says: str) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=new.json")
    pytester.path.joinpath("notours.json").write_text(json.dumps({"schema": "something-else"}))
    process = cli(pytester.path, *args)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    [line] = process.stderr.splitlines()
    assert line.startswith("python -m pytest_flopbudget compare: error: "), line
    assert says in line, line


def test_runs_under_two_conventions_compare_macs_and_params_and_move_no_module(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=old.json")
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=new.json", "--flopbudget-convention=matmul")
    process = cli(pytester.path, "compare", "old.json", "new.json")
    assert process.returncode == 0, process.stdout  # FLOPs under matmul leave out bias adds: not a growth
    assert "(other convention)" in process.stdout
    assert "where the FLOPs moved" not in process.stdout


def test_an_output_that_is_an_input_is_refused(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=run.json")
    before = pytester.path.joinpath("run.json").read_text()
    for command in ("merge", "baseline", "html"):
        process = cli(pytester.path, command, "run.json", "-o", "run.json")
        assert process.returncode == 2, command
        assert "-o run.json is one of the input files: it would be overwritten" in process.stderr
    assert pytester.path.joinpath("run.json").read_text() == before


def test_markdown_cells_carry_markup_as_text(pytester: pytest.Pytester) -> None:
    source = SESSION + '''
@pytest.mark.parametrize("tag", ["<b>x</b>&y"])
def test_tagged(tag):
    linear()(X)
'''
    run(pytester, source, "--flopbudget-watch=all", "--flopbudget-json=old.json")
    run(pytester, source, "--flopbudget-watch=all", "--flopbudget-json=new.json")
    process = cli(pytester.path, "compare", "old.json", "new.json", "--markdown")
    row = next(line for line in process.stdout.splitlines() if "test_tagged" in line)
    assert row.startswith("| test_model.py::test_tagged[&lt;b&gt;x&lt;/b&gt;&amp;y] |"), row
