"""Starting n2n is cheap: the help imports neither torch nor a plugin; listing experts imports no heavy
library (they load with an expert's weights)."""

from __future__ import annotations

import pytest

from n2n.testing import modules_imported_by

HEAVY = ("transformers", "diffusers", "timm", "pytorch_pretrained_biggan", "sklearn", "torchdiffeq")


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["translate", "--help"], ["--version"]])
def test_the_help_imports_neither_torch_nor_a_plugin(argv):
    modules = modules_imported_by(f"from n2n.cli import main; main({argv!r})")
    assert "torch" not in modules
    assert not {m for m in modules if m.startswith(("n2n_plugin_", "n2n_bridges"))}


def test_listing_experts_imports_no_heavy_library():
    modules = modules_imported_by("import n2n; assert n2n.experts() and n2n.strategies() and n2n.datasets()")
    assert "n2n_plugin_diffusers" in modules  # the plugins did register
    assert not modules & set(HEAVY)
