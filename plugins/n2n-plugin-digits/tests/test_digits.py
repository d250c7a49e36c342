"""The digits world: both experts through the conformance suite, their measured quality, the datasets."""

from __future__ import annotations

import re
import shutil
import warnings

import pytest
import torch
from PIL import Image, ImageOps

import n2n
from n2n.testing import ConditionalGeneratorTests, DefaultCheckpointTests, check_script_needs_an_output_folder
from n2n_plugin_digits import train
from n2n_plugin_digits.captions import HELD_OUT_TEMPLATES, TEMPLATES, WORDS
from n2n_plugin_digits.experts import classifier_weights, gan_weights, vae_weights
from n2n_plugin_digits.train_cgan import class_quality
from n2n_plugin_digits.train_gan import main, quality


class TestDigitsVAE(DefaultCheckpointTests):
    expert_name = "digits"

    @pytest.fixture
    def inputs(self):
        return n2n.load_dataset("digits").load("test")["image"][:5]

    def test_rejects_images_of_the_wrong_size(self, expert):
        with pytest.raises(n2n.N2NError, match=r"expected \[B, 1, 8, 8\]"):
            expert.encode(torch.rand(2, 1, 28, 28))

    def test_rejects_images_outside_0_1(self, expert):
        with pytest.raises(n2n.N2NError, match=r"expected \[0, 1\]"):
            expert.encode(torch.rand(2, 1, 8, 8) * 16)


class TestDigitsGAN(DefaultCheckpointTests):
    expert_name = "digits-gan"

    def test_its_discriminator_ships_beside_it(self, expert):
        realness = expert.discriminator()(expert.decode(torch.randn(4, *expert.latent_shape)))
        assert realness.shape == (4,) and torch.isfinite(realness).all()
        assert all(not p.requires_grad for p in expert.discriminator().parameters())

    def test_its_domain_is_its_prior_labelled_by_the_classifier(self, expert):
        assert expert.labeller == "digits-classifier" and expert.dataset is None


def test_shipped_gan_passes_its_quality_bar():
    """Mode coverage on 1,000 fresh samples: confident, every class present near 10%, each as varied as real digits."""
    gan, classifier = n2n.load_expert("digits-gan").load(), n2n.load_expert("digits-classifier").load()
    metrics = quality(gan.generator, classifier.classifier, samples=1000, seed=7)
    assert metrics["confident_share"] >= 0.85
    assert 0.05 <= metrics["class_share_min"] and metrics["class_share_max"] <= 0.15
    assert metrics["relative_spread_min"] >= 0.75


def test_train_gan_evaluate_measures_the_shipped_weights_without_writing(capsys):
    before = {path: path.stat().st_mtime_ns for path in gan_weights().rglob("*")}
    metrics = main(["--evaluate", "--samples", "300"])
    assert 0.8 <= metrics["confident_share"] <= 1 and "confident_share" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in gan_weights().rglob("*")} == before


@pytest.mark.parametrize("script", ["train", "train_gan", "train_cgan"])
def test_a_training_script_needs_to_be_told_where_to_write(script, capsys):
    check_script_needs_an_output_folder(__import__(f"n2n_plugin_digits.{script}", fromlist=["main"]).main, capsys)


class TestDigitsCGAN(ConditionalGeneratorTests, DefaultCheckpointTests):
    expert_name = "digits-cgan"
    known_class = ("three", 3)
    unknown_class = "eight"  # trained on 0-7: 8 and 9 are for re-purposing it


class TestDigitsStarvedCGAN(ConditionalGeneratorTests, DefaultCheckpointTests):
    expert_name = "digits-cgan-starved"
    known_class = ("9", 9)
    unknown_class = "ten"


@pytest.mark.parametrize("expert_name,classes", [("digits-cgan", range(8)), ("digits-cgan-starved", [c for c in range(10) if c != 5])])
def test_shipped_conditional_gans_draw_their_classes(expert_name, classes):
    """Fresh samples of each class it was trained on are that digit (its starved 5 is what class-embed repairs)."""
    gan, classifier = n2n.load_expert(expert_name).load(), n2n.load_expert("digits-classifier").load()
    metrics = class_quality(gan.model, classifier.classifier, seed=7)
    assert min(metrics[f"class_{c}_accuracy"] for c in classes) >= 0.9
    assert min(metrics[f"class_{c}_relative_spread"] for c in classes) >= 0.6


def test_the_starved_gan_collapses_onto_its_one_image_of_five():
    """The situation class-embed's repair is for: its 5s are 5s, all much alike (the spread of 64 of
    them under half of real 5s')."""
    gan, classifier = n2n.load_expert("digits-cgan-starved").load(), n2n.load_expert("digits-classifier").load()
    metrics = class_quality(gan.model, classifier.classifier, seed=7)
    assert metrics["class_5_accuracy"] >= 0.9
    assert metrics["class_5_relative_spread"] < 0.5


class TestDigitsClassifier(DefaultCheckpointTests):
    expert_name = "digits-classifier"

    @pytest.fixture
    def inputs(self):
        return n2n.load_dataset("digits").load("test")["image"][:5]


def test_the_shipped_weights_load_from_a_copied_directory(tmp_path):
    for name, weights in (("digits", vae_weights()), ("digits-classifier", classifier_weights())):
        expert = n2n.load_expert(name, checkpoint=shutil.copytree(weights, tmp_path / name))
        assert expert.encode(torch.zeros(1, 1, 8, 8)).shape == (1, *expert.latent_shape)


@pytest.fixture(scope="module")
def test_split():
    columns = n2n.load_dataset("digits").load("test")
    return columns["image"], columns["label"]


def test_shipped_classifier_accuracy_is_at_least_97_percent(test_split):
    images, labels = test_split
    accuracy = (n2n.load_expert("digits-classifier").encode(images).argmax(-1) == labels).float().mean()
    assert accuracy >= 0.97


def test_a_digit_written_dark_on_a_light_ground_is_read_inverted_with_a_warning(test_split):
    """A user's picture of a digit on paper: read as it is, the classifier (and every bridge) sees garbage."""
    images, labels = test_split
    pictures = [Image.fromarray((image[0] * 255).round().byte().numpy()).resize((32, 32)) for image in images[:40]]
    classifier = n2n.load_expert("digits-classifier")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # light on dark, as the experts were trained: read without a word
        as_drawn = classifier.classify(pictures).argmax(-1)
    with pytest.warns(UserWarning, match=r"reads light strokes on a dark ground; picture\(s\) 0, 1, 2, 3, 4, \.\.\. \(counting from 0\) have a light ground"):
        on_paper = classifier.classify([ImageOps.invert(picture) for picture in pictures]).argmax(-1)
    assert (on_paper == labels[:40]).float().mean() >= 0.9 and (on_paper == as_drawn).float().mean() >= 0.9


def test_shipped_vae_reconstructions_are_recognised_at_least_98_percent(test_split):
    images, labels = test_split
    vae, classifier = n2n.load_expert("digits"), n2n.load_expert("digits-classifier")
    reconstructions = vae.decode(vae.encode(images))
    assert (classifier.encode(reconstructions).argmax(-1) == labels).float().mean() >= 0.98
    assert torch.nn.functional.mse_loss(reconstructions, images) < 0.01


def test_split_is_fixed_stratified_and_disjoint():
    train_images = n2n.load_dataset("digits").load("train")["image"]
    test_images, test_labels = n2n.load_dataset("digits").load("test").values()
    assert (len(train_images), len(test_images)) == (1437, 360)
    assert torch.bincount(test_labels).min() >= 35
    flat_train = {tuple(x.flatten().tolist()) for x in train_images}
    overlap = sum(tuple(x.flatten().tolist()) in flat_train for x in test_images)
    assert overlap <= 2  # scikit-learn's digits hold a few exact duplicates; the split itself is by index


def test_unknown_split_is_a_clear_error():
    with pytest.raises(n2n.N2NError, match="no split 'validation'; its splits: train, test"):
        n2n.load_dataset("digits").load("validation")


def test_captions_name_their_digit_in_varied_ways():
    columns = n2n.load_dataset("digits-captions").load("train")
    texts, labels = columns["text"], columns["label"]
    assert len(texts) == len(labels) == len(columns["image"]) == 3 * 1437
    for text, label in zip(texts, labels.tolist()):
        assert WORDS[label] in text.split() or str(label) in re.findall(r"\d", text)
    assert len(set(texts)) > 100
    assert texts == n2n.load_dataset("digits-captions").load("train")["text"]  # deterministic


def test_held_out_phrasings_never_appear_in_the_dataset():
    texts = set(n2n.load_dataset("digits-captions").load("train")["text"])
    texts |= set(n2n.load_dataset("digits-captions").load("test")["text"])
    for template in HELD_OUT_TEMPLATES:
        assert template not in TEMPLATES
        assert not any(template.format(word=w, numeral=d) in texts for d, w in enumerate(WORDS))


@pytest.mark.slow
def test_training_script_writes_loadable_checkpoints(tmp_path, capsys):
    metrics = train.main(["--out", str(tmp_path), "--classifier-steps", "300", "--vae-steps", "300"])
    out = capsys.readouterr().out
    assert "classifier_accuracy_on_vae_reconstructions" in out
    assert metrics["classifier_test_accuracy"] > 0.8  # 300 steps already learn most digits
    vae = n2n.load_expert("digits", checkpoint=tmp_path / "digits-vae")
    assert vae.decode(torch.zeros(2, 24)).shape == (2, 1, 8, 8)
    assert (tmp_path / "training-metrics.json").is_file()
