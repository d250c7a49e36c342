"""Starting n2n is cheap: the help imports neither torch nor a plugin; listing experts imports no heavy
library (they load with an expert's weights)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("transformers", "diffusers", "timm", "pytorch_pretrained_biggan", "sklearn", "torchdiffeq")


def imported_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which may exit, as --help does)."""
    probe = f"""
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
{code}
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["translate", "--help"], ["--version"]])
def test_the_help_imports_neither_torch_nor_a_plugin(argv):
    modules = imported_after(f"from n2n.cli import main; main({argv!r})")
    assert "torch" not in modules
    assert not {m for m in modules if m.startswith(("n2n_plugin_", "n2n_bridges"))}


def test_listing_experts_imports_no_heavy_library():
    modules = imported_after("import n2n; assert n2n.experts() and n2n.strategies() and n2n.datasets()")
    assert "n2n_plugin_diffusers" in modules  # the plugins did register
    assert not modules & set(HEAVY)
