"""The HTML page (pytest_flopbudget.html), rendered from plain Measurements and Reports: no torch, no pytest session.

Counts, by hand (full convention): nn.Linear(64, 32) on 4 x 64 does 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 bias
adds = 16512 FLOPs, and has 64 * 32 + 32 = 2080 params. An MLP Linear(64, 32), ReLU, Linear(32, 16), Dropout on
4 x 64: the ReLU 4 * 32 = 128 FLOPs; Linear(32, 16) on 4 x 32 does 2048 MACs, 2 * 2048 + 4 * 16 = 4160 FLOPs, and has
32 * 16 + 16 = 528 params; the Dropout (eval) nothing. The model: 16512 + 128 + 4160 = 20800 FLOPs, 10240 MACs, 2608
params; four modules (the model, 0, 1, 2) with FLOPs, three (the model, 0, 2) with params.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from pytest_flopbudget.budget import Budget
from pytest_flopbudget.config import Settings
from pytest_flopbudget.engine.report import ModuleStats, Report
from pytest_flopbudget.html import RENDERED_ATTRIBUTE, render, script_json
from pytest_flopbudget.state import Measurement, SessionState
from pytest_flopbudget.summary import HEADER

HOSTILE = "test_model.py::test_x[</script><img src=x onerror=alert(1)>]"


def linear_report() -> Report:
    return Report(model="Linear", convention="full", flops=16512, macs=8192, params=2080, trainable_params=2080,
                  frozen_params=0, buffers=0, param_bytes=8320, input_shapes=[[4, 64]],
                  modules={"": ModuleStats("Linear", 16512, 8192, 2080, 1)})


def mlp_report() -> Report:
    return Report(model="Sequential", convention="full", flops=20800, macs=10240, params=2608, trainable_params=2608,
                  frozen_params=0, buffers=0, param_bytes=10432, input_shapes=[[4, 64]], modules={
                      "": ModuleStats("Sequential", 20800, 10240, 2608, 1),
                      "0": ModuleStats("Linear", 16512, 8192, 2080, 1),
                      "1": ModuleStats("ReLU", 128, 0, 0, 1),
                      "2": ModuleStats("Linear", 4160, 2048, 528, 1),
                      "3": ModuleStats("Dropout", 0, 0, 0, 1),
                  })


def measured(test_id: str, report: Report, position: int, budget: Budget | None = None) -> Measurement:
    return Measurement(test_id, "watch", report, budget=budget,
                       violations=[] if budget is None else budget.check(report), position=position)


def session(*measurements: Measurement) -> SessionState:
    return SessionState(Settings(), measurements=list(measurements))


class Page(HTMLParser):
    """What the tests look at: the table's header and rows, the script blocks, every tag's attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.header: list[str] = []
        self.rows: list[dict[str, str | None]] = []
        self.cells: list[list[str]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._stack: list[str] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._stack.append(tag)
        if tag == "script":
            self._script, self._text = attributes, []
        elif tag == "tr" and "tbody" in self._stack:
            self.rows.append(attributes)
            self.cells.append([])
        elif tag in ("td", "th"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None
        elif tag == "th" and "thead" in self._stack:
            self.header.append("".join(self._text).strip())
        elif tag == "td" and "tbody" in self._stack:
            self.cells[-1].append("".join(self._text).strip())
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def embedded(page: Page) -> list[dict[str, Any]]:
    (block,) = [text for attributes, text in page.scripts if attributes.get("type") == "application/json"]
    data: list[dict[str, Any]] = json.loads(block)
    return data


def test_the_table_is_static_html_with_every_column_and_every_test() -> None:
    text = render(session(measured("test_model.py::test_linear", linear_report(), 0),
                          measured("test_model.py::test_mlp", mlp_report(), 1)))
    page = parse(text)
    assert text.startswith("<!DOCTYPE html>")
    assert page.header == list(HEADER)
    assert [row["data-test-id"] for row in page.rows] == ["test_model.py::test_linear", "test_model.py::test_mlp"]
    assert page.cells[0] == ["test_model.py::test_linear", "Linear", "4x64", "1.65e-05", "8.19e-06", "2.08K", "-",
                             "-", "-"]
    # numeric columns sort by the exact counts, not by the rounded text
    numbers = re.findall(r'data-sort="(\d+)"', text.split("test_mlp", 1)[1].split("</tr>", 1)[0])
    assert numbers[:3] == ["20800", "10240", "2608"]
    assert f'<body {RENDERED_ATTRIBUTE}' not in text  # the marker is the script's to set, after drawing


def test_self_contained_nothing_fetched() -> None:
    text = render(session(measured("test_model.py::test_linear", linear_report(), 0)))
    page = parse(text)
    assert [tag for tag, attributes in page.tags if "src" in attributes or "href" in attributes] == ["a"]
    assert all(str(attributes["href"]).startswith("#") for tag, attributes in page.tags if tag == "a")
    assert "<link" not in text
    assert "@import" not in text
    assert "url(" not in text
    csp = next(attributes for tag, attributes in page.tags if attributes.get("http-equiv") ==
               "Content-Security-Policy")
    assert "default-src 'none'" in str(csp["content"])


def test_a_hostile_test_id_is_text_everywhere() -> None:
    hostile = measured(HOSTILE, linear_report(), 0)
    hostile.report.name = "<b>name</b>"
    hostile.report.modules["<i>sub</i>"] = ModuleStats("</script>", 1, 0, 0, 1)
    text = render(session(hostile))
    assert "<img" not in text
    assert "<b>" not in text
    assert "<i>" not in text
    assert text.count("</script>") == 2  # the data block's end and the code's end: nothing in between closes one
    assert text.lower().count("<script") == 2
    page = parse(text)
    assert [row["data-test-id"] for row in page.rows] == [HOSTILE]
    assert page.cells[0][0] == HOSTILE
    assert page.cells[0][1] == "<b>name</b>"
    (data,) = embedded(page)  # the JSON gives the strings back exactly
    assert data["test"] == HOSTILE
    assert data["label"] == "<b>name</b>"
    assert ["<i>sub</i>", "</script>", 1, 0, 0, 1] in data["modules"]


def test_script_json_escapes_what_could_end_the_block() -> None:
    text = script_json({"a": "</script><!--<script>&amp;\u2028"})
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!--<script>&amp;\u2028"}


def test_one_map_per_measurement_with_one_rect_per_module_that_costs() -> None:
    text = render(session(measured("test_model.py::test_linear", linear_report(), 0),
                          measured("test_model.py::test_mlp", mlp_report(), 1)))
    page = parse(text)
    linear, mlp = embedded(page)
    assert (linear["flops"], linear["macs"], linear["params"]) == (16512, 8192, 2080)
    assert linear["modules"] == [["", "Linear", 16512, 8192, 2080, 1]]
    assert (mlp["flops"], mlp["macs"], mlp["params"]) == (20800, 10240, 2608)
    assert [name for name, _, flops, *_ in mlp["modules"] if flops > 0] == ["", "0", "1", "2"]
    assert [name for name, _, _, _, params, _ in mlp["modules"] if params > 0] == ["", "0", "2"]
    # children fit in their parent: the icicle's widths add up
    assert sum(row[2] for row in mlp["modules"] if row[0]) == mlp["flops"]
    maps = [attributes for tag, attributes in page.tags if tag == "div" and attributes.get("class") == "map"]
    assert [m["data-index"] for m in maps] == ["0", "1"]
    toggles = [attributes["data-metric"] for tag, attributes in page.tags
               if tag == "button" and attributes.get("class") == "metric"]
    assert toggles == ["flops", "params"] * 2


def test_over_budget_rows_come_first() -> None:
    fits = Budget(max_gflops=1)
    over = Budget(max_params=2000)  # 2080 params
    text = render(session(measured("test_model.py::test_a", linear_report(), 0, fits),
                          measured("test_model.py::test_b", mlp_report(), 1),
                          measured("test_model.py::test_c", linear_report(), 2, over)))
    page = parse(text)
    assert [row["data-test-id"] for row in page.rows] == ["test_model.py::test_c", "test_model.py::test_a",
                                                          "test_model.py::test_b"]
    assert [cells[-1] for cells in page.cells] == ["OVER", "ok", "-"]
    assert [cells[-2] for cells in page.cells][0] == "104%"
    assert "<strong>1</strong> over budget" in text
    assert "<li>Linear: 2.08K params &gt; max_params=2.00K (+4%)</li>" in text  # the violation, in its section
    # the sections follow the table's order, so the table's links land on the right map
    assert [data["test"] for data in embedded(page)] == ["test_model.py::test_c", "test_model.py::test_a",
                                                         "test_model.py::test_b"]


def test_unsupported_ops_are_shown_at_the_top_and_in_the_section() -> None:
    report = mlp_report()
    report.unsupported = {"aten.mystery": 3}
    text = render(session(measured("test_model.py::test_mlp", report, 0)))
    top = text.split('id="uncounted"', 1)[1].split("</div>", 1)[0]
    assert "1 measurement with ops that were not counted" in top
    assert "<code>aten.mystery</code> &times;3" in top
    section = text.split('id="m0"', 1)[1]
    assert 'class="alert"' in section
    assert "aten.mystery" in section
    assert parse(text).cells[0][-1] == "- (!)"


def test_no_measurements() -> None:
    text = render(session())
    assert "No measurements." in text
    assert "<table" not in text
    assert embedded(parse(text)) == []


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_the_convention_and_mode_are_said(mode: str) -> None:
    state = SessionState(Settings(convention="matmul", mode=mode),
                         measurements=[measured("t.py::t", linear_report(), 0)])
    text = render(state, notes=["a note <with> markup"])
    assert "<code>matmul</code> convention" in text
    assert ("mode warn" in text) == (mode == "warn")
    assert "a note &lt;with&gt; markup" in text
