"""Strategy `hypermod` (hyper-modulation): the conformance suite on the digits GAN, self-alignment to the
frozen generator, learning rates that take effect, and the saved bridge without its discriminator."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors import safe_open

import n2n
from n2n.data.build import loop_data
from n2n.images import random_translations
from n2n.testing import StrategyTests
from n2n_bridges.hypermod import barlow_twins
from n2n_plugin_digits.hypermod_demo import HypermodDemo

CONFIG = {"hidden": 32, "depth": 2, "code_dim": 8, "batch_size": 16, "align_steps": 5}


def digits_loop_data(source, target, fraction=0.1):
    return loop_data(n2n.load_dataset("digits"), "train", source, target, progress=False, labelled_fraction=fraction)


class TestHypermod(StrategyTests):
    strategy_name = "hypermod"
    config = CONFIG

    @pytest.fixture
    def experts(self):
        return n2n.load_expert("label"), n2n.load_expert("digits-gan"), {}

    @pytest.fixture
    def training_data(self, experts):
        return digits_loop_data(*experts[:2])


@pytest.fixture(scope="module")
def aligned():
    """A hypermod bridge self-aligned with the default number of steps."""
    torch.manual_seed(0)
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", labelled_fraction=0.1)
    data = digits_loop_data(bridge.source, bridge.target)
    bridge.strategy.initialize(next(data.batches(32, seed=0)))
    return bridge


def test_self_alignment_starts_every_class_at_the_frozen_generator(aligned):
    strategy = aligned.strategy
    assert strategy.alignment_error() <= 1e-3
    codes = strategy.conditioning.codes
    assert torch.equal(codes, codes[:1].expand_as(codes))  # one code copied to every class
    z = torch.randn(8, 32, generator=torch.Generator().manual_seed(1))
    frozen = aligned.target.decode(z)
    for label in ("3", "eight"):
        rows = aligned.source.encode([label] * 8)
        torch.testing.assert_close(aligned.decode(z, rows), frozen, atol=1e-3, rtol=0)


def test_before_alignment_the_modulated_generator_differs():
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0)
    assert bridge.strategy.alignment_error() > 1e-3  # so the alignment test above measures the alignment


def test_the_frozen_generator_is_never_written(tmp_path):
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **CONFIG)
    before = {k: v.clone() for k, v in bridge.target.decoder.state_dict().items()}
    n2n.train(bridge, tmp_path / "run", digits_loop_data(bridge.source, bridge.target), steps=3, progress=False)
    for name, tensor in bridge.target.decoder.state_dict().items():
        assert torch.equal(tensor, before[name]), name


@pytest.mark.parametrize("field,group", [("lr", 0), ("code_lr", 1), ("d_lr", 2)])
def test_each_learning_rate_takes_effect(field, group):
    """The reference silently ignored its --lr flag; every rate in the config reaches the optimiser."""
    strategy = n2n.create_bridge("hypermod", "label", "digits-gan", **{**CONFIG, field: 0.0123}).strategy
    strategy.setup_training()
    groups = strategy.optimizer().param_groups
    assert groups[group]["lr"] == 0.0123
    assert [g["lr"] for i, g in enumerate(groups) if i != group] == [CONFIG.get(k, v) for k, v in
                                                                     [("lr", 2e-4), ("code_lr", 2e-3), ("d_lr", 1e-3)]
                                                                     if k != field]


def test_a_zero_learning_rate_leaves_the_hypernetwork_unchanged(tmp_path):
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **{**CONFIG, "lr": 0.0, "code_lr": 0.0})
    data = digits_loop_data(bridge.source, bridge.target)
    changed = {}

    def after_the_first_step(step, losses):  # self-alignment (its own optimiser) has run by then
        if step == 1:
            changed.update({k: v.clone() for k, v in bridge.strategy.conditioning.state_dict().items()})

    n2n.train(bridge, tmp_path / "run", data, steps=4, progress=False, on_step=after_the_first_step)
    for name, tensor in bridge.strategy.conditioning.state_dict().items():
        assert torch.equal(tensor, changed[name]), name


def test_the_saved_bridge_holds_what_generation_needs(tmp_path):
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **CONFIG)
    n2n.train(bridge, tmp_path / "run", digits_loop_data(bridge.source, bridge.target), steps=3, progress=False)
    assert any(key.startswith("discriminator.") for key in bridge.strategy.state_dict())  # checkpoints keep it
    directory = bridge.save_pretrained(tmp_path / "bridge")
    loaded = n2n.load_bridge(directory)
    saved = set(safe_open(str(directory / "model.safetensors"), "pt").keys())
    assert {key.split(".")[0] for key in saved} == {"conditioning"} and "conditioning.codes" in saved
    # the bridge keeps the moving average of training's weights, and renders the same samples once loaded
    bridge.strategy.eval()
    torch.testing.assert_close(loaded.translate(["4", "seven"], n_samples=3, seed=2),
                               bridge.translate(["4", "seven"], n_samples=3, seed=2), atol=0, rtol=0)
    average = dict(bridge.strategy.average.module.named_parameters())
    for name, tensor in loaded.strategy.conditioning.named_parameters():
        assert torch.equal(tensor, average[name]), name
    assert loaded.strategy.conditioning.aligned  # training on from it does not align again


def test_an_unknown_modulation_is_refused():
    with pytest.raises(n2n.errors.InvalidInputError, match="hypermod: modulation must be"):
        n2n.create_bridge("hypermod", "label", "digits-gan", modulation="diagonal")


@pytest.mark.parametrize("ema", [1.0, 3.0, -0.5])
def test_a_moving_average_that_cannot_move_is_refused(ema):
    """ema = 1 would save the weights of the first step; above 1, torch's own error came from inside training."""
    with pytest.raises(n2n.errors.InvalidInputError, match=f"hypermod: ema is the moving average's decay, in \\[0, 1\\).* got {ema}"):
        n2n.create_bridge("hypermod", "label", "digits-gan", ema=ema)


def test_unmodulated_layers_render_with_the_generators_own_weights(tmp_path):
    """The paper leaves StyleGAN's to-RGB layers as they are; `unmodulated` does so for any layer by name."""
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, unmodulated=["body.4", "project"], **CONFIG)
    codes = bridge.strategy.conditioning.codes[:2]
    assert set(bridge.strategy.modulated(codes)) == {"body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"}
    seen = []
    last = bridge.target.decoder.body[4]
    hook = last.register_forward_hook(lambda _module, inputs, output: seen.append((inputs[0], output)))
    try:
        bridge.with_settings(vectorize=False).translate(["3"], n_samples=2, seed=0)  # a random hypernetwork: the others differ
    finally:
        hook.remove()
    inputs, output = seen[0]
    torch.testing.assert_close(output, torch.nn.functional.conv2d(inputs, last.weight, last.bias, padding=1))
    loaded = n2n.load_bridge(bridge.save_pretrained(tmp_path / "bridge"))
    assert loaded.strategy.config.unmodulated == ("body.4", "project")
    torch.testing.assert_close(loaded.translate(["3"], n_samples=2, seed=1), bridge.translate(["3"], n_samples=2, seed=1), atol=0, rtol=0)


@pytest.mark.parametrize(("unmodulated", "message"), [
    (["body.9"], r"unmodulated \['body.9'\] matches no linear or convolutional layer of 'digits-gan'.s decoder; its layers: "
                 r"project.0, body.0, body.2, body.4$"),
    (["*"], r"decoder has no linear or convolutional layer to modulate that unmodulated \['\*'\] leaves$"),
    ([3], r"unmodulated is a list of layer names or patterns, such as \[\"mapping\"\], got \[3\]$"),
])
def test_unmodulated_names_that_leave_nothing_sensible_are_refused(unmodulated, message):
    with pytest.raises(n2n.errors.InvalidInputError, match=message):
        n2n.create_bridge("hypermod", "label", "digits-gan", unmodulated=unmodulated)


def test_a_one_weight_filter_modulates_to_finite_weights():
    """A filter of one weight (a Linear(1, n) layer) has no unbiased spread: modulating it must not give NaN."""
    class OneInput(n2n.Expert):
        name, modality, latent_shape, default_checkpoint, has_weights = "one-input", "image", (1,), "random", False

        def _load(self, path):
            self.generator = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Unflatten(1, (1, 4, 4)))

        def _decode(self, latents):
            return self.generator(latents)

    bridge = n2n.create_bridge("hypermod", n2n.load_expert("label"), OneInput(), **CONFIG)
    weights = bridge.strategy.modulated(torch.randn(3, CONFIG["code_dim"]))
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())


def test_mixed_classes_render_in_their_rows_order():
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, hidden=8, depth=1, init_scale=1.0)
    z = torch.randn(5, 32, generator=torch.Generator().manual_seed(0))
    classes = bridge.source.encode([3, 1, 3, 0, 1])
    together = bridge.decode(z, classes)
    for row in range(5):
        torch.testing.assert_close(together[row : row + 1], bridge.decode(z[row : row + 1], classes[row : row + 1]))


def test_classes_in_one_batched_call_match_one_class_at_a_time():
    """`vectorize` (every class's generator and discriminator batch in one vmapped call) is the same
    arithmetic as a loop over the classes: the same renders, losses and gradients."""
    z = torch.randn(6, 32, generator=torch.Generator().manual_seed(0))
    rendered, losses, gradients = [], [], []
    for vectorize in (True, False):
        bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **{**CONFIG, "init_scale": 1.0, "vectorize": vectorize})
        strategy = bridge.strategy
        strategy.setup_training()
        strategy.train()
        rendered.append(bridge.decode(z, bridge.source.encode([3, 1, 3, 1, 0, 0])))  # equal groups: batched when vectorized
        torch.manual_seed(0)
        step = strategy.training_step(next(digits_loop_data(bridge.source, bridge.target).batches(16, seed=0)))
        losses.append({name: value.item() for name, value in step.items()})
        step["loss"].backward()
        gradients.append([p.grad.clone() for p in [*strategy.conditioning.parameters(), *strategy.discriminator.parameters()]])
    torch.testing.assert_close(rendered[0], rendered[1], atol=1e-5, rtol=1e-4)
    assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-5)
    for batched, looped in zip(*gradients):
        torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-3)


def test_more_classes_than_the_batch_renders_a_random_batch_of_them():
    """A label list larger than the batch (ImageNet's 1,000) renders batch_size classes a step, one fake each."""
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **CONFIG)
    drawn = [bridge.strategy._fake_classes(4, torch.device("cpu")) for _ in range(20)]
    assert all(len(d) == 4 and len(set(d.tolist())) == 4 for d in drawn) and len({tuple(d.tolist()) for d in drawn}) > 1
    assert torch.equal(bridge.strategy._fake_classes(16, torch.device("cpu")), torch.arange(10))


def test_full_rank_modulation_renders_the_same_shapes():
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, modulation="full", hidden=8, depth=1)
    outputs = bridge.translate(["1", "2"], n_samples=2, seed=0)
    assert outputs.shape == (4, 1, 8, 8)


def test_a_dataset_without_real_items_is_a_clear_error():
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", **CONFIG)
    data = digits_loop_data(bridge.source, bridge.target)
    batch = next(data.batches(8, seed=0))
    del batch["real"]
    with pytest.raises(n2n.errors.InvalidInputError, match="real image items"):
        bridge.strategy.initialize(batch)


def test_each_side_learns_from_its_own_loss_only():
    """The one summed loss updates the discriminator by its loss and the generator side by its own."""
    bridge = n2n.create_bridge("hypermod", "label", "digits-gan", seed=0, **{**CONFIG, "init_scale": 1.0})
    strategy = bridge.strategy
    strategy.setup_training()
    strategy.train()
    losses = strategy.training_step(next(digits_loop_data(bridge.source, bridge.target).batches(16, seed=0)))
    conditioning, discriminator = list(strategy.conditioning.parameters()), list(strategy.discriminator.parameters())
    from_g = torch.autograd.grad(losses["g"], conditioning + discriminator, retain_graph=True, allow_unused=True)
    from_d = torch.autograd.grad(losses["d"], conditioning + discriminator, retain_graph=True, allow_unused=True)
    split = len(conditioning)
    assert all(g is not None and g.any() for g in from_g[:1]) and all(g is None for g in from_g[split:])
    assert all(g is None for g in from_d[:split]) and any(g is not None and g.any() for g in from_d[split:])


def test_barlow_twins_is_lowest_for_identical_views():
    torch.manual_seed(0)
    a = torch.randn(64, 16)
    assert barlow_twins(a, a) < barlow_twins(a, a + torch.randn(64, 16)) < barlow_twins(a, torch.randn(64, 16))


def test_barlow_twins_stays_fp32_under_bf16_autocast():
    a = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    b = a + 1e-3 * torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = barlow_twins(a.bfloat16(), b.bfloat16())
    torch.testing.assert_close(autocast, barlow_twins(a.bfloat16().float(), b.bfloat16().float()))


def test_random_translations_move_each_image_whole_and_pass_gradients():
    """The discriminator's augmentation: every image shifted by its own offset of at most one pixel here,
    zero-filled, and differentiable (the generator learns through it)."""
    torch.manual_seed(0)
    images = torch.rand(32, 2, 8, 8, requires_grad=True)
    moved = random_translations(images, 0.125)  # pad: one pixel
    padded = torch.nn.functional.pad(images.detach(), (1, 1, 1, 1))
    offsets = [next((y, x) for y in range(3) for x in range(3) if torch.equal(out, original[:, y : y + 8, x : x + 8]))
               for original, out in zip(padded, moved.detach())]
    assert len(set(offsets)) > 1  # each image its own offset
    moved.sum().backward()
    assert images.grad.sum() > 0 and set(images.grad.unique().tolist()) <= {0.0, 1.0}
    assert random_translations(images, 0.0) is images  # shift 0: no augmentation at all


def test_labelled_fraction_keeps_that_share_of_every_class():
    source, target = n2n.load_expert("label"), n2n.load_expert("digits-gan")
    full, tenth = digits_loop_data(source, target, 1.0), digits_loop_data(source, target, 0.1)
    assert len(tenth) == pytest.approx(0.1 * len(full), abs=10)
    assert torch.bincount(tenth.labels).min() >= 13  # ~14 of each digit's ~144
    torch.testing.assert_close(tenth.source.load_all().argmax(-1), tenth.labels)
    assert "10% of its labels" in tenth.description
    with pytest.raises(n2n.errors.InvalidInputError, match="labelled_fraction must be in"):
        n2n.create_bridge("hypermod", source, target, labelled_fraction=0.0)


@pytest.mark.slow
def test_the_demo_leaves_samples_metrics_and_a_zoo_bridge(tmp_path):
    """The plumbing of `n2n demo hypermod` (its quality is measured by benchmarks/hypermod.py)."""
    metrics = HypermodDemo().run(tmp_path, steps=20, progress=False)
    assert {"class_accuracy_min", "class_fid_mean", "class_relative_diversity_mean", "class_9_accuracy"} <= set(metrics)
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (8 * (10 * 9 + 1), 8 * (10 * 9 + 1))  # one row per digit, 10 samples each, x8
    assert json.loads((tmp_path / "metrics.json").read_text())["class_accuracy_min"] == metrics["class_accuracy_min"]
    bridge = n2n.load_bridge("label->digits-gan:hypermod")
    assert bridge.config["metrics"]["train_steps"] == 20
    assert bridge.translate(["seven"], n_samples=2, seed=0).shape == (2, 1, 8, 8)
