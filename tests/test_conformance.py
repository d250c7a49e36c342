"""n2n.testing's conformance classes as a plugin author runs them: outside this repository, no N2N_HOME set."""

from __future__ import annotations

import os
import subprocess
import sys


def test_strategy_tests_cache_in_a_temporary_home_not_the_users(tmp_path):
    (tmp_path / "test_mine.py").write_text(
        "from n2n.testing import StrategyTests\n\n\n"
        "class TestMine(StrategyTests):\n    strategy_name = 'mlp'\n    config = {'hidden': 8}\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "N2N_HOME"} | {"HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py", "-k", "resume"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout  # it trained and resumed: features were cached somewhere
    assert not (tmp_path / "home" / ".cache" / "n2n").exists()
