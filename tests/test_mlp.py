"""Strategy `mlp`: the deterministic baseline."""

from __future__ import annotations

import torch

from n2n.testing import StrategyTests


class TestMLP(StrategyTests):
    strategy_name = "mlp"
    config = {"hidden": 16, "depth": 2}

    def test_samples_are_identical_for_one_input(self, strategy, batch):
        samples = strategy.sample(batch["source"][:2], 3, torch.Generator().manual_seed(0)).view(2, 3, -1)
        assert torch.equal(samples[:, 0], samples[:, 1]) and torch.equal(samples[:, 0], samples[:, 2])
