"""The README stays true: every registered name is documented, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import n2n

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("kind", ["experts", "strategies", "datasets"])
def test_every_registered_name_is_in_a_readme_table(kind):
    documented = set(re.findall(r"^\| `([\w-]+)` \|", README, flags=re.M))
    missing = set(getattr(n2n, kind)()) - documented
    assert not missing, f"{kind} missing from README tables: {sorted(missing)}"


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```bash\n(.+?)\n```", README)
    assert len(commands) == 2 and commands[0].endswith("n2n demo")
    assert commands[1] in (ROOT / ".ci" / "run").read_text()
