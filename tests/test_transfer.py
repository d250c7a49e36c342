"""The transfer metrics of unpaired bridges (`n2n.training.transfer`) on vectors whose answer is known."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.data.build import Domain
from n2n.data.features import cached_tensor
from n2n.training.transfer import direction_report, locality, rank_correlation, ranks


def test_tied_values_share_their_average_rank():
    assert ranks(torch.tensor([3.0, 1.0, 1.0, 2.0])).tolist() == [4.0, 1.5, 1.5, 3.0]
    assert rank_correlation(torch.tensor([1.0, 1.0, 2.0, 3.0]), torch.arange(4.0)) == pytest.approx(0.9486833)  # scipy's
    assert rank_correlation(torch.arange(5.0), torch.zeros(5)) == 0  # a constant has no order to follow


def test_locality_is_one_for_a_rescaled_copy_and_zero_for_one_translation_per_class():
    generator = torch.Generator().manual_seed(0)
    sources, labels = torch.randn(60, 4, generator=generator), torch.arange(60) % 3
    assert locality(sources, 2 * sources + 1, labels) == pytest.approx(1)
    assert locality(sources, labels[:, None].float().expand(60, 4), labels) == 0  # every item of a class -> one point
    assert abs(locality(sources, torch.randn(60, 4, generator=generator), labels)) < 0.15  # unrelated translations


def test_accuracy_over_all_draws_is_the_accuracy_of_translating_them_all():
    """A generator's side translates the draws its labeller is surest of; `transfer_accuracy_all_draws` is what
    translating every held-out draw scores."""
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=24), "digits", hidden=16, depth=1, seed=0)
    generator = torch.Generator().manual_seed(0)
    latents, labels = torch.randn(40, 24, generator=generator), torch.arange(40) % 10
    every = Domain(cached_tensor(latents, "all-draws:every"), labels, None, "all")
    surest = Domain(cached_tensor(latents[:20], "all-draws:surest"), labels[:20], None, "surest")
    judge = n2n.load_expert("digits-classifier")
    report = direction_report(bridge, surest, every, judge, n_samples=2, every_source=every)
    assert report["transfer_accuracy_all_draws"] == direction_report(bridge, every, every, judge, n_samples=2)["transfer_accuracy"]
    assert "transfer_accuracy_all_draws" not in direction_report(bridge, every, every, judge, n_samples=2, every_source=every)
