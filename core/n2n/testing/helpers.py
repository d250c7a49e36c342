"""What the conformance suites share, and helpers for plugins' own tests: a temporary N2N_HOME, the
modules a command imports, a script's refusal to write without --out, a training run interrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest


def modules_imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which may exit, as --help does): what a
    user pays at start-up."""
    probe = f"""
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
{code}
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise AssertionError(f"the probe failed:\n{result.stderr}")
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def check_script_needs_an_output_folder(main: Callable[[list[str]], Any], capsys: pytest.CaptureFixture) -> None:
    """A plugin's training or data script (built with `n2n.cli.output_folder`) refuses to run without `--out DIR`
    or `--replace-shipped`: no default writes over what its package ships."""
    with pytest.raises(SystemExit) as stopped:
        main(["--seed", "1"])
    said = capsys.readouterr().err.strip().splitlines()[-1]  # the error, not the usage line (which lists every flag)
    assert stopped.value.code == 2 and "--out" in said and "--replace-shipped" in said, said


class TemporaryHome:
    """What these tests cache or publish (features, the local zoo) goes to a temporary N2N_HOME, not to
    ~/.cache/n2n, unless the run set N2N_HOME itself."""

    @pytest.fixture(autouse=True, scope="class")  # before the class-scoped fixtures (shipped weights converted once)
    @classmethod
    def _temporary_n2n_home(cls, tmp_path_factory):
        with pytest.MonkeyPatch.context() as patch:
            if not os.environ.get("N2N_HOME"):
                patch.setenv("N2N_HOME", str(tmp_path_factory.getbasetemp() / "n2n-home"))
            yield


class Interrupt(Exception):
    """What `interrupt_at` raises: a training run stopped as a crash or Ctrl-C would stop it."""


def interrupt_at(step_to_stop: int):
    """An `on_step` for `n2n.train` that raises `Interrupt` once step `step_to_stop` is done."""
    def on_step(step, losses):
        if step == step_to_stop:
            raise Interrupt

    return on_step
