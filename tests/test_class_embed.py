"""Strategy `class-embed` (class-embedding optimisation): the conformance suite on a small class-conditional
digits GAN, a diversity term that is a scalar with a gradient (the reference's crashed), clamping, restarts
that keep the best, frozen experts, and classes it did not optimise."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import n2n
from n2n.data.build import class_data
from n2n.errors import InvalidInputError
from n2n.hub.weights import save_module
from n2n.testing import StrategyTests
from n2n.training import pipeline
from n2n_bridges.class_embed import diversity_ratio
from n2n_plugin_biggan.testing import write_tiny_biggan
from n2n_plugin_digits.class_embed_demo import ClassEmbedDemo
from n2n_plugin_digits.models import DigitsConditionalGenerator
from n2n_plugin_timm.testing import write_tiny_timm

CONFIG = {"batch_size": 4, "restarts": 2, "refresh": 2, "select_samples": 6}


@pytest.fixture(scope="module")
def cgan_dir(tmp_path_factory):
    """A random class-conditional digits GAN of digits 0-7, in the expert's own format."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("cgan")
    save_module(DigitsConditionalGenerator(z_dim=8, classes=8, embedding_dim=4, width=8),
                {"z_dim": 8, "classes": 8, "embedding_dim": 4, "width": 8}, directory)
    return directory


def experts_of(cgan_dir):
    return n2n.load_expert("label"), n2n.load_expert("digits-cgan", checkpoint=cgan_dir), {"classifier": n2n.load_expert("digits-classifier")}


def make(cgan_dir, **config):
    source, target, auxiliary = experts_of(cgan_dir)
    return n2n.create_bridge("class-embed", source, target, auxiliary=auxiliary, seed=0, **{**CONFIG, **config})


class TestClassEmbed(StrategyTests):
    strategy_name = "class-embed"
    config = CONFIG

    @pytest.fixture
    def experts(self, cgan_dir):
        return experts_of(cgan_dir)

    @pytest.fixture
    def training_data(self, experts):
        return class_data(experts[0])


def test_by_default_it_optimises_the_classes_the_generator_lacks(cgan_dir):
    strategy = make(cgan_dir).strategy
    assert strategy.optimised == [8, 9]
    assert make(cgan_dir, classes=["five", 2]).strategy.optimised == [2, 5]
    for wrong in ({"a": 1}, 2.5, None):  # what a hand-edited config.json or --set may give
        with pytest.raises(InvalidInputError, match=r"class-embed: classes lists the source's classes by name or index, got "):
            make(cgan_dir, classes=["five", wrong])


def test_the_diversity_term_is_a_scalar_per_embedding_and_its_gradient_flows(cgan_dir):
    """The reference's diversity term turned the loss into a vector, and backward() crashed."""
    strategy = make(cgan_dir).strategy
    strategy.setup_training()
    z = torch.randn(4, strategy.target.z_dim)
    loss, cross_entropy, diversity = strategy.losses(strategy.candidates, z)
    assert loss.shape == cross_entropy.shape == diversity.shape == (2, 2)  # [restarts, classes]
    (gradient,) = torch.autograd.grad(diversity.sum(), strategy.candidates)
    assert gradient.abs().sum(-1).min() > 0  # every candidate's diversity depends on it
    total = strategy.training_step({})["loss"]
    assert total.ndim == 0
    total.backward()


def test_diversity_is_output_distance_over_z_distance():
    z = torch.randn(5, 3)
    features = torch.stack([2 * z, torch.zeros(5, 3)])  # [G=2, n, F]
    torch.testing.assert_close(diversity_ratio(features, z), torch.tensor([2.0, 0.0]), atol=1e-5, rtol=0)


def test_embeddings_stay_within_the_generators_table_after_every_step(cgan_dir, tmp_path):
    """The reference clamps the embedding to the generator's table at every step: a step at a large rate
    leaves it, and the clamp brings it back before the next step reads it."""
    bridge = make(cgan_dir, lr=5.0, weight_decay=0.0)
    table = bridge.target.embedding_table
    after_each_step = []

    def within(tensor):
        return bool(table.min() <= tensor.min() and tensor.max() <= table.max())

    n2n.train(bridge, tmp_path / "run", steps=6, progress=False,
              on_step=lambda step, losses: after_each_step.append(within(bridge.strategy.candidates)))
    assert after_each_step == [True] * 6
    assert within(bridge.strategy.candidates) and within(bridge.strategy.embeddings)


def test_restarts_keep_the_best_on_the_same_z(cgan_dir, tmp_path):
    bridge = make(cgan_dir, restarts=3)
    n2n.train(bridge, tmp_path / "run", steps=4, progress=False)
    strategy = bridge.strategy
    assert strategy.select_z.shape == (CONFIG["select_samples"], strategy.target.z_dim)  # drawn when training started
    loss = strategy.losses(strategy.candidates, strategy.select_z, grad=False)[0]  # [R, K]
    assert torch.equal(strategy.chosen, loss.argmin(0))
    for k in range(2):
        torch.testing.assert_close(strategy.embeddings[k], strategy.candidates[loss[:, k].argmin(), k], atol=0, rtol=0)
    assert not torch.equal(strategy.candidates[0], strategy.candidates[1])  # the restarts did start apart


def test_generator_and_classifier_weights_are_bit_identical_after_training(cgan_dir, tmp_path):
    bridge = make(cgan_dir)
    experts = (bridge.target.decoder, bridge.auxiliary["classifier"].load().classifier)
    before = [{k: v.clone() for k, v in module.state_dict().items()} for module in experts]
    n2n.train(bridge, tmp_path / "run", steps=3, progress=False)
    for module, state in zip(experts, before):
        assert all(torch.equal(tensor, state[name]) for name, tensor in module.state_dict().items())


def test_other_classes_use_the_generators_own_embeddings_and_unknown_ones_fail_clearly(cgan_dir):
    bridge = make(cgan_dir, classes=["eight"])
    latents = bridge.sample(bridge.source.encode(["three"]), 2, seed=0)
    z_dim = bridge.target.z_dim
    torch.testing.assert_close(latents[:, z_dim:], bridge.target.embedding_table[[3, 3]])
    with pytest.raises(n2n.N2NError, match=r"class 'nine' was not optimised and 'digits-cgan' has no such class"):
        bridge.translate(["nine"], n_samples=1)


def test_initialisations(cgan_dir):
    table = make(cgan_dir).target.embedding_table
    for init, start in (("mean", table.mean(0)), ("6", table[6])):
        strategy = make(cgan_dir, init=init, init_noise=0.0).strategy
        torch.seed()
        strategy.setup_training()
        torch.testing.assert_close(strategy.candidates, start.expand_as(strategy.candidates).clamp(table.min(), table.max()))
    top = make(cgan_dir, init="top", init_noise=0.0, restarts=2).strategy
    top.setup_training()
    assert all(any(torch.equal(row, t) for t in table) for row in top.candidates.flatten(0, 1))  # rows of the table
    assert not torch.equal(top.candidates[0], top.candidates[1])  # the two best, one per restart


@pytest.mark.parametrize("config,message", [
    ({"diversity": "pixels"}, "diversity must be one of"),
    ({"init": "eleven"}, "init must be one of"),
    ({"batch_size": 1}, "at least 2"),
    ({"classes": ["elevn"]}, "did you mean"),
])
def test_bad_settings_are_clear_errors(cgan_dir, config, message):
    with pytest.raises(n2n.N2NError, match=message):
        make(cgan_dir, **config)


def test_wrong_experts_are_clear_errors(cgan_dir):
    label, cgan, auxiliary = experts_of(cgan_dir)
    with pytest.raises(n2n.N2NError, match="must be the label expert"):
        n2n.create_bridge("class-embed", "digits", cgan, auxiliary=auxiliary)
    with pytest.raises(n2n.N2NError, match=r"ConditionalGenerator"):
        n2n.create_bridge("class-embed", label, "digits-gan", auxiliary=auxiliary)
    with pytest.raises(n2n.N2NError, match="gives none"):
        n2n.create_bridge("class-embed", label, cgan, auxiliary={"classifier": n2n.load_expert("digits")})
    full = n2n.load_expert("digits-cgan", checkpoint="n2n/digits-cgan-starved")
    with pytest.raises(n2n.N2NError, match="has every class of the label source"):
        n2n.create_bridge("class-embed", label, full, auxiliary=auxiliary)


def test_a_classifier_of_other_classes_is_a_clear_error(cgan_dir, tmp_path):
    (tmp_path / "classes.txt").write_text("zero\none\neight\n")
    _, cgan, auxiliary = experts_of(cgan_dir)  # digits-classifier: 10 logits, not the 3 classes of the file
    bridge = n2n.create_bridge("class-embed", n2n.load_expert("label", checkpoint=tmp_path / "classes.txt"), cgan, auxiliary=auxiliary, **CONFIG)
    with pytest.raises(n2n.N2NError, match="gives 10 logits, but the label source has 3 classes"):
        n2n.train(bridge, tmp_path / "run", steps=1, progress=False)


def test_the_same_code_re_purposes_biggan_judged_by_timm(tmp_path):
    """BigGAN's [z ‖ class embedding] with a timm ImageNet classifier, tiny and random, end to end."""
    biggan = n2n.load_expert("biggan", checkpoint=write_tiny_biggan(tmp_path / "biggan"))
    judge = n2n.load_expert("timm", checkpoint=write_tiny_timm(tmp_path / "timm"))
    bridge = n2n.create_bridge("class-embed", n2n.load_expert("label", checkpoint="imagenet"), biggan, auxiliary={"classifier": judge},
                               seed=0, **{**CONFIG, "classes": ["daisy"], "batch_size": 2})
    n2n.train(bridge, tmp_path / "run", steps=3, progress=False)
    images = bridge.translate(["daisy", "goldfish"], n_samples=2, seed=0)
    assert images.shape == (4, 3, 32, 32)
    latents = bridge.sample(bridge.source.encode(["daisy", "goldfish"]), 1, seed=0)
    torch.testing.assert_close(latents[0, 128:], bridge.strategy.embeddings[0])  # daisy: the optimised embedding
    torch.testing.assert_close(latents[1, 128:], biggan.class_embedding("goldfish"))  # goldfish: BigGAN's own
    loaded = n2n.load_bridge(bridge.save_pretrained(tmp_path / "bridge"))
    torch.testing.assert_close(loaded.translate(["daisy", "goldfish"], n_samples=2, seed=0), images, atol=0, rtol=0)


def test_it_trains_without_a_dataset_from_the_label_source_alone(cgan_dir, tmp_path):
    bridge = make(cgan_dir)
    n2n.train(bridge, tmp_path / "run", steps=2, progress=False)  # no dataset: the source's classes
    assert (bridge.strategy.chosen >= 0).all()


def test_a_bridge_trained_on_no_dataset_is_judged_on_its_judges_labelled_dataset(cgan_dir):
    """What `n2n train` prints and `n2n eval` shows for it: each class's accuracy against real test digits."""
    metrics = n2n.evaluate_bridge(make(cgan_dir), n2n.DataSource(), progress=False)
    assert {"class_accuracy_min", "class_8_accuracy", "class_9_fid"} <= set(metrics)


def test_a_judge_of_other_classes_does_not_judge_it_on_its_dataset(cgan_dir, monkeypatch, caplog):
    judge = n2n.load_expert("digits-classifier")
    monkeypatch.setattr(judge, "classify", lambda inputs, grad=False: torch.zeros(1, 7))  # 7 classes, not the source's 10
    caplog.set_level("INFO", logger="n2n")
    assert n2n.evaluate_bridge(make(cgan_dir), n2n.DataSource(), judge, progress=False) == {}
    assert "its 7 classes are not the label source's 10" in caplog.text


@pytest.mark.parametrize("judge", [None, "digits-classifier", "digits"])
def test_judging_with_the_classifier_it_trained_against_warns(cgan_dir, judge, caplog, monkeypatch):
    """Its accuracy flatters it, whether the judge is its own role or the same classifier loaded again."""
    bridge = make(cgan_dir)
    monkeypatch.setattr(pipeline, "recipe", lambda *args: SimpleNamespace(evaluate=lambda *args: {}))  # the warning only
    n2n.evaluate_bridge(bridge, n2n.DataSource(), n2n.load_expert(judge) if judge else None, progress=False)
    warned = "judged by 'digits-classifier', the classifier it was trained against" in caplog.text
    assert warned is (judge != "digits")


def test_a_strategy_that_needs_real_items_says_so_without_a_dataset(tmp_path):
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", hidden=8, depth=1, code_dim=4)
    with pytest.raises(n2n.N2NError, match="strategy 'hypermod' learns from a labelled dataset: give --dataset D"):
        n2n.train(bridge, tmp_path / "run", steps=1, progress=False)


@pytest.mark.slow
def test_the_demo_re_purposes_and_repairs_and_leaves_its_files(tmp_path):
    """`n2n demo class-embed` as shipped (offline, about a minute): 8 and 9 drawn by a GAN of 0-7, the starved 5 repaired."""
    metrics = ClassEmbedDemo().run(tmp_path, progress=False)
    for k in (8, 9):
        assert metrics[f"repurpose_{k}_accuracy_before"] < 0.5 <= 0.9 <= metrics[f"repurpose_{k}_accuracy_after"]
        assert metrics[f"repurpose_{k}_relative_diversity_after"] >= 0.6
    assert metrics["repair_5_accuracy_after"] >= 0.95
    assert metrics["repair_5_relative_diversity_before"] < 0.5  # collapsed onto its one training image
    assert metrics["repair_5_relative_diversity_after"] >= 1.8 * metrics["repair_5_relative_diversity_before"]  # 2.0x measured
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (8 * (10 * 9 + 1), 8 * (6 * 9 + 1))  # 8, 9 and 5, before and after; 10 samples each, x8
    assert json.loads((tmp_path / "metrics.json").read_text()) == pytest.approx(metrics)
    for alias in ("label->digits-cgan:class-embed", "label->digits-cgan-starved:class-embed"):
        bridge = n2n.load_bridge(alias)
        assert bridge.config["metrics"]["train_steps"] == 500 and bridge.config["metrics"]["data"] == {}  # trained on no dataset
        assert bridge.translate(["eight", "five"], n_samples=2, seed=0).shape == (4, 1, 8, 8)


def test_a_class_whose_name_another_class_shares_keeps_its_own_row(tmp_path):
    """ImageNet's "crane" is the bird (134) and the machine (517): each maps to its own BigGAN row, and a
    saved bridge records the machine by its WordNet id, so that loading does not move it to the bird."""
    biggan = n2n.load_expert("biggan", checkpoint=write_tiny_biggan(tmp_path / "biggan"))
    judge = n2n.load_expert("timm", checkpoint=write_tiny_timm(tmp_path / "timm"))
    bridge = n2n.create_bridge("class-embed", n2n.load_expert("label", checkpoint="imagenet"), biggan, auxiliary={"classifier": judge},
                               classes=[517], **CONFIG)
    assert bridge.strategy.rows[517] == 517 and bridge.strategy.rows[134] == 134
    assert list(bridge.config["config"]["classes"]) == ["n03126707"]
    loaded = n2n.load_bridge(bridge.save_pretrained(tmp_path / "bridge"))
    assert loaded.strategy.optimised == [517]


def test_training_on_from_a_trained_bridge_starts_where_it_stopped(cgan_dir, tmp_path):
    bridge = make(cgan_dir)
    n2n.train(bridge, tmp_path / "first", steps=3, progress=False)
    trained = bridge.strategy.embeddings.clone()
    bridge.strategy.setup_training()
    torch.testing.assert_close(bridge.strategy.candidates[0], trained, atol=0, rtol=0)
