"""Training reuses freed memory instead of page-faulting every step (glibc's malloc, Linux)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from n2n.training.allocator import glibc_version, sets_malloc, user_chose_malloc

pytestmark = pytest.mark.skipif(glibc_version() is None, reason="glibc's malloc settings: glibc only")

# In a fresh interpreter: `setup`, then a step's pattern at Net2Net's size (256 MiB of 4 MiB gradients
# allocated, written, freed together) three times; prints the page faults of the last two (65,536 pages each)
PAGES = 2 * 65_536
CHURN = """
import resource, torch
{setup}
def step():
    grads = [torch.ones(1024, 1024) for _ in range(64)]
    del grads
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

TRAIN_ONCE = """
import n2n
from n2n.data.build import paired_data
from n2n.training.trainer import run_training
pairs = paired_data(n2n.load_dataset("digits"), "train", n2n.load_expert("digits-classifier"), n2n.load_expert("digits"),
                    progress=False)
bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0)
run_training(bridge, pairs, {out!r}, steps=1, progress=False)
"""


def page_faults(setup: str, **env: str) -> int:
    """Page faults of two steps in a fresh interpreter, whose environment holds no malloc settings but `env`."""
    clean = {name: value for name, value in os.environ.items() if not sets_malloc(name, value)}
    script = CHURN.format(setup=textwrap.dedent(setup))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=clean | env)
    return int(run.stdout.split()[-1])


def test_glibc_defaults_page_fault_on_every_step_of_freed_gradients():
    """What the setting is for: without it, each step maps its gradients' pages afresh."""
    assert page_faults("") > 0.3 * PAGES  # measured: one or both steps in full (65,536 or 131,072)


def test_keep_freed_memory_reuses_the_pages():
    assert page_faults("from n2n.training.allocator import keep_freed_memory\nassert keep_freed_memory()") < 0.15 * PAGES


def test_training_turns_it_on(tmp_path):
    assert page_faults(TRAIN_ONCE.format(out=str(tmp_path / "run"))) < 0.15 * PAGES


def test_malloc_settings_the_user_chose_are_left_alone(monkeypatch):
    setup = "from n2n.training.allocator import keep_freed_memory\nassert not keep_freed_memory()"
    assert page_faults(setup, N2N_MALLOC="default") > 0.3 * PAGES
    for name, value in (("N2N_MALLOC", "default"), ("MALLOC_ARENA_MAX", "2"), ("MALLOC_TRIM_THRESHOLD_", "1"),
                        ("LD_PRELOAD", "libjemalloc.so.2"), ("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")):
        monkeypatch.setenv(name, value)
        assert name in user_chose_malloc()
        monkeypatch.delenv(name)
    monkeypatch.setenv("LD_PRELOAD", "libfaketime.so")  # not an allocator
    assert user_chose_malloc() is None
