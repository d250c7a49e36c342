"""Paired data: aligned pairs from a dataset or from a generator, and reproducible batch streams."""

from __future__ import annotations

import itertools

import pytest
import torch

import n2n
from n2n.data import features
from n2n.data.build import generated_pairs, paired_data
from n2n.errors import InvalidInputError


@pytest.fixture
def experts():
    return n2n.load_expert("digits-classifier"), n2n.load_expert("digits")


def test_pairs_are_row_aligned_with_labels(experts, monkeypatch, tmp_path):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    monkeypatch.setattr(features, "SHARD_ROWS", 128)
    classifier, vae = experts
    pairs = paired_data(n2n.load_dataset("digits"), "test", classifier, vae, progress=False)
    images = n2n.load_dataset("digits").load("test")["image"]
    assert len(pairs) == 360 and len(pairs.source.counts) == 3
    batch = next(pairs.batches(32, seed=0))
    # each row's source latent (classifier logits) predicts the row's label: rows stayed aligned
    assert (batch["source"].argmax(-1) == batch["label"]).float().mean() > 0.95
    row = int(torch.nonzero((pairs.source.load_all() == batch["source"][0]).all(-1))[0])
    torch.testing.assert_close(batch["target"][0], vae.encode(images[row : row + 1])[0], atol=1e-5, rtol=0)


def test_batch_k_depends_only_on_seed_and_k(experts):
    pairs = paired_data(n2n.load_dataset("digits"), "test", *experts, progress=False)
    full = list(itertools.islice(pairs.batches(50, seed=3), 20))  # 7 batches an epoch: crosses epochs
    resumed = list(itertools.islice(pairs.batches(50, seed=3, start=9), 11))
    for a, b in zip(full[9:], resumed):
        assert torch.equal(a["source"], b["source"]) and torch.equal(a["label"], b["label"])
    strided = list(itertools.islice(pairs.batches(50, seed=3, start=1, stride=2), 5))
    for a, b in zip(full[1::2], strided):
        assert torch.equal(a["target"], b["target"])
    other = next(pairs.batches(50, seed=4))
    assert not torch.equal(other["source"], full[0]["source"])
    epoch = torch.cat([b["label"] for b in full[:7]])
    assert len(epoch) == 350  # 7 full batches of 50 from 360 rows: each row at most once an epoch


def test_a_dataset_without_the_experts_field_is_a_clear_error(experts):
    bert = n2n.load_expert("bert")
    with pytest.raises(InvalidInputError, match="dataset 'digits' has no 'text' field for expert 'bert'"):
        paired_data(n2n.load_dataset("digits"), "test", bert, experts[1], progress=False)


def test_generated_pairs_follow_net2nets_recipe(experts):
    classifier, vae = experts
    pairs = generated_pairs(classifier, vae, n=64, seed=5, progress=False)
    z = pairs.target.load_all()
    assert z.shape == (64, 24)
    torch.testing.assert_close(z, torch.randn(64, 24, generator=torch.Generator().manual_seed(5)))
    torch.testing.assert_close(pairs.source.load_all(), classifier.encode(vae.decode(z)), atol=1e-5, rtol=0)


def test_generated_pairs_can_describe_samples_for_a_text_source(experts):
    classifier, vae = experts
    bert = n2n.load_expert("bert")
    names = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

    def describe(latents, images):
        return [f"a handwritten {names[i]}" for i in classifier.encode(images).argmax(-1).tolist()]

    pairs = generated_pairs(bert, vae, n=8, seed=0, describe=describe, progress=False)
    expected = bert.encode(describe(None, vae.decode(pairs.target.load_all())))
    torch.testing.assert_close(pairs.source.load_all(), expected, atol=1e-5, rtol=0)
