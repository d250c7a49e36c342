"""The trainer: seeded, resumable to identical weights, NaN-guarded, with atomic checkpoints."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.errors import N2NError
from n2n.pairs import paired_data
from n2n.train import TrainingDivergedError, train

CONFIG = {"blocks": 2, "hidden": 32, "embed_dim": 8, "embed_hidden": 16, "batch_size": 32, "target_noise": 0.05}


@pytest.fixture(scope="module")
def pairs():
    return paired_data(n2n.load_dataset("digits"), "train", n2n.load_expert("digits-classifier"), n2n.load_expert("digits"), progress=False)


def fresh_bridge():
    return n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, **CONFIG)


def weights(bridge):
    return {k: v.clone() for k, v in bridge.strategy.state_dict().items()}


class Interrupt(Exception):
    pass


def interrupt_at(step_to_stop):
    def on_step(step, losses):
        if step == step_to_stop:
            raise Interrupt

    return on_step


def test_training_lowers_the_loss(pairs, tmp_path):
    bridge = fresh_bridge()
    first = bridge.strategy.training_step(next(pairs.batches(256, seed=1)))["loss"].item()
    train(bridge, pairs, tmp_path, steps=150, progress=False)
    bridge.strategy.eval()
    assert bridge.strategy.training_step(next(pairs.batches(256, seed=1)))["loss"].item() < first - 5


def test_resume_after_an_interruption_ends_with_the_same_weights(pairs, tmp_path):
    straight = fresh_bridge()
    train(straight, pairs, tmp_path / "straight", steps=30, checkpoint_every=10, progress=False)

    interrupted = fresh_bridge()
    with pytest.raises(Interrupt):
        train(interrupted, pairs, tmp_path / "run", steps=30, checkpoint_every=10, progress=False, on_step=interrupt_at(17))
    resumed = fresh_bridge()
    train(resumed, pairs, tmp_path / "run", steps=30, checkpoint_every=10, resume=True, progress=False)

    for name, tensor in weights(straight).items():
        assert torch.equal(tensor, weights(resumed)[name]), name
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["latest.json", "step-00000030"]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(pairs, tmp_path, monkeypatch):
    bridge = fresh_bridge()
    strategy = bridge.strategy
    original = type(strategy).training_step
    calls = []

    def poisoned(self, batch):
        calls.append(1)
        losses = original(self, batch)
        return {**losses, "loss": losses["loss"] * float("nan")} if len(calls) > 13 else losses

    monkeypatch.setattr(type(strategy), "training_step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 13; the last good checkpoint \(step 10\)"):
        train(bridge, pairs, tmp_path, steps=30, checkpoint_every=5, progress=False)
    assert (tmp_path / "checkpoints" / "step-00000010" / "strategy.safetensors").is_file()
    monkeypatch.undo()
    resumed = fresh_bridge()
    train(resumed, pairs, tmp_path, steps=12, resume=True, progress=False)  # the kept checkpoint is usable


def test_an_existing_run_is_not_overwritten_without_resume(pairs, tmp_path):
    train(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    with pytest.raises(N2NError, match="already holds a training run: pass --resume"):
        train(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)


def test_resume_without_a_checkpoint_is_a_clear_error(pairs, tmp_path):
    with pytest.raises(N2NError, match="nothing to resume"):
        train(fresh_bridge(), pairs, tmp_path, steps=5, resume=True, progress=False)


class CentroidMatcher(n2n.Strategy):
    """A toy `unpaired` strategy: maps each source class centroid onto the target's (no pairs needed)."""

    name = "centroid-matcher"
    needs = "unpaired"

    def __init__(self, source_shape, target_shape, **config):
        super().__init__(source_shape, target_shape, **config)
        self.linear = torch.nn.Linear(self.source_dim, self.target_dim)

    def training_step(self, batch):
        mapped = self.linear(batch["source"])
        loss = sum(
            (mapped[batch["source_label"] == c].mean(0) - batch["target"][batch["target_label"] == c].mean(0)).pow(2).sum()
            for c in range(10)
        )
        return {"loss": loss}

    def sample(self, source, n_samples, generator=None):
        return self.linear(source).repeat_interleave(n_samples, 0)


def test_the_trainer_drives_an_unpaired_strategy_unchanged(tmp_path):
    from n2n.pairs import UnpairedData, encoded_column

    classifier, vae = n2n.load_expert("digits-classifier"), n2n.load_expert("digits")
    digits = n2n.load_dataset("digits")
    train_columns, test_columns = digits.load("train"), digits.load("test")
    data = UnpairedData(
        encoded_column(classifier, digits, "train", train_columns, False), train_columns["label"],
        encoded_column(vae, digits, "test", test_columns, False), test_columns["label"],
    )
    batch = next(data.batches(256, seed=0))
    assert set(batch) == {"source", "source_label", "target", "target_label"}
    assert (batch["source"].argmax(-1) == batch["source_label"]).float().mean() > 0.95  # labels stay aligned
    torch.manual_seed(0)
    bridge = n2n.Bridge(CentroidMatcher((10,), (24,), batch_size=256), classifier, vae)
    before = bridge.strategy.training_step(batch)["loss"].item()
    train(bridge, data, tmp_path, steps=200, progress=False)
    assert bridge.strategy.training_step(batch)["loss"].item() < before / 4
