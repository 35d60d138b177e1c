"""``--flopbudget-html``, ``python -m pytest_flopbudget html`` and the page in a real headless browser.

By hand (full convention): nn.Linear(64, 32) on 4 x 64 does 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 bias adds =
16512 FLOPs and has 64 * 32 + 32 = 2080 params. The MLP Linear(64, 32), ReLU, Linear(32, 16), Dropout adds the ReLU's
4 * 32 = 128 FLOPs and Linear(32, 16) on 4 x 32: 4 * 32 * 16 = 2048 MACs, 2 * 2048 + 4 * 16 = 4160 FLOPs, 32 * 16 + 16
= 528 params; the Dropout (eval) costs nothing: 20800 FLOPs, 10240 MACs, 2608 params, four modules with FLOPs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from plugin_support import HEADER, run

import pytest_flopbudget

HOSTILE = "</script><img src=x onerror=alert(1)>"

SESSION = f"""
@pytest.mark.flop_budget(max_params=2000)
def test_over():
    linear()(X)

def test_mlp():
    torch.manual_seed(0)
    nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Dropout()).eval()(X)

@pytest.mark.parametrize("name", [{HOSTILE!r}])
def test_x(name):
    linear()(X)
"""

IDS = ["test_model.py::test_over", "test_model.py::test_mlp", f"test_model.py::test_x[{HOSTILE}]"]


class Page(HTMLParser):
    """The table rows' test ids, the embedded data, and each tag's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.row_ids: list[str | None] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: list[dict[str, Any]] | None = None
        self._json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "tr" and "data-test-id" in attributes:
            self.row_ids.append(attributes["data-test-id"])
        self._json = tag == "script" and attributes.get("type") == "application/json"

    def handle_data(self, data: str) -> None:
        if self._json:
            self.data = json.loads(data)
            self._json = False


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def costly(page: Page) -> int:
    """Modules with FLOPs, over every measurement of the embedded data: one rectangle each."""
    assert page.data is not None
    return sum(1 for m in page.data for module in m["modules"] if module[2] > 0)


def check_page(text: str) -> Page:
    page = parse(text)
    assert page.row_ids == IDS  # over budget first, then test order
    assert page.data is not None
    assert [m["test"] for m in page.data] == IDS
    assert [(m["flops"], m["macs"], m["params"]) for m in page.data] == [
        (16512, 8192, 2080), (20800, 10240, 2608), (16512, 8192, 2080)]
    modules = {row[0]: row[1:] for row in page.data[1]["modules"]}
    assert modules[""][:4] == ["Sequential", 20800, 10240, 2608]
    assert modules["0"][:4] == ["Linear", 16512, 8192, 2080]
    assert modules["1"][:4] == ["ReLU", 128, 0, 0]
    assert modules["2"][:4] == ["Linear", 4160, 2048, 528]
    assert modules["3"][:4] == ["Dropout", 0, 0, 0]
    assert costly(page) == 1 + 4 + 1
    assert "<img" not in text
    return page


def test_html_from_the_command_line(pytester: pytest.Pytester,
                                    session_runner: Callable[..., pytest.RunResult]) -> None:
    result = session_runner(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-html=out/report.html")
    result.assert_outcomes(passed=2, failed=1)
    path = pytester.path / "out" / "report.html"
    result.stdout.fnmatch_lines([f"HTML report written to {path}"])
    check_page(path.read_text(encoding="utf-8"))


def test_html_from_ini_is_relative_to_the_ini_file(pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "pytest.ini").write_text("[pytest]\nflopbudget_html = reports/page.html\nflopbudget_watch = all\n")
    pytester.makepyfile(test_model=HEADER + SESSION)
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    result = pytester.runpytest("-p", "no:cacheprovider", str(pytester.path / "test_model.py"))
    result.assert_outcomes(passed=2, failed=1)
    check_page((pytester.path / "reports" / "page.html").read_text(encoding="utf-8"))


def test_html_and_json_on_one_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    (pytester.path / "pytest.ini").write_text("[pytest]\nflopbudget_html = out.json\n")
    result = run(pytester, "def test_a():\n    pass\n", "--flopbudget-json=out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "html from ini and json from command line name the same file" in result.stderr.str()


@pytest.mark.parametrize(("value", "error"), [("out/", "ends with a path separator"), (".", "is a directory")])
def test_a_bad_html_path_is_a_usage_error(pytester: pytest.Pytester, value: str, error: str) -> None:
    result = run(pytester, "def test_a():\n    pass\n", f"--flopbudget-html={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"invalid --flopbudget-html {value!r} from command line" in result.stderr.str()
    assert error in result.stderr.str()


def test_an_unwritable_html_path_fails_the_session(pytester: pytest.Pytester) -> None:
    (pytester.path / "blocker").write_text("a file where a directory should be")
    result = run(pytester, "def test_a():\n    linear()(X)\n", "--flopbudget-watch=all",
                 "--flopbudget-html=blocker/page.html")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, output
    assert "Traceback" not in output
    assert "could not write" in output
    assert "blocker/page.html" in output
    assert (pytester.path / "blocker").read_text() == "a file where a directory should be"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, run from the pytest_flopbudget this session imported (not whatever else is installed)."""
    source = str(Path(pytest_flopbudget.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "pytest_flopbudget", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def test_html_command_from_json_files(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=run.json",
        "--flopbudget-html=plugin.html").assert_outcomes(passed=2, failed=1)
    process = cli(pytester.path, "html", "run.json", "-o", "cli.html")
    assert process.returncode == 0, process.stderr
    assert process.stdout == "HTML report of 3 measurements written to cli.html\n"
    page = check_page((pytester.path / "cli.html").read_text(encoding="utf-8"))
    plugin = parse((pytester.path / "plugin.html").read_text(encoding="utf-8"))
    assert page.data == plugin.data  # the same page as the plugin's (title aside)


def test_html_command_merges_shards(pytester: pytest.Pytester) -> None:
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=a.json", "-k", "test_over or test_mlp")
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-json=b.json", "-k", "test_x")
    process = cli(pytester.path, "html", "a.json", "b.json", "-o", "page.html")
    assert process.returncode == 0, process.stderr
    text = (pytester.path / "page.html").read_text(encoding="utf-8")
    check_page(text)
    assert "merged from a.json, b.json" in text
    # a test in two shards, and a file that is not ours, are one line and exit 2
    process = cli(pytester.path, "html", "a.json", "a.json", "-o", "twice.html")
    assert process.returncode == 2
    assert "ran in two shards" in process.stderr
    (pytester.path / "other.json").write_text("{}")
    process = cli(pytester.path, "html", "other.json", "-o", "other.html")
    assert process.returncode == 2
    assert "is not a --flopbudget-json file" in process.stderr
    assert not (pytester.path / "twice.html").exists()
    assert not (pytester.path / "other.html").exists()


# ------------------------------------------------------------------------------------------------ the browser

#: Appended to a copy of the page, after its own script: drive the page as a person would and write down what
#: happened on <body>, where --dump-dom shows it.
DRIVE = """<script>
(function () {
  var body = document.body, mlp = document.getElementById("m1");
  function click(element) { element.dispatchEvent(new MouseEvent("click", {bubbles: true})); }
  function rects() { return mlp.querySelectorAll("rect").length; }
  var seen = [rects()];
  click(mlp.querySelector('button[data-metric="params"]')); seen.push(rects());
  click(mlp.querySelector('button[data-metric="flops"]')); seen.push(rects());
  click(mlp.querySelector('rect[data-module="0"]')); seen.push(rects());
  seen.push(mlp.querySelectorAll(".crumbs button").length);
  click(mlp.querySelector(".crumbs button")); seen.push(rects());
  body.setAttribute("data-drive-rects", seen.join(","));
  var sort = document.querySelectorAll("#session thead button")[3];  // GFLOPs
  click(sort);
  body.setAttribute("data-drive-ascending", Array.prototype.map.call(
    document.querySelectorAll("#session tbody tr"), function (tr) { return tr.getAttribute("data-index"); }).join(","));
  click(sort);
  body.setAttribute("data-drive-descending", Array.prototype.map.call(
    document.querySelectorAll("#session tbody tr"), function (tr) { return tr.getAttribute("data-index"); }).join(","));
})();
</script>
"""


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no chromium or chromium-browser on PATH (Debian: apt-get install chromium)")
    return found


def dump_dom(executable: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console messages chromium logged (every level)."""
    process = subprocess.run(
        [executable, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout, [line for line in process.stderr.splitlines() if ":CONSOLE" in line]


def test_the_page_in_a_headless_browser(pytester: pytest.Pytester, tmp_path: Path) -> None:
    executable = browser()
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-html=report.html").assert_outcomes(passed=2,
                                                                                                      failed=1)
    path = pytester.path / "report.html"
    check_page(path.read_text(encoding="utf-8"))
    dom, console = dump_dom(executable, path, tmp_path / "profile")
    assert console == []  # no error, no warning, no Content-Security-Policy violation: nothing at all
    page = parse(dom)
    body = next(attributes for tag, attributes in page.tags if tag == "body")
    assert body.get("data-flopbudget-rendered") == "3", body  # the script ran to its end
    assert page.row_ids == IDS  # every test id, as text (the hostile one made no <img>)
    assert not any(tag == "img" for tag, _ in page.tags)
    modules = [attributes.get("data-module") for tag, attributes in page.tags if tag == "rect"]
    assert dom.count("<rect") == len(modules) == costly(page) == 6
    assert sorted(modules, key=str) == sorted(["", "", "0", "1", "2", ""], key=str)
    titles = dom.split('data-module="0"', 1)[1].split("</title>", 1)[0]
    assert "FLOPs: 16,512 (79.4% of the model)" in titles
    assert "params: 2,080" in titles


def test_the_page_reacts_to_clicks(pytester: pytest.Pytester, tmp_path: Path) -> None:
    executable = browser()
    run(pytester, SESSION, "--flopbudget-watch=all", "--flopbudget-html=report.html")
    text = (pytester.path / "report.html").read_text(encoding="utf-8")
    driven = tmp_path / "driven.html"
    driven.write_text(text.replace("</body>", DRIVE + "</body>"), encoding="utf-8")
    dom, console = dump_dom(executable, driven, tmp_path / "profile")
    assert console == []
    body = next(attributes for tag, attributes in parse(dom).tags if tag == "body")
    # the MLP: 4 rects by FLOPs, 3 by params (ReLU has none), 4 again; zoomed into 0: 1 rect and the crumbs
    # (model) / 0; the first crumb zooms out to 4 again
    assert body.get("data-drive-rects") == "4,3,4,1,2,4", body
    # GFLOPs ascending: the two Linears (16512, in table order) then the MLP (20800); descending: the reverse
    assert body.get("data-drive-ascending") == "0,2,1", body
    assert body.get("data-drive-descending") == "1,2,0", body
