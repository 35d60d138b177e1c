"""The benchmark scripts run at tiny sizes and print their tables, so they cannot rot.

Nothing here asserts a timing: bench/perf.py reports its ratios (and MISSED) but always exits 0; these
tests only check that both scripts run, print the expected tables, and that the analytic references the
comparison rests on agree with published figures.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("transformers")

#: peer column -> the module it needs
PEERS = {"fvcore": "fvcore", "thop": "thop", "ptflops pytorch": "ptflops", "ptflops aten": "ptflops"}
MODELS = ["ResNet-50", "MobileNetV2", "ViT-B/16", "Swin-T", "GPT-2", "BERT", "LLaMA-GQA", "LLaMA-GQA eager", "LSTM",
          "TransformerEncoderLayer"]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[int, str, str]]:
    """Both scripts with --tiny, started together (each uses one torch thread in --tiny mode)."""
    env = {**os.environ, "PYTEST_ADDOPTS": "", "PYTHONWARNINGS": "ignore"}
    procs = {
        "compare": subprocess.Popen([sys.executable, str(BENCH / "compare.py"), "--tiny", "--markdown"], cwd=ROOT,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "perf": subprocess.Popen([sys.executable, str(BENCH / "perf.py"), "--tiny"], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    results = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[name] = (proc.returncode, out, err)
    return results


def table(markdown: str) -> dict[str, dict[str, str]]:
    """The comparison table as {model: {column: cell}}."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


# ------------------------------------------------------------------------------------------ compare.py


def test_compare_runs_and_prints_the_table(runs):
    code, out, err = runs["compare"]
    assert code == 0, err[-3000:]
    assert "| Model | Analytic MACs | pytest-flopbudget | pytest-flopbudget meta=True | torch FlopCounterMode |" in out
    assert "Machine:" in out
    assert list(table(out)) == MODELS


def test_compare_flopbudget_matches_every_analytic_reference(runs):
    code, out, err = runs["compare"]
    assert code == 0, err[-3000:]
    for model, cells in table(out).items():
        for column in ("pytest-flopbudget", "pytest-flopbudget meta=True"):
            assert cells[column].startswith("exact"), (model, column, cells[column])


@pytest.mark.parametrize("column", sorted(PEERS))
def test_compare_peer_column(runs, column):
    if importlib.util.find_spec(PEERS[column]) is None:
        pytest.skip(f"{PEERS[column]} is not installed")
    code, out, err = runs["compare"]
    assert code == 0, err[-3000:]
    cells = [row[column] for row in table(out).values()]
    assert "not installed" not in cells
    # Every model got a number or a short error cell, never a crash of the script.
    assert all(cell.endswith("x") or cell.startswith("error: ") for cell in cells), cells
    assert table(out)["ResNet-50"][column].endswith("x")  # every peer handles a plain CNN


def test_compare_plain_rendering_and_error_cells(monkeypatch):
    compare = load("compare")

    def crashes(model, x):
        raise RuntimeError("boom\nsecond line")

    def missing(model, x):
        raise compare.NotInstalled("nothing")

    monkeypatch.setattr(compare, "TOOLS", [("ours", compare.run_flopbudget), ("crashes", crashes),
                                           ("missing", missing)])
    case = compare.Case("LSTM", "tiny lstm", lambda: compare.LSTMOutput(4, 8, num_layers=1),
                        lambda: torch.randn(1, 3, 4), compare.lstm_macs(3, 4, 8, 1, False))
    result = compare.measure(case, repeats=1, warmup=0)
    assert result.cells["ours"].macs == case.reference
    assert result.cells["crashes"].error == "error: RuntimeError: boom"
    assert result.cells["missing"].error == "not installed"
    plain = compare.render_plain([result], "machine")
    assert "% analytic" in plain
    assert "x forward" in plain
    assert "error: RuntimeError: boom" in plain
    markdown = compare.render_markdown([result], "machine")
    assert "| LSTM |" in markdown
    assert "not installed" in markdown


def test_analytic_references_match_published_figures():
    """The references agree with the README's figure and torchvision's own published GMACs ("_ops")."""
    import torchvision.models as tvm

    compare = load("compare")
    assert compare.resnet50_macs(224) == 4_089_184_256  # README.md: torchvision ResNet-50, 224x224, 4.09 GMACs
    published = {
        tvm.ResNet50_Weights.IMAGENET1K_V1: compare.resnet50_macs(224),
        tvm.MobileNet_V2_Weights.IMAGENET1K_V1: compare.mobilenet_v2_macs(224),
        tvm.ViT_B_16_Weights.IMAGENET1K_V1: compare.vit_macs(224, 16, 12, 768, 3072, 1000),
        tvm.Swin_T_Weights.IMAGENET1K_V1: compare.swin_macs(224, 4, 96, (2, 2, 6, 2), 7, 1000),
    }
    for weights, macs in published.items():
        assert round(macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=0.0011), weights


# --------------------------------------------------------------------------------------------- perf.py


def test_perf_runs_and_reports_every_target(runs):
    code, out, err = runs["perf"]
    assert code == 0, err[-3000:]
    header = next(line for line in out.splitlines() if line.startswith("target"))
    assert header.split() == ["target", "measured", "limit", "result"]
    for label in ("real count / plain forward, ResNet-50", "real count / plain forward, BERT",
                  "on meta device: transformers LlamaModel", "on meta device: hand-written pure-torch LLaMA",
                  "peak RSS of the whole process", "meta=True count / real count, GPT-2",
                  "meta=True ResNet-50 at", "`import pytest_flopbudget.plugin` leaves torch unimported",
                  "pytest session over 20 torch-free tests", "`with watch(...)` around",
                  "@pytest.mark.flop_budget test"):
        assert label in out, label
    assert "crashed" not in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("MISSED ") or last.startswith("all measurable targets met"), last
