"""The pure functions of ``pytest_flopbudget.baseline``: compare, growth texts, measurement keys, update and unused
entries, gone tests, and the file's text and parsing, checked without a pytest session.

Every number is derived by hand:

- ``nn.Linear(64, 32)`` on 4 x 64: 4 * 64 * 32 = 8192 MACs, 2 * 8192 + 4 * 32 bias adds = 16512 FLOPs ('full'),
  16384 ('matmul'), 64 * 32 + 32 = 2080 params.
- ``nn.Linear(64, 40)``: 4 * 64 * 40 = 10240 MACs, 2 * 10240 + 160 = 20640 FLOPs, 64 * 40 + 40 = 2600 params:
  +25% on every count (20640 / 16512 = 10240 / 8192 = 2600 / 2080 = 1.25).
- ``nn.Linear(64, 30)``: 7680 MACs, 2 * 7680 + 120 = 15480 FLOPs, 64 * 30 + 30 = 1950 params: -6.25% on every
  count, which Python's ``format(-6.25, "+.1f")`` rounds (half to even on the binary value) to "-6.2".

Short forms: 16512 FLOPs = 1.65e-05 GFLOPs, 20640 = 2.06e-05; 8192 MACs = 8.19e-06 GMACs, 10240 = 1.02e-05;
2080 params = 2.08K, 2600 = 2.60K.

The entries, texts and ``text_of`` shared with the integration tests are in tests/baseline_support.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from baseline_support import E32, GROWTH_25, SCHEMA, UPDATED_32_TO_40, text_of

from pytest_flopbudget import baseline as bl


def report(flops: int = 16512, macs: int = 8192, params: int = 2080, convention: str = "full",
           label: str = "Linear", shapes: tuple = ((4, 64),)) -> Any:
    return SimpleNamespace(flops=flops, macs=macs, params=params, convention=convention, label=label,
                           input_shapes=[list(shape) for shape in shapes])


ENTRY = bl.Entry("full", 16512, 8192, 2080)


def test_compare_statuses() -> None:
    assert bl.compare("k", report(), None, 0).status == "new"
    assert bl.compare("k", report(), None, 0).text() == "new"
    equal = bl.compare("k", report(), ENTRY, 0)
    assert (equal.status, equal.text(), equal.growth) == ("equal", "=", ())
    shrank = bl.compare("k", report(15480, 7680, 1950), ENTRY, 0)
    assert (shrank.status, shrank.text()) == ("shrank", "-6.2%")
    grew = bl.compare("k", report(20640, 10240, 2600), ENTRY, 0)
    assert grew.status == "grew"
    assert [g.render() for g in grew.growth] == GROWTH_25
    # Rose within the tolerance: changed. Mixed (one up, one down): changed, or grew if the rise is too much.
    assert bl.compare("k", report(20640, 10240, 2600), ENTRY, 25).status == "changed"
    assert bl.compare("k", report(16512, 8192, 2081), ENTRY, 1).status == "changed"
    mixed = bl.compare("k", report(16512, 8000, 2100), ENTRY, 0)
    assert mixed.status == "grew"
    assert [g.count for g in mixed.growth] == ["params"]
    assert mixed.text() == "-2.3% MACs"  # the first moved count: 8000 / 8192 = 0.9766
    # +1.0% params: 2101 / 2080 = 1.0101.
    assert bl.compare("k", report(params=2101), ENTRY, 5).text() == "+1.0% params"


def test_compare_tolerance_is_exact_at_its_edge() -> None:
    # 16512 * 1.25 = 20640 exactly: not over a 25% tolerance; one more FLOP is.
    assert bl.compare("k", report(20640, 8192, 2080), ENTRY, 25.0).status == "changed"
    assert bl.compare("k", report(20641, 8192, 2080), ENTRY, 25.0).status == "grew"
    # 10% of 2080 = 208: 2288 is at the edge even though 1.1 is not exact in binary.
    assert bl.compare("k", report(params=2288), ENTRY, 10.0).status == "changed"
    assert bl.compare("k", report(params=2289), ENTRY, 10.0).status == "grew"


def test_compare_under_another_convention_skips_flops() -> None:
    matmul = bl.Entry("matmul", 16384, 8192, 2080)
    change = bl.compare("k", report(), matmul, 0)
    assert change.status == "equal"
    assert change.compared == ("macs", "params")
    grew = bl.compare("k", report(99999, 8192, 2080), matmul, 0)
    assert grew.status == "equal"


def test_growth_texts() -> None:
    assert bl.percent_text(0, 5) == "from 0"
    assert bl.percent_text(16512, 16513) == "+0.0061%"
    assert bl.percent_text(2080, 1950) == "-6.2%"
    assert bl.percent_text(100, 100.04) == "+0.04%"
    assert bl.count_text("params", 2080, 2081) == ("2,080", "2,081", "params")
    assert bl.count_text("params", 2080, 2600) == ("2.08K", "2.60K", "params")
    assert bl.count_text("flops", 16512, 20640) == ("1.65e-05", "2.06e-05", "GFLOPs")
    assert bl.count_text("flops", 16512, 16513) == ("16,512", "16,513", "FLOPs")  # exact counts name exact units
    assert bl.count_text("macs", 8192, 8193) == ("8,192", "8,193", "MACs")


def test_measurement_keys_number_repeats() -> None:
    r = report(shapes=((4, 64), (4,)))
    assert bl.measurement_key(r) == "Linear [4x64, 4]"
    assert bl.measurement_key(r, ["Linear [4x64, 4]"]) == "Linear [4x64, 4] #2"
    assert bl.measurement_key(r, ["Linear [4x64, 4]", "Linear [4x64, 4] #2"]) == "Linear [4x64, 4] #3"


def test_update_and_unused_as_functions() -> None:
    e40 = bl.Entry("full", 20640, 10240, 2600)
    old = {"a": {"k": ENTRY, "old": ENTRY}, "gone": {"k": ENTRY}, "skipped": {"k": ENTRY}, "failed": {"k": ENTRY,
                                                                                                      "later": ENTRY},
           "other.py::t": {"k": ENTRY}}
    ran = {"a": bl.RanTest("passed", {"k": e40}), "skipped": bl.RanTest("skipped", {"k": e40}),
           "failed": bl.RanTest("failed", {"k": e40}), "new": bl.RanTest("over", {"k": ENTRY})}
    tests, change = bl.update(old, ran, gone=["gone"])
    assert tests == {"a": {"k": e40}, "skipped": {"k": ENTRY}, "failed": {"k": e40, "later": ENTRY},
                     "new": {"k": ENTRY}, "other.py::t": {"k": ENTRY}}
    assert change.counts_text() == "2 updated, 1 new, 2 removed"
    assert change.lines() == [f"  updated a k: {UPDATED_32_TO_40}", f"  updated failed k: {UPDATED_32_TO_40}",
                              "  new new k", "  removed gone k", "  removed a old"]
    assert bl.unused(old, ran, gone=["gone"]) == [("gone", "k"), ("a", "old")]
    assert not bl.update(tests, {})[1]


def test_gone_tests_need_their_file_collected() -> None:
    old = ["t.py::a", "t.py::b", "t.py::c[1]", "u.py::a", "d/t.py::a"]
    assert bl.gone_tests(old, ["t.py::a", "t.py::c[2]"]) == ["t.py::b", "t.py::c[1]"]


def test_dumps_and_parse_round_trip() -> None:
    tests = {"t.py::b": {"z": ENTRY, "a": ENTRY}, "t.py::a": {"k": ENTRY}, "t.py::empty": {}}
    document = bl.baseline_document({k: dict(v) for k, v in tests.items()})
    text = bl.dumps(document)
    assert text == text_of({"t.py::a": {"k": E32}, "t.py::b": {"a": E32, "z": E32}})  # empty tests dropped
    assert bl.parse(json.loads(text), "b.json") == {"t.py::a": {"k": ENTRY}, "t.py::b": {"a": ENTRY, "z": ENTRY}}


@pytest.mark.parametrize("entry", [
    {"convention": "full", "flops": 1, "macs": 1},
    {**E32, "flops": -1}, {**E32, "macs": 1.0}, {**E32, "params": True}, {**E32, "convention": 1}, [],
])
def test_parse_rejects_bad_entries(entry: Any) -> None:
    with pytest.raises(bl.BaselineError, match=r"b\.json"):
        bl.parse({"schema": SCHEMA, "schema_version": 1, "tests": {"t": {"k": entry}}}, "b.json")


@pytest.mark.parametrize("data", [
    None, {"schema": SCHEMA}, {"schema": SCHEMA, "schema_version": "1", "tests": {}},
    {"schema": SCHEMA, "schema_version": 1, "tests": []}, {"schema": SCHEMA, "schema_version": 1, "tests": {"t": 1}},
    {"schema": SCHEMA, "schema_version": True, "tests": {}},
])
def test_parse_rejects_bad_documents(data: Any) -> None:
    with pytest.raises(bl.BaselineError, match=r"b\.json"):
        bl.parse(data, "b.json")
