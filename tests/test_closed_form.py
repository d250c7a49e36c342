"""Strategies `procrustes` and `affine`: closed-form maps fitted on anchors, with no optimiser."""

from __future__ import annotations

import json

import pytest
import torch

import n2n
from n2n.cli import main
from n2n.data.features import cached_tensor
from n2n.data.streams import PairedData
from n2n.testing import StrategyTests
from n2n.training.trainer import run_training


class TestProcrustes(StrategyTests):
    strategy_name = "procrustes"


class TestAffine(StrategyTests):
    strategy_name = "affine"


def white(rows: int, dim: int, seed: int) -> torch.Tensor:
    """Samples [rows, dim] whose empirical mean is 0 and covariance exactly the identity."""
    x = torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    values, vectors = torch.linalg.eigh(x.T @ x / rows)
    return x @ vectors @ torch.diag(values.rsqrt()) @ vectors.T


def random_rotation(dim: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))  # a uniformly random orthogonal matrix


def fitted(strategy: str, x: torch.Tensor, y: torch.Tensor, tmp_path, **config) -> n2n.Bridge:
    bridge = n2n.create_bridge(strategy, n2n.load_expert("latent", dim=x.shape[1]), n2n.load_expert("latent", dim=y.shape[1]),
                               **config)
    key = f"closed-form:{strategy}:{tuple(x.shape)}:{tuple(y.shape)}:{float(x.sum())}:{float(y.sum())}"
    data = PairedData(cached_tensor(x.float(), key + ":x"), cached_tensor(y.float(), key + ":y"))
    run_training(bridge, data, tmp_path, steps=1, progress=False)
    return bridge


@pytest.mark.parametrize("source_dim, target_dim", [(8, 8), (8, 5)])
def test_procrustes_recovers_a_known_rotation(tmp_path, source_dim, target_dim):
    """y = x R for a random orthogonal R (cut to the target's size, through the zero padding): the fit is
    R itself, to 1e-5, which only holds when the map is U Vᴴ with torch.linalg.svd's Vᴴ (U V is another matrix)."""
    rotation = random_rotation(source_dim, seed=1)[:, :target_dim]
    x = white(2000, source_dim, seed=2)
    strategy = fitted("procrustes", x, x @ rotation, tmp_path).strategy
    torch.testing.assert_close(strategy.weight.double(), rotation, atol=1e-5, rtol=0)
    torch.testing.assert_close(strategy.bias.double(), torch.zeros(target_dim, dtype=torch.float64), atol=1e-5, rtol=0)


def test_procrustes_is_orthogonal_up_to_scale_on_real_looking_data(tmp_path):
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(3)) * torch.tensor([1.0, 2, 3, 4, 5, 6]) + 7
    y = x @ torch.randn(6, 6, generator=torch.Generator().manual_seed(4))
    strategy = fitted("procrustes", x, y, tmp_path).strategy
    std_x, std_y = x.std(0, unbiased=False), y.std(0, unbiased=False)
    standardised = strategy.weight * std_x[:, None] / std_y[None, :]  # the map between the standardised spaces
    gram = standardised.T @ standardised
    torch.testing.assert_close(gram / gram.diagonal().mean(), torch.eye(6), atol=1e-4, rtol=0)


def test_affine_recovers_an_affine_map(tmp_path):
    x = torch.randn(3000, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    a, b = torch.randn(7, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64), torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    strategy = fitted("affine", x, x @ a + b, tmp_path, ridge=1e-9).strategy
    torch.testing.assert_close(strategy.weight.double(), a, atol=1e-4, rtol=0)
    torch.testing.assert_close(strategy.bias.double(), b, atol=1e-4, rtol=0)


def test_anchors_fit_on_only_that_many_pairs_and_few_anchors_still_give_a_map(tmp_path):
    x = torch.randn(1000, 12, generator=torch.Generator().manual_seed(7))
    y = x[:, :4] * 2 + 0.1 * torch.randn(1000, 4, generator=torch.Generator().manual_seed(8))
    few = fitted("affine", x, y, tmp_path / "few", anchors=8)  # fewer anchors than source dimensions: the ridge decides
    everything = fitted("affine", x, y, tmp_path / "all")
    assert int(few.strategy.sums.count) == 8 and int(everything.strategy.sums.count) == 1000
    assert torch.isfinite(few.strategy.weight).all() and not torch.allclose(few.strategy.weight, everything.strategy.weight)
    error = lambda bridge: (bridge.sample(x, 1, seed=0) - y).pow(2).mean()  # noqa: E731
    assert error(everything) < 0.02 < error(few)


def test_more_steps_revisit_the_same_pairs_and_change_nothing(tmp_path):
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(9))
    y = x @ torch.randn(5, 3, generator=torch.Generator().manual_seed(10))
    once = fitted("procrustes", x, y, tmp_path / "once")
    bridge = n2n.create_bridge("procrustes", n2n.load_expert("latent", dim=5), n2n.load_expert("latent", dim=3))
    data = PairedData(cached_tensor(x, "revisit:x"), cached_tensor(y, "revisit:y"))
    run_training(bridge, data, tmp_path / "thrice", steps=3, progress=False)
    torch.testing.assert_close(bridge.strategy.weight, once.strategy.weight, atol=1e-6, rtol=1e-5)


def test_a_negative_anchor_count_is_refused():
    with pytest.raises(n2n.N2NError, match="anchors"):
        n2n.create_bridge("procrustes", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=3), anchors=-1)


@pytest.mark.parametrize("strategy", ["procrustes", "affine"])
def test_a_learning_rate_is_refused_not_recorded_unused(strategy):
    with pytest.raises(n2n.N2NError, match="lr: a closed-form map is fitted, not trained by gradient steps"):
        n2n.create_bridge(strategy, "latent", "latent", lr=1e-3)


def test_a_bridge_saved_with_a_learning_rate_still_loads_and_says_it_is_ignored(tmp_path, caplog):
    """Bridges fitted before an lr was refused kept the one --set gave them: they load, translating as saved."""
    bridge = fitted("procrustes", torch.randn(64, 3), torch.randn(64, 3), tmp_path)
    saved = bridge.save_pretrained(tmp_path / "bridge")
    config = json.loads((saved / "config.json").read_text())
    config["config"]["lr"] = 1e-3
    (saved / "config.json").write_text(json.dumps(config))
    x = torch.randn(4, 3)
    with caplog.at_level("WARNING", logger="n2n"):
        loaded = n2n.load_bridge(saved)
    assert "saved with procrustes lr=0.001, which the strategy no longer takes: read as 0.0" in caplog.text
    assert loaded.strategy.config.lr == 0
    torch.testing.assert_close(loaded.translate(x, n_samples=1), bridge.translate(x, n_samples=1), atol=0, rtol=0)


@pytest.mark.parametrize("strategy", ["procrustes", "affine"])
def test_one_pair_fits_no_map_and_says_so(strategy, tmp_path):
    """One pair has no covariance: the map would be zero and its loss divided by a clamped spread."""
    with pytest.raises(n2n.errors.InvalidInputError, match="anchors .* 0 \\(every pair seen\\) or at least 2, got 1"):
        n2n.create_bridge(strategy, n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=3), anchors=1)
    with pytest.raises(n2n.errors.InvalidInputError, match="the training data has 1 item: a bridge learns from at least 2"):
        fitted(strategy, torch.randn(1, 3), torch.randn(1, 3), tmp_path)
    with pytest.raises(n2n.errors.InvalidInputError, match="'batch_size' must be at least 2, got 1"):
        n2n.create_bridge(strategy, n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=3), batch_size=1)


def test_n2n_train_fits_a_closed_form_in_one_pass_and_it_translates(tmp_path, capsys):
    assert main(["train", "digits-classifier->digits", "--strategy", "affine", "--dataset", "digits", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on 1437 items (digits) for 1 steps" in out and "transfer_accuracy" in out
    bridge = n2n.load_bridge(tmp_path / "bridge")
    images = n2n.load_dataset("digits").load("test")["image"][:4]
    first, second = bridge.translate(images, n_samples=2, seed=0), bridge.translate(images, n_samples=2, seed=1)
    assert first.shape == (8, 1, 8, 8) and torch.equal(first, second)  # deterministic: the seed changes nothing
    assert bridge.metrics["transfer_accuracy"] > 0.5
