"""``python -m pytest_flopbudget count``: one model's cost from the shell, through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_flopbudget


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, run from the pytest_flopbudget this session imported, with ``cwd`` importable."""
    source = str(Path(pytest_flopbudget.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source, str(cwd), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "pytest_flopbudget", "count", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, "PYTHONPATH": path})


def test_a_linear_layer_prints_its_table_and_exact_totals(tmp_path: Path) -> None:
    # nn.Linear(64, 32) on 4 x 64: 4*64*32 = 8192 MACs; 2*8192 + 4*32 bias adds = 16512 FLOPs; 64*32 + 32 params
    process = cli(tmp_path, "torch.nn:Linear", "--args", "[64, 32]", "--input", "4x64", "--json", "r.json")
    assert process.returncode == 0, process.stderr
    lines = process.stdout.splitlines()
    assert lines[0].split() == ["module", "type", "params", "MACs", "FLOPs", "(full)", "share", "calls"]
    assert "exactly: 16,512 FLOPs (full), 8,192 MACs, 2,080 params" in lines
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["flops"], report["macs"], report["params"], report["input_shapes"]) == (16512, 8192, 2080,
                                                                                           [[4, 64]])


def test_the_convention_and_keyword_arguments_of_the_factory(tmp_path: Path) -> None:
    # bias=False: 8192 MACs, 2*8192 = 16384 FLOPs under full (no bias adds), 2048 params; matmul: 2 x MACs too
    process = cli(tmp_path, "torch.nn:Linear", "--args", '{"in_features": 64, "out_features": 32, "bias": false}',
                  "--input", "4x64", "--convention", "matmul")
    assert process.returncode == 0, process.stderr
    assert "exactly: 16,384 FLOPs (matmul), 8,192 MACs, 2,048 params" in process.stdout


def test_resnet18_real_and_meta_agree(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    real = cli(tmp_path, "torchvision.models:resnet18", "--input", "1x3x224x224", "--depth", "1")
    meta = cli(tmp_path, "torchvision.models:resnet18", "--input", "1x3x224x224", "--depth", "1", "--meta")
    assert real.returncode == 0, real.stderr
    assert meta.returncode == 0, meta.stderr
    exact = [line for line in real.stdout.splitlines() if line.startswith("exactly:")]
    assert exact == [line for line in meta.stdout.splitlines() if line.startswith("exactly:")]
    assert exact[0].endswith(", 11,689,512 params")  # ResNet-18's published parameter count
    assert any(line.split()[:2] == ["layer4", "Sequential"] for line in real.stdout.splitlines())  # depth 1


def test_a_transformers_model_from_a_recipe_with_token_ids(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    (tmp_path / "recipes.py").write_text(
        "from transformers import BertConfig, BertModel\n\n"
        "def tiny_bert(layers=2):\n"
        "    return BertModel(BertConfig(hidden_size=64, num_hidden_layers=layers, num_attention_heads=4,\n"
        "                                intermediate_size=128, vocab_size=100))\n")
    process = cli(tmp_path, "recipes:tiny_bert", "--args", '{"layers": 1}', "--input", "2x16:long", "--kwargs",
                  '{"return_dict": false}', "--meta")
    assert process.returncode == 0, process.stderr
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128,
                                     vocab_size=100)
    params = sum(p.numel() for p in transformers.BertModel(config).parameters())  # torch's count, not ours
    assert process.stdout.splitlines()[-1].endswith(f", {params:,} params")


@pytest.mark.parametrize(("args", "says"), [
    (("nosuch.module:build",), "TARGET 'nosuch.module:build': cannot import nosuch.module"),
    (("torch.nn:Nope",), "TARGET 'torch.nn:Nope': torch.nn has no Nope"),
    (("torch.nn",), "expected package.module:callable"),
    (("torch:randn", "--args", "[2]"), "returned a Tensor, not a torch.nn.Module"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "4y64"), "--input '4y64': expected a shape"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "4x64:complex"), "unknown dtype 'complex'"),
    (("torch.nn:Linear", "--args", "{bad"), "--args '{bad': not valid JSON"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "4x63"), "the forward of torch.nn:Linear on 4x63 raised"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "4x64", "--convention", "flops"), "--convention 'flops'"),
])
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    process = cli(tmp_path, *args)
    assert process.returncode == 2, process.stdout
    assert "Traceback" not in process.stderr
    [line] = process.stderr.splitlines()
    assert line.startswith("python -m pytest_flopbudget count: error: "), line
    assert says in line, line


def test_the_console_script_is_the_same_command_line(tmp_path: Path) -> None:
    import shutil

    script = shutil.which("flopbudget")
    if script is None:
        pytest.skip("the flopbudget console script is not installed (pip install -e . installs it)")
    process = subprocess.run([script, "count", "torch.nn:Linear", "--args", "[64, 32]", "--input", "4x64"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, process.stderr
    assert "exactly: 16,512 FLOPs (full), 8,192 MACs, 2,080 params" in process.stdout  # as computed above
    # A recipe beside you imports, as under python -m (a console script does not put the directory on sys.path)
    (tmp_path / "recipes.py").write_text("from torch import nn\n\ndef narrow():\n    return nn.Linear(64, 16)\n")
    recipe = subprocess.run([script, "count", "recipes:narrow", "--input", "4x64"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, check=False)
    assert recipe.returncode == 0, recipe.stderr
    # nn.Linear(64, 16) on 4 x 64: 4*64*16 = 4096 MACs, 2*4096 + 4*16 = 8256 FLOPs, 64*16 + 16 = 1040 params
    assert "exactly: 8,256 FLOPs (full), 4,096 MACs, 1,040 params" in recipe.stdout


RECIPES = """
import sys
from torch import nn

raise_on_import = False
instance = nn.Linear(64, 32)

def exits():
    sys.exit(3)

class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(64, 32)

    def forward(self, x, scale=1.0):
        return self.linear(x) * scale
"""


@pytest.mark.parametrize(("args", "says"), [
    (("broken:build",), "TARGET 'broken:build': cannot import broken: RuntimeError: broken at import"),
    (("recipes:exits",), "TARGET 'recipes:exits': calling it raised SystemExit: 3"),
    (("recipes:instance", "--args", "[1]"), "is a Linear instance, not a factory, so --args has nothing to build"),
    (("recipes:Named", "--input", "4x64", "--kwargs", '{"x": 2.0}'), "--kwargs: x also given by --input"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "99999999999999999999x64"), "cannot make this tensor"),
    (("torch.nn:Linear", "--args", "[64, 32]", "--input", "4x64", "--json", "."), "is a directory"),
])
def test_more_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    (tmp_path / "recipes.py").write_text(RECIPES)
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken at import')\n")
    process = cli(tmp_path, *args)
    assert process.returncode == 2, process.stdout
    assert "Traceback" not in process.stderr
    [line] = process.stderr.splitlines()
    assert says in line, line


def test_an_instance_is_measured_as_it_is_and_meta_makes_no_real_input(tmp_path: Path) -> None:
    (tmp_path / "recipes.py").write_text(RECIPES)
    instance = cli(tmp_path, "recipes:instance", "--input", "4x64")
    assert instance.returncode == 0, instance.stderr
    assert "exactly: 16,512 FLOPs (full), 8,192 MACs, 2,080 params" in instance.stdout
    # 20000 x 20000 floats would be 1.6 GB for real; on the meta device they are nothing.
    # Linear(20000, 32) on it: 20000*20000*32 = 12.8e9 MACs, 2 * 12.8e9 + 20000*32 = 25,600,640,000 FLOPs.
    huge = cli(tmp_path, "torch.nn:Linear", "--args", "[20000, 32]", "--input", "20000x20000", "--meta")
    assert huge.returncode == 0, huge.stderr
    assert "exactly: 25,600,640,000 FLOPs (full), 12,800,000,000 MACs, 640,032 params" in huge.stdout
