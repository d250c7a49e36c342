"""Strategy `latent-vae` (Latent Translation): the conformance suite, the reference code's bugs as
regression tests, both directions from one bridge, and the unpaired pipeline from the command line."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import n2n
from n2n.cli import main
from n2n.data.build import domain, split_seed
from n2n.testing import StrategyTests
from n2n.training import pipeline
from n2n.training.transfer import direction_report
from n2n_bridges.latent_vae import CONFIDENCE_SHRINK, CONFIDENCE_TRIES, PULLBACK_FLOOR, TRACKING, isometry, sliced_wasserstein


class TestLatentVAE(StrategyTests):
    strategy_name = "latent-vae"
    config = {"hidden": 32, "depth": 2, "batch_size": 32}


def test_sliced_wasserstein_is_zero_for_identical_samples_and_grows_with_a_shift():
    torch.manual_seed(0)
    a = torch.randn(512, 8)
    assert sliced_wasserstein(a, a.clone(), 128) == 0
    shifted = [sliced_wasserstein(a, a[torch.randperm(512)] + shift, 128).item() for shift in (0.5, 1.0, 2.0)]
    assert shifted[0] < shifted[1] < shifted[2]
    assert sliced_wasserstein(a, torch.randn(512, 8), 128) < shifted[0]  # two samples of one distribution: close


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """digits -> digits-gan, trained briefly through the pipeline's defaults (no datasets named)."""
    bridge = n2n.create_bridge("latent-vae", "digits", "digits-gan", seed=0, hidden=128, depth=2, batch_size=256, beta_cls=1.0)
    classifier_before = {k: v.clone() for k, v in bridge.strategy.classifier.state_dict().items()}
    n2n.train(bridge, tmp_path_factory.mktemp("run"), steps=300, progress=False)
    return bridge, classifier_before


def test_the_shared_classifier_is_trained(trained):
    """The reference never put the shared-space classifier in its optimiser; here it learns."""
    bridge, before = trained
    assert any(not torch.equal(before[k], v) for k, v in bridge.strategy.classifier.state_dict().items())


def test_one_bridge_translates_both_ways_and_round_trips_through_disk(trained, tmp_path):
    bridge, _ = trained
    digits = n2n.load_dataset("digits").load("test")["image"][:4]
    bridge.metrics = {"transfer_accuracy": 0.9, "reverse_transfer_accuracy": 0.8, "train_steps": 300, "exploded": "NLL 1e26"}
    back = bridge.reversed()
    assert (back.source.name, back.target.name) == ("digits-gan", "digits")
    assert back.metrics == {"transfer_accuracy": 0.8, "reverse_transfer_accuracy": 0.9, "train_steps": 300, "exploded": "NLL 1e26"}
    assert back.reversed().config == bridge.config
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    for original, source_latents in ((bridge, bridge.source.encode(digits)), (back, z)):  # the GAN only decodes: its latents
        loaded = n2n.load_bridge(original.save_pretrained(tmp_path / original.source.name))
        torch.testing.assert_close(loaded.sample(source_latents, 2, seed=1), original.sample(source_latents, 2, seed=1), atol=0, rtol=0)
    torch.testing.assert_close(n2n.load_bridge(tmp_path / "digits").translate(digits, 2, seed=1), bridge.translate(digits, 2, seed=1))


def test_translations_keep_the_class_both_ways_after_brief_training(trained):
    bridge, _ = trained
    columns = n2n.load_dataset("digits").load("test")
    classifier = n2n.load_expert("digits-classifier")
    forward = classifier.encode(bridge.translate(columns["image"][:100], seed=0)).argmax(-1)
    assert (forward == columns["label"][:100]).float().mean() > 0.7
    gan = bridge.target
    draws = gan.sample_latents(200, torch.Generator().manual_seed(1))  # [200, 32]
    probabilities = classifier.encode(gan.decode(draws)).softmax(-1)
    clear = probabilities.max(-1).values >= 0.9  # draws with a class to keep
    back = bridge.reversed()  # the GAN only decodes: its translations start from its latents
    backward = classifier.encode(back.target.decode(back.sample(draws[clear], 1, seed=0))).argmax(-1)
    assert (backward == probabilities.argmax(-1)[clear]).float().mean() > 0.4  # chance: 0.1; 300 steps align less this way


def test_lower_correlation_draws_more_varied_translations_of_the_same_class(trained):
    """correlation < 1 draws each translation from the source class's tracked codes: the spread of one
    input's translations grows as the correlation falls, and the class stays."""
    bridge, _ = trained
    columns = n2n.load_dataset("digits").load("test")
    classifier = n2n.load_expert("digits-classifier")
    spreads = []
    for correlation in (1.0, 0.5, 0.0):
        images = bridge.with_settings(correlation=correlation).translate(columns["image"][:40], n_samples=8, seed=0)  # [320, 1, 8, 8]
        spreads.append(images.view(40, 8, -1).std(1).mean().item())
        kept = classifier.encode(images).argmax(-1) == columns["label"][:40].repeat_interleave(8)
        assert kept.float().mean() > 0.6, correlation  # after 300 steps (the demo's 3,000: >= 0.95)
    assert spreads[0] < spreads[1] < spreads[2]
    assert bridge.strategy.config.correlation == 1.0  # the trained bridge is left as it was


def test_a_fixed_seed_shows_the_locality_the_sampling_noise_hides(trained):
    """At correlation 0.5 a translation keeps half its source's offset and adds √0.75 of the class's spread: one
    independent draw per item hides how the bridge keeps the source's geometry, the same draw for every item
    shows it; at 0 only the class is kept."""
    bridge, _ = trained
    source, target = domain(bridge.source, None, "test", progress=False), domain(bridge.target, None, "test", generated=300, progress=False)
    reports = {rho: direction_report(bridge.with_settings(correlation=rho), source, target, n2n.load_expert("digits-classifier"),
                                     n_samples=2) for rho in (0.5, 0.0)}
    assert reports[0.5]["locality_fixed_seed"] > reports[0.5]["locality"] + 0.2  # measured 0.51 against 0.18
    assert reports[0.0]["locality_fixed_seed"] < reports[0.5]["locality_fixed_seed"] - 0.2  # 0.13


def test_a_sampling_setting_holds_both_ways(trained):
    bridge, _ = trained
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    varied = bridge.with_settings(correlation=0.5).reversed()
    assert varied.strategy.config.correlation == 0.5 and bridge.reversed().strategy.config.correlation == 1.0
    assert not torch.equal(varied.sample(z, 2, seed=0), bridge.reversed().sample(z, 2, seed=0))


def small_strategy(**config):
    return n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1, classes=3, shared_dim=2, **config).strategy


def test_tracked_class_statistics_are_each_class_s_mean_and_covariance():
    strategy = small_strategy()
    z, labels = torch.tensor([[1.0, 0.0], [3.0, 2.0], [-1.0, 4.0]]), torch.tensor([0, 0, 2])
    strategy._track_classes(z, labels, domain=1)  # one batch: the averages' zero start is corrected for
    mean, vectors, deviations, seen = strategy.class_statistics(1)
    scale = vectors * deviations[:, None, :]
    torch.testing.assert_close(vectors[0].T @ vectors[0], torch.eye(2))  # orthonormal directions
    torch.testing.assert_close(mean[[0, 2]], torch.tensor([[2.0, 1.0], [-1.0, 4.0]]))
    torch.testing.assert_close(scale[0] @ scale[0].T, torch.tensor([[1.0, 1.0], [1.0, 1.0]]), atol=1e-5, rtol=0)  # population covariance
    assert seen.tolist() == [True, False, True] and not strategy.class_statistics(0)[3].any()  # an absent class, the other domain
    for _ in range(500):
        strategy._track_classes(z + 1, labels, domain=1)
    torch.testing.assert_close(strategy.class_statistics(1)[0][0], torch.tensor([3.0, 2.0]), atol=1e-2, rtol=0)  # it follows the codes


def test_residual_noise_has_the_steps_spread_from_the_first_steps():
    """The residual spread is a moving average started at zero: after 5 steps it holds ~5% of what they saw,
    and is read corrected, as after 5,000."""
    young, old = small_strategy(residual_noise=1.0).eval(), small_strategy(residual_noise=1.0).eval()
    old.load_state_dict(young.state_dict())
    error = torch.rand(young.dims[1], generator=torch.Generator().manual_seed(0))
    for strategy, steps in ((young, 5), (old, 5000)):
        for _ in range(steps):
            strategy.residual_1.lerp_(error, TRACKING)
        strategy.trained_steps.fill_(steps)  # as training_step counts them
    assert young.residual_1.max() < 0.1 * old.residual_1.max()
    source = torch.randn(3, young.source_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        samples = young.sample(source, 4, torch.Generator().manual_seed(2))
        torch.testing.assert_close(samples, old.sample(source, 4, torch.Generator().manual_seed(2)))
        assert not torch.allclose(samples, young.with_settings(residual_noise=0.0).sample(source, 4, torch.Generator().manual_seed(2)))


def test_class_statistics_stay_fp32_under_bf16_autocast():
    strategy = small_strategy()
    z = (torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * 0.01 + 100).bfloat16()  # large mean, small spread
    labels = torch.zeros(256, dtype=torch.long)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        strategy._track_classes(z, labels, domain=1)
    mean, vectors, deviations, _ = strategy.class_statistics(1)
    scale = vectors * deviations[:, None, :]
    assert strategy.class_moment_1.dtype == torch.float32
    expected = z.float()
    torch.testing.assert_close(mean[0], expected.mean(0))
    torch.testing.assert_close(scale[0] @ scale[0].T, torch.cov(expected.T, correction=0), atol=2e-4, rtol=0.1)


def test_the_kl_and_the_sliced_wasserstein_distance_stay_fp32_under_bf16_autocast():
    """Near the prior the KL's terms cancel, and near alignment the sorted projections differ, by less than
    bf16 resolves: in bf16 the KL came out negative and the distance floored at 1.6x its value."""
    strategy = small_strategy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mean, logvar = strategy.encode(torch.randn(8, strategy.source_dim), 0)
    assert mean.dtype == logvar.dtype == torch.float32
    a = torch.randn(512, 8, generator=torch.Generator().manual_seed(0))
    b = a + 1e-3 * torch.randn(512, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the same random directions in both
    exact = sliced_wasserstein(a, b, 128)
    torch.manual_seed(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = sliced_wasserstein(a, b, 128)
    torch.testing.assert_close(autocast, exact)


def calls(strategy, label: int) -> None:
    """Makes the shared classifier call every code `label`."""
    with torch.no_grad():
        strategy.classifier[-1].weight.zero_()
        strategy.classifier[-1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(label), strategy.config.classes).float())


def test_correlation_keeps_that_share_of_the_source_and_draws_the_rest_from_its_class():
    strategy = small_strategy(correlation=0.0)
    torch.manual_seed(0)
    codes = torch.randn(4000, 2) @ torch.tensor([[1.0, 0.0], [0.5, 0.5]]) + torch.tensor([3.0, -1.0])
    strategy._track_classes(codes, torch.zeros(4000, dtype=torch.long), domain=1)
    source = torch.zeros(1, 2)
    calls(strategy, 0)
    drawn, seen = strategy._class_codes(source, torch.randn(4000, 2), domain=1)
    assert seen.all()
    torch.testing.assert_close(drawn.mean(0), codes.mean(0), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(drawn.T), torch.cov(codes.T), atol=0.05, rtol=0)
    paper = strategy.with_settings(correlation=1.0)
    torch.testing.assert_close(paper._class_codes(source, torch.randn(5, 2), domain=1)[0], source.expand(5, -1))


def test_keep_widest_keeps_the_source_along_its_class_s_widest_directions_and_draws_the_rest():
    strategy = small_strategy(correlation=0.0, keep_widest=1)
    torch.manual_seed(0)
    widest, narrow = torch.tensor([0.6, 0.8]), torch.tensor([-0.8, 0.6])  # the class's principal directions
    codes = torch.randn(4000, 1) * 3 * widest + torch.randn(4000, 1) * 0.5 * narrow + torch.tensor([3.0, -1.0])
    strategy._track_classes(codes, torch.zeros(4000, dtype=torch.long), domain=1)
    calls(strategy, 0)
    source = torch.tensor([[3.0, -1.0]]) + 2.0 * widest + 1.0 * narrow  # [1, 2]: offset (2, 1) from the centre
    drawn = strategy._class_codes(source, torch.randn(4000, 2), domain=1)[0] - codes.mean(0)  # [4000, 2] offsets
    torch.testing.assert_close(drawn @ widest, torch.full((4000,), 2.0), atol=0.05, rtol=0)  # whole, every draw
    along_narrow = drawn @ narrow  # correlation 0 there: the class's spread, none of the source's 1.0
    assert abs(along_narrow.mean()) < 0.05 and abs(along_narrow.std() - 0.5) < 0.03
    everything = strategy.with_settings(keep_widest=2)
    torch.testing.assert_close(everything._class_codes(source, torch.randn(5, 2), domain=1)[0], source.expand(5, -1),
                               atol=0.02, rtol=0)  # every direction kept: the source itself, up to the tracked centre


@pytest.mark.parametrize("value, error", [(3, r"keep_widest counts directions of the shared code: an integer in "
                                               r"\[0, shared_dim=2\], got 3"),
                                          (1.5, "keep_widest' must be int, got 1.5")])
def test_keep_widest_is_a_count_of_shared_directions(value, error):
    with pytest.raises(n2n.N2NError, match=error):
        small_strategy(keep_widest=value)


@torch.no_grad()
def test_class_confidence_shrinks_only_the_spread_of_unclear_draws(trained):
    bridge, _ = trained
    strategy, target = bridge.strategy, bridge.strategy.domain_of("target")
    digits = n2n.load_dataset("digits").load("test")["image"][:50]
    mean = strategy.encode(bridge.source.encode(digits).flatten(1), strategy.domain_of("source"))[0]  # [50, S]
    classes = strategy.classifier(mean).argmax(-1).repeat_interleave(8)  # [400]
    noise = torch.randn(400, mean.shape[1], generator=torch.Generator().manual_seed(0))
    centres, vectors, deviations, _ = strategy.class_statistics(target)
    scales = vectors * deviations[:, None, :]
    kept = centres[classes] + 0.5 * (mean.repeat_interleave(8, 0) - centres[classes])  # correlation 0.5: [400, S]
    spread = 0.75**0.5 * (scales[classes] @ noise[:, :, None])[:, :, 0]  # [400, S]
    drawn, sureness = {}, {}
    for confidence in (0.0, 0.99):
        varied = strategy.with_settings(correlation=0.5, class_confidence=confidence)
        drawn[confidence] = varied._class_codes(mean, noise, target)[0]  # [400, S]
        sureness[confidence] = strategy.classifier(drawn[confidence]).softmax(-1).gather(1, classes[:, None])[:, 0]
    torch.testing.assert_close(drawn[0.0], kept + spread)  # off: the draw as it was
    clear = sureness[0.0] >= 0.99
    assert 0 < clear.sum() < len(clear)  # some draws of a class's spread land where the class is unclear
    torch.testing.assert_close(drawn[0.99][clear], drawn[0.0][clear], atol=0, rtol=0)  # the clear ones are left alone
    share = (drawn[0.99] - kept) / spread  # [400, S]: the same power of the shrink in every dimension of a row
    shrinks = share[:, 0].log() / torch.tensor(CONFIDENCE_SHRINK).log()  # [400]
    torch.testing.assert_close(share, share[:, :1].expand_as(share), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(shrinks, shrinks.round(), atol=1e-2, rtol=0)
    shrinks = shrinks.round()
    assert (shrinks[~clear] >= 1).all()  # the unclear ones are pulled in, until sure enough or at the last shrink
    stopped_early = shrinks < CONFIDENCE_TRIES
    assert (sureness[0.99][~clear & stopped_early] >= 0.99).all() and (~clear & stopped_early).any()


def test_class_confidence_is_a_probability_below_1():
    with pytest.raises(n2n.N2NError, match=r"class_confidence must be in \[0, 1\), got 1.0"):
        n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1, class_confidence=1.0)


def test_a_class_training_never_saw_keeps_the_posterior_draw():
    strategy = small_strategy(correlation=0.5)
    strategy._track_classes(torch.randn(8, 2), torch.zeros(8, dtype=torch.long), domain=1)
    calls(strategy, 2)  # a class the target domain never showed
    source = torch.randn(3, 24)
    drawn = strategy.sample(source, 2, torch.Generator().manual_seed(0))
    paper = strategy.with_settings(correlation=1.0)
    torch.testing.assert_close(drawn, paper.sample(source, 2, torch.Generator().manual_seed(0)))


def test_correlation_needs_trained_class_statistics_and_a_value_in_0_1():
    bridge = n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1, correlation=0.5)
    with pytest.raises(n2n.N2NError, match="train the bridge first, or translate with correlation=1"):
        bridge.sample(torch.randn(2, 24), 2, seed=0)
    with pytest.raises(n2n.N2NError, match=r"correlation must be in \[0, 1\], got 1.5"):
        n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1, correlation=1.5)


def test_a_generator_without_a_labeller_is_one_clear_error():
    bridge = n2n.create_bridge("latent-vae", "digits", "faces", hidden=16, depth=1)
    with pytest.raises(n2n.N2NError, match="expert 'faces' has neither a labelled dataset nor a classifier to label its samples"):
        n2n.training_data(bridge, n2n.DataSource())


def test_only_reversible_strategies_run_backwards():
    with pytest.raises(n2n.N2NError, match="strategy 'mlp' translates one way only"):
        n2n.create_bridge("mlp", "digits", "digits-gan", hidden=8, depth=1).reversed()


@pytest.mark.slow
def test_n2n_train_with_defaults_registers_both_directions(tmp_path, capsys):
    assert main(["train", "digits->digits-gan", "--strategy", "latent-vae", "--steps", "200", "--out", str(tmp_path),
                 "--set", "hidden=128", "--set", "depth=2", "--set", "batch_size=256", "--set", "beta_cls=1.0"]) == 0
    out = capsys.readouterr().out
    assert ("digits: digits/train; digits-gan: 40000 samples of digits-gan labelled by digits-classifier, "
            "the 50% of each class it is surest of (train)") in out
    metrics = json.loads((tmp_path / "bridge" / "config.json").read_text())["metrics"]
    for direction in ("", "reverse_"):
        for key in ("transfer_accuracy", "transfer_agreement", "class_consistency", "cycle_accuracy"):
            assert 0 <= metrics[direction + key] <= 1, direction + key
        assert -1 <= metrics[direction + "locality"] <= 1
        assert 0 < metrics[direction + "relative_diversity"] < 10
    assert 0 <= metrics["reverse_transfer_accuracy_all_draws"] <= 1  # the generator's side: all its draws too
    assert "transfer_accuracy_all_draws" not in metrics  # the VAE's side: a dataset, every item already
    back = n2n.load_bridge("digits-gan->digits")  # the reversed bridge, registered under its own alias
    assert back.config["config"]["reverse"] and back.source.name == "digits-gan"


def test_held_out_prior_samples_never_repeat_training_ones():
    seeds = {split_seed(seed, split) for seed in range(5) for split in ("train", "test")}
    assert len(seeds) == 10  # the test split of one seed is no other seed's training draw
    gan = n2n.load_expert("digits-gan")
    train, test = (domain(gan, None, split, generated=300, progress=False).latents.load_all() for split in ("train", "test"))
    assert not (torch.cdist(train, test) == 0).any()  # no test draw is a training one


def test_a_generator_domain_keeps_the_draws_its_labeller_is_surest_of():
    gan, classifier = n2n.load_expert("digits-gan"), n2n.load_expert("digits-classifier")
    surest, everyone = (domain(gan, None, "test", generated=300, keep=keep, progress=False) for keep in (0.5, 1.0))
    assert len(everyone.labels) == 300 and 140 <= len(surest.labels) <= 160
    latents = everyone.latents.load_all()
    confidence, labels = classifier.encode(gan.decode(latents)).softmax(-1).max(-1)
    assert torch.equal(labels, everyone.labels)
    kept = (torch.cdist(latents, surest.latents.load_all()) == 0).any(-1)  # [300]: which draws stayed
    for c in labels.unique():
        stayed, dropped = confidence[kept & (labels == c)], confidence[~kept & (labels == c)]
        assert len(dropped) == 0 or stayed.min() >= dropped.max() - 1e-4  # (saturated softmaxes tie near 1)


def test_diversity_into_a_generator_is_relative_to_all_its_draws_of_a_class(monkeypatch):
    """The translated items are the labeller's surest half; the spread diversity is relative to is every
    draw of the class (the surest half alone spreads ~15% less, which would flatter diversity)."""
    seen = {}
    monkeypatch.setattr(pipeline, "transfer_report", lambda *args: seen.update(args=args) or {})
    bridge = n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1)
    n2n.evaluate_bridge(bridge, n2n.DataSource(generated=300), progress=False)
    _, source, target, *_, references = seen["args"]
    assert "surest" in target.origin and len(target.labels) < 300
    assert "surest" not in references[1].origin and len(references[1].labels) == 300
    assert len(references[0].labels) == len(source.labels)  # a dataset's items are all kept either way


def test_the_judge_given_judges_both_directions_and_the_generators_labeller_as_judge_is_said(monkeypatch, caplog):
    """--classifier replaced only the forward judge (the reverse and the cycle stayed with the source's default), and
    nothing said that the default judge also labelled the GAN draws the bridge was aligned on."""
    seen = {}
    monkeypatch.setattr(pipeline, "transfer_report", lambda *args: seen.update(args=args) or {})
    bridge = n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1)
    judge = n2n.load_expert("digits-classifier")
    with caplog.at_level(logging.WARNING, logger="n2n"):
        n2n.evaluate_bridge(bridge, n2n.DataSource(generated=300), judge, progress=False)
    assert seen["args"][3][0] is judge and seen["args"][3][1] is judge
    assert "digits-classifier judges a bridge aligned on the generator draws it labelled itself" in caplog.text


def test_labels_beyond_the_configured_classes_are_one_clear_error():
    bridge = n2n.create_bridge("latent-vae", n2n.load_expert("latent", dim=4), n2n.load_expert("latent", dim=3), classes=3, hidden=8, depth=1)
    batch = {"source": torch.randn(8, 4), "source_label": torch.arange(8), "target": torch.randn(8, 3), "target_label": torch.zeros(8, dtype=torch.long)}
    with pytest.raises(n2n.N2NError, match="a source label is 7, but classes=3"):
        bridge.strategy.training_step(batch)


def initialized_with_pullback():
    bridge = n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=16, depth=1, classes=3, shared_dim=2,
                               pullback=True, seed=0)
    generator = torch.Generator().manual_seed(0)
    bridge.strategy.initialize({"source": torch.randn(64, bridge.strategy.source_dim, generator=generator),
                                "target": torch.randn(64, 32, generator=generator)})
    return bridge


def test_pullback_maps_a_generators_latents_by_its_output_metric():
    """|A v|² is the mean squared change of the GAN's images along a direction v of its latent space (for
    the directions the GAN uses most; the others are floored at a share of those); the VAE's domain (it
    encodes) keeps plain standardisation, and the mapping inverts."""
    strategy = initialized_with_pullback().strategy
    assert not hasattr(strategy, "pullback_0") and hasattr(strategy, "pullback_1")  # digits encodes; digits-gan only decodes
    A, inverse = strategy.pullback_1, strategy.pullback_inverse_1
    torch.testing.assert_close(A, A.T)
    torch.testing.assert_close(A @ inverse, torch.eye(32), atol=1e-3, rtol=0)
    gan, generator, step = n2n.load_expert("digits-gan"), torch.Generator().manual_seed(1), 1e-3
    z = torch.randn(512, 32, generator=generator)
    values, vectors = torch.linalg.eigh(A @ A)
    assert values.min() >= PULLBACK_FLOOR * values.max() * 0.999
    for v in vectors[:, -4:].T:  # the four directions that change the images most
        change = (gan.decode(z + step * v) - gan.decode(z)).flatten(1).pow(2).sum(-1).mean() / step**2
        assert (A @ v).pow(2).sum() == pytest.approx(change.item(), rel=0.25)
    x = torch.randn(5, 32, generator=generator)
    torch.testing.assert_close(strategy.unstandardise(strategy.standardise(x, 1), 1), x, atol=1e-4, rtol=1e-4)


def test_a_pullback_bridge_round_trips_through_disk_both_ways(tmp_path):
    bridge = initialized_with_pullback()
    digits, z = n2n.load_dataset("digits").load("test")["image"][:3], torch.randn(3, 32, generator=torch.Generator().manual_seed(2))
    for original, source_latents in ((bridge, bridge.source.encode(digits)), (bridge.reversed(), z)):
        loaded = n2n.load_bridge(original.save_pretrained(tmp_path / original.source.name))
        assert loaded.strategy.config.pullback
        torch.testing.assert_close(loaded.sample(source_latents, 2, seed=1), original.sample(source_latents, 2, seed=1), atol=0, rtol=0)


def test_isometry_is_zero_for_a_scaled_rotation_and_counts_only_pairs_of_one_class():
    generator = torch.Generator().manual_seed(0)
    outputs, labels = torch.randn(12, 16, generator=generator), torch.tensor([0] * 6 + [1] * 6)
    rotation = torch.linalg.qr(torch.randn(16, 16, generator=generator))[0]
    codes = 3 * outputs @ rotation
    assert isometry(codes, outputs, labels) < 1e-6
    codes[6:] += 10  # the classes move apart: no pair of one class changes
    assert isometry(codes, outputs, labels) < 1e-6
    shuffled = codes.clone()
    shuffled[:6] = codes[torch.tensor([3, 0, 5, 1, 4, 2])] * torch.linspace(0.2, 2, 6)[:, None]  # distorted within class 0
    assert isometry(shuffled, outputs, labels) > 0.05
    assert isometry(codes, outputs, torch.arange(12)) == 0  # no two items share a class


def test_beta_isometry_pulls_the_shared_codes_towards_the_outputs_distances():
    torch.manual_seed(0)
    strategy = n2n.create_bridge("latent-vae", "digits", "digits-gan", hidden=32, depth=1, shared_dim=4, beta_isometry=10.0,
                                 seed=0).strategy
    generator = torch.Generator().manual_seed(0)
    batch = {"source": torch.randn(64, 24, generator=generator), "source_label": torch.randint(3, (64,), generator=generator),
             "target": torch.randn(64, 32, generator=generator), "target_label": torch.randint(3, (64,), generator=generator)}
    strategy.initialize(batch)
    optimizer = strategy.optimizer()
    distortion = []
    for _ in range(60):
        losses = strategy.training_step(batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        distortion.append(losses["isometry"].item())
    assert distortion[-1] < 0.5 * distortion[0]


def test_beta_isometry_needs_experts_that_decode():
    with pytest.raises(n2n.N2NError, match="beta_isometry compares the outputs of both experts, but 'digits-classifier' does not decode"):
        n2n.create_bridge("latent-vae", "digits-classifier", "digits-gan", beta_isometry=1.0)


def test_training_draws_its_inputs_from_the_experts_posterior(monkeypatch):
    """The reference encoded the source expert's posterior means; a batch carrying the expert's log-variances
    is resampled from that posterior in training (fresh draws each step), and read as given otherwise."""
    strategy = small_strategy()
    rows, generator = 256, torch.Generator().manual_seed(0)
    batch = {"source": torch.randn(rows, strategy.source_dim, generator=generator),
             "source_logvar": torch.full((rows, strategy.source_dim), 2 * torch.tensor(0.5).log().item()),  # std 0.5
             "target": torch.randn(rows, strategy.target_dim, generator=generator),
             "source_label": torch.zeros(rows, dtype=torch.long), "target_label": torch.zeros(rows, dtype=torch.long)}
    encoded, encode = [], strategy.encode

    def recording(x, domain):
        if domain == 0:
            encoded.append(x)
        return encode(x, domain)

    def source_inputs(strategy, batch):
        """What the step encoded of the source [rows, source_dim]."""
        strategy.training_step(batch)
        return encoded.pop()

    monkeypatch.setattr(strategy, "encode", recording)

    first, second = source_inputs(strategy.train(), batch), source_inputs(strategy, batch)
    assert 0.45 < (first - batch["source"]).std() < 0.55 and not torch.equal(first, second)
    assert torch.equal(source_inputs(strategy.eval(), batch), batch["source"])
    without = {key: value for key, value in batch.items() if key != "source_logvar"}
    assert torch.equal(source_inputs(strategy.train(), without), batch["source"])
