"""A finite but exploded run (a learning rate far too high) is flagged, kept for inspection, never published."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.errors import HubError, TrainingDivergedError
from n2n.hub.transfer import push
from n2n.hub.zoo import local_bridges
from n2n.training.health import exploded
from n2n.training.pipeline import DataSource, publish, train, training_data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0, hidden=32, depth=1)
    data = DataSource(dataset="digits")
    pairs = training_data(bridge, data, progress=False)
    train(bridge, tmp_path_factory.mktemp("run"), pairs, steps=50, progress=False)
    return bridge, data, pairs


def test_a_trained_bridge_is_not_flagged(trained):
    bridge, _, pairs = trained
    assert exploded(bridge, {"nll_per_dim": 1.3}, pairs) is None


@pytest.mark.parametrize("nll", [1.6e26, float("nan"), float("inf")])
def test_an_nll_beyond_reason_is_flagged(trained, nll):
    bridge, _, pairs = trained
    assert f"its NLL is {nll:.3g} nats per dimension" in exploded(bridge, {"nll_per_dim": nll}, pairs)


def test_samples_far_from_every_target_latent_are_flagged(trained):
    bridge, _, pairs = trained
    last = bridge.strategy.net[-1]
    original = last.bias.detach().clone()
    try:
        with torch.no_grad():
            last.bias += 1e4
        assert "its samples lie" in exploded(bridge, {}, pairs)
        with torch.no_grad():
            last.bias.fill_(float("nan"))
        assert exploded(bridge, {}, pairs) == "its samples are not finite"
    finally:
        with torch.no_grad():
            last.bias.copy_(original)


def test_with_no_evaluation_the_nll_of_training_pairs_is_checked():
    """`n2n train --no-eval` gives no held-out NLL: an exploded density was published unflagged when its samples
    stayed in range."""
    bridge = n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, blocks=1, hidden=16, depth=1, embed_dim=8)
    pairs = training_data(bridge, DataSource(dataset="digits"), progress=False)
    assert exploded(bridge, {}, pairs) is None  # untrained: a few nats per dimension
    bridge.strategy.log_prob = lambda target, source: torch.full((len(target),), -1e30)
    assert exploded(bridge, {}, pairs).startswith("its NLL on training pairs is 4.17e+28 nats per dimension")  # 1e30 over 24 dims


def test_an_exploded_bridge_is_kept_flagged_and_neither_registered_nor_pushed(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    bridge, data, pairs = trained
    with pytest.raises(TrainingDivergedError, match=r"training exploded: its NLL is 1.6e\+26 .* kept in .*bridge for inspection"):
        publish(bridge, tmp_path / "run", {"nll_per_dim": 1.6e26}, steps=50, data=data, built=pairs)
    saved = tmp_path / "run" / "bridge"
    assert "**Training exploded: its NLL is 1.6e+26" in (saved / "README.md").read_text()
    assert n2n.load_bridge(saved).metrics["exploded"].startswith("its NLL")  # inspectable
    assert local_bridges() == {}
    with pytest.raises(HubError, match="whose training exploded .* refusing to publish it"):
        push(saved, "org/exploded")
