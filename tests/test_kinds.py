"""Every kind of strategy on the one pipeline: toy `unpaired` and `in_the_loop` strategies (the built-ins
are `paired`) pass the conformance suite and learn on real experts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import torch

import n2n
from n2n.cli import main
from n2n.data.build import loop_data, unpaired_data
from n2n.data.features import cached_tensor
from n2n.data.streams import LoopData
from n2n.registry import manager
from n2n.testing import StrategyTests
from n2n.training.metrics import transfer_accuracy
from n2n.training.trainer import run_training

TOYS = Path(__file__).with_name("toys") / "n2n_toy_strategies.py"


@pytest.fixture(scope="module", autouse=True)
def toy_plugin(tmp_path_factory):
    """The toy strategies, installed as an entry-point plugin for this module's tests."""
    folder = tmp_path_factory.mktemp("toy-plugin")
    shutil.copy(TOYS, folder)
    info = folder / "n2n_toy_strategies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: n2n-toy-strategies\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[n2n]\ntoys = n2n_toy_strategies\n")
    sys.path.insert(0, str(folder))
    manager.reload()
    yield
    sys.path.remove(str(folder))
    sys.modules.pop("n2n_toy_strategies", None)
    manager.reset()


def one_hot_loop_data(items: int = 96) -> LoopData:
    labels = torch.arange(items) % 10
    return LoopData(cached_tensor(torch.nn.functional.one_hot(labels, 10).float(), f"one-hot:{items}"), labels)


class TestUnpairedToy(StrategyTests):
    strategy_name = "toy-centroids"


class TestInTheLoopToy(StrategyTests):
    strategy_name = "toy-modulator"

    @pytest.fixture
    def experts(self):
        return n2n.load_expert("latent", dim=10), n2n.load_expert("digits"), {"classifier": n2n.load_expert("digits-classifier")}

    @pytest.fixture
    def training_data(self):
        return one_hot_loop_data()


def test_the_unpaired_toy_aligns_digit_classes_through_labels_alone(tmp_path):
    """Classifier logits -> VAE latents with no pairs: class centroids meet, on the pipeline's data."""
    classifier, vae = n2n.load_expert("digits-classifier"), n2n.load_expert("digits")
    digits = n2n.load_dataset("digits")
    data = unpaired_data(classifier, vae, "train", source_dataset=digits, target_dataset=digits, progress=False)
    batch = next(data.batches(256, seed=0))
    assert set(batch) == {"source", "source_label", "target", "target_label", "target_logvar"}  # the VAE side resamples
    assert (batch["source"].argmax(-1) == batch["source_label"]).float().mean() > 0.95  # labels stay aligned
    bridge = n2n.create_bridge("toy-centroids", classifier, vae, seed=0, batch_size=256)
    before = bridge.strategy.training_step(batch)["loss"].item()
    run_training(bridge, data, tmp_path, steps=200, progress=False)
    assert bridge.strategy.training_step(batch)["loss"].item() < before / 4


def test_the_in_the_loop_toy_makes_the_generator_draw_the_asked_class(tmp_path):
    """A frozen decoder, modulated through functional_call, learns to draw what the classifier calls
    each class; the expert's own weights are untouched."""
    classifier, vae = n2n.load_expert("digits-classifier"), n2n.load_expert("digits")
    frozen = {name: tensor.clone() for name, tensor in vae.decoder.state_dict().items()}
    bridge = n2n.create_bridge("toy-modulator", n2n.load_expert("latent", dim=10), vae,
                               auxiliary={"classifier": classifier}, seed=0, lr=0.05, batch_size=50)
    wanted = torch.arange(10)
    source = torch.nn.functional.one_hot(wanted, 10).float()

    def accuracy() -> float:
        images = bridge.decode(bridge.sample(source, 16, seed=1), source)  # [160, 1, 8, 8]
        return transfer_accuracy(images, wanted, classifier)

    before = accuracy()
    run_training(bridge, one_hot_loop_data(500), tmp_path, steps=150, progress=False)
    assert accuracy() > max(0.8, before + 0.4)
    assert all(torch.equal(tensor, vae.decoder.state_dict()[name]) for name, tensor in frozen.items())


def test_loop_data_keeps_real_items_of_the_target_modality():
    digits = n2n.load_dataset("digits")
    data = loop_data(digits, "test", n2n.load_expert("digits-classifier"), n2n.load_expert("digits"), progress=False)
    batch = next(data.batches(32, seed=0))
    assert set(batch) == {"source", "label"}  # the source consumes the images itself: nothing else is real


def test_n2n_train_runs_an_in_the_loop_strategy_end_to_end(tmp_path, capsys):
    assert main(["train", "digits-classifier->digits", "--strategy", "toy-modulator", "--dataset", "digits"]) == 2
    assert "needs the auxiliary experts ['classifier']: give --classifier EXPERT" in capsys.readouterr().err
    code = main(["train", "digits-classifier->digits", "--strategy", "toy-modulator", "--dataset", "digits",
                 "--classifier", "digits-classifier", "--steps", "40", "--out", str(tmp_path), "--set", "lr=0.05"])
    assert code == 0
    bridge = n2n.load_bridge(tmp_path / "bridge")
    assert bridge.config["auxiliary"]["classifier"]["expert"] == "digits-classifier"
    assert bridge.config["metrics"]["data"] == {"dataset": "digits"} and "transfer_accuracy" in bridge.config["metrics"]
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "bridge"), "--json", "--n-samples", "2"]) == 0
    assert 0 <= __import__("json").loads(capsys.readouterr().out)["transfer_accuracy"] <= 1


def test_an_in_the_loop_evaluation_never_replays_the_z_training_drew(monkeypatch):
    """Training seeds torch's generator with `seed`: the evaluation of a bridge trained in the loop must
    draw the generator's prior from another stream, or it is judged on the z it was optimised on."""
    bridge = n2n.create_bridge("toy-modulator", "digits-classifier", "digits", auxiliary={"classifier": "digits-classifier"}, seed=3)
    seeds = []
    sample = bridge.strategy.sample
    monkeypatch.setattr(bridge.strategy, "sample", lambda source, n, generator: seeds.append(generator.initial_seed())
                        or sample(source, n, generator))
    n2n.evaluate_bridge(bridge, n2n.DataSource(dataset="digits"), seed=3, n_samples=1, progress=False)
    assert seeds and 3 not in seeds
