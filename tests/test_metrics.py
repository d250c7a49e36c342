"""Metrics on awkward data: classes with one item, labels missing from the reference, never a NaN."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import n2n
from n2n.training.metrics import class_spread, relative_diversity, seen_in_training


def test_a_class_with_one_item_has_no_reference_spread_and_no_nan():
    digits = n2n.load_expert("digits")
    images = n2n.load_dataset("digits").load("test")["image"][:5]
    spread = class_spread(digits, images, torch.tensor([0, 0, 0, 1, 2]))
    assert set(spread) == {0} and spread[0] > 0  # classes 1 and 2 have a single item


def test_an_item_held_several_times_counts_once_in_its_class_spread(tmp_path):
    """digits-captions holds each test digit three times (three captions): the reference spread counted the
    distance 0 between a digit and itself, and relative diversity read about 3% high."""
    digits = n2n.load_expert("digits")
    split = n2n.load_dataset("digits").load("test")
    images, labels = split["image"][:200], torch.as_tensor(split["label"][:200])
    once = class_spread(digits, images, labels)
    assert class_spread(digits, images.repeat_interleave(3, 0), labels.repeat_interleave(3)) == pytest.approx(once, rel=1e-5)
    paths = [tmp_path / f"{row}.png" for row in range(len(images))]
    for path, image in zip(paths, images):
        Image.fromarray((image[0] * 255).round().byte().numpy()).save(path)
    repeated = class_spread(digits, [path for path in paths for _ in range(3)], labels.repeat_interleave(3))
    assert repeated == pytest.approx(class_spread(digits, paths, labels), rel=1e-5)


def test_the_share_of_evaluated_texts_seen_in_training():
    assert seen_in_training(["a one", "a two", "a one", "a six"], ["a one", "a two", "a three"]) == 0.75
    split = n2n.load_dataset("digits-captions")
    assert seen_in_training(split.load("test")["text"], split.load("train")["text"]) == 1.0  # new digits, the same words


def test_relative_diversity_uses_only_inputs_whose_class_has_a_reference():
    outputs = torch.stack([torch.zeros(4), torch.ones(4), torch.zeros(4), torch.zeros(4)])  # 2 inputs x 2 samples
    assert relative_diversity(outputs, torch.tensor([0, 7]), {0: 2.0}) == 1.0  # class 7 unknown: left out
    assert relative_diversity(outputs, torch.tensor([5, 7]), {0: 2.0}) is None


def test_evaluate_bridge_judges_a_paired_bridge_with_the_targets_classifier_by_default():
    """As `n2n eval` does: with no judge given, TARGET-classifier reads the translations."""
    bridge, data = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0), n2n.DataSource(dataset="digits")
    by_default = n2n.evaluate_bridge(bridge, data, n_samples=1, progress=False)
    named = n2n.evaluate_bridge(bridge, data, n2n.load_expert("digits-classifier"), n_samples=1, progress=False)
    assert by_default["transfer_accuracy"] == named["transfer_accuracy"]


def test_an_image_bridge_on_a_dataset_with_text_probes_is_evaluated_without_them():
    """digits-captions holds out phrasings (text): a digits -> digits bridge has no such inputs to translate."""
    bridge = n2n.create_bridge("mlp", "digits", "digits", seed=0)
    metrics = n2n.evaluate_bridge(bridge, n2n.DataSource(dataset="digits-captions"), n_samples=1, progress=False)
    assert "transfer_accuracy" in metrics and not any(key.startswith("heldout_") for key in metrics)
