"""README.md is the reference people read: its tables must say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_flopbudget import PER_ELEMENT

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_per_element_table_is_the_code_table() -> None:
    block = README.split("<!-- per-element-table:start -->")[1].split("<!-- per-element-table:end -->")[0]
    rows = re.findall(r"^\| (\w+) \| (\d+) \|", block, flags=re.MULTILINE)
    assert {family: int(value) for family, value in rows} == PER_ELEMENT


def test_readme_gives_the_test_command_that_ci_runs() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1].strip()
    assert command in README, f"README.md must give the CI test command: {command}"
