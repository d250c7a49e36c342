"""Starting n2n is cheap: the help imports neither torch nor a plugin; listing experts imports no heavy
library (they load with an expert's weights); a one-shot text translation imports no transformers."""

from __future__ import annotations

import pytest

import n2n
from n2n.testing import modules_imported_by

HEAVY = ("transformers", "diffusers", "timm", "pytorch_pretrained_biggan", "sklearn", "torchdiffeq", "accelerate")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["translate", "--help"], ["--version"]])
def test_the_help_imports_neither_torch_nor_a_plugin(argv):
    modules = modules_imported_by(f"from n2n.cli import main; main({argv!r})")
    assert "torch" not in modules
    assert not {m for m in modules if m.startswith(("n2n_plugin_", "n2n_bridges"))}


def test_listing_experts_imports_no_heavy_library():
    modules = modules_imported_by("import n2n; assert n2n.experts() and n2n.strategies() and n2n.datasets()")
    assert "n2n_plugin_diffusers" in modules  # the plugins did register
    assert not modules & {*HEAVY, "huggingface_hub.hf_api"}


def test_translating_text_imports_neither_transformers_nor_the_trainers_libraries(tmp_path):
    n2n.create_bridge("cinn", "bert", "digits", blocks=2, hidden=16, seed=0).save_pretrained(tmp_path / "bridge")
    modules = modules_imported_by(f"import n2n; n2n.load_bridge({str(tmp_path / 'bridge')!r}).translate(['a seven'], n_samples=2)")
    assert "n2n_plugin_bert.lean" in modules
    assert not modules & {"transformers", "accelerate", "sympy"}  # sympy: torch's symbolic shapes, 0.3 s
    assert "huggingface_hub.hf_api" not in modules  # nothing is downloaded: 0.1-0.3 s
