"""README.md is the reference people read: its tables must say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

from pytest_flopbudget import PER_ELEMENT

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_per_element_table_is_the_code_table() -> None:
    block = README.split("<!-- per-element-table:start -->")[1].split("<!-- per-element-table:end -->")[0]
    rows = re.findall(r"^\| (\w+) \| (\d+) \|", block, flags=re.MULTILINE)
    assert {family: int(value) for family, value in rows} == PER_ELEMENT


def _ci_test_commands() -> list[str]:
    """The lines of .ci/run that run the suite: the main environment's, then the torch floor's."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    return [line for line in lines if " -m pytest " in f"{line} "]


def test_readme_gives_the_test_commands_that_ci_runs() -> None:
    commands = _ci_test_commands()
    assert len(commands) == 2, f".ci/run must run the suite twice (main environment, torch floor): {commands}"
    main, floor = commands
    readme_lines = {line.strip() for line in README.splitlines()}
    for command in commands:  # each exactly as README.md gives it, a line of its own
        assert command in readme_lines, f"README.md must give the CI test command: {command}"
    install, test = main.split(" && ")  # install what the tests need && the test command
    assert install.startswith("python3 -m pip install "), main
    assert test.startswith("python3 -m pytest "), main
    # the floor runs the same test command, with the floor virtualenv's python
    assert floor.endswith(f" && {test.replace('python3', '.floor/bin/python', 1)}"), floor
    assert floor.startswith("python3 -m venv .floor && .floor/bin/python -m pip install -e \".[test]\" "), floor


def test_ci_tests_the_torch_floor_pyproject_declares() -> None:
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (declared,) = [r for r in requirements if re.match(r"torch\b", r)]
    floor = re.search(r" torch==(\S+) ", _ci_test_commands()[1])
    assert floor, (declared, floor)
    assert declared == f"torch>={floor.group(1)}", (declared, floor)
    assert f"torch {floor.group(1)}" in README  # the supported range names it


def test_settings_table_lists_every_setting_under_its_three_spellings() -> None:
    from pytest_flopbudget.config import OPTIONS

    block = README.split("### Settings")[1].split("**Precedence")[0]
    rows = [line for line in block.splitlines() if line.startswith("| `--flopbudget-")]
    assert len(rows) == len(OPTIONS), rows
    for option, row in zip(OPTIONS, rows):  # in the order --help lists them
        cells = row.split(" | ")
        assert cells[0].startswith(f"| `{option.cli}"), (option.key, row)
        assert cells[1].startswith(f"`{option.ini} = "), (option.key, row)
        assert cells[2].startswith(f"`{option.key} = "), (option.key, row)


def test_budget_tables_section_names_every_table_and_limit() -> None:
    from pytest_flopbudget.budget import LIMITS
    from pytest_flopbudget.tables import TABLE_KEYS

    section = README.split("### Budget tables")[1].split("### The baseline")[0]
    for key in TABLE_KEYS:
        assert f"[tool.flopbudget.{key}" in section, key
    for limit in LIMITS:
        assert f"`{limit}`" in section, limit
