"""Paired data: aligned pairs from a dataset or from a generator, and reproducible batch streams."""

from __future__ import annotations

import functools
import itertools

import pytest
import torch

import n2n
from n2n.data import features
from n2n.data.build import describe_key, generated_pairs, paired_data
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


def test_a_shard_smaller_than_a_batch_is_topped_up_to_a_full_batch(experts, monkeypatch, tmp_path):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    monkeypatch.setattr(features, "SHARD_ROWS", 128)
    pairs = paired_data(n2n.load_dataset("digits"), "test", *experts, progress=False)
    assert pairs.source.counts == (128, 128, 104)
    source, target = pairs.source.load_all(), pairs.target.load_all()
    epoch = list(itertools.islice(pairs.batches(120, seed=0), 3))  # one batch from each shard
    assert [len(batch["source"]) for batch in epoch] == [120, 120, 120]  # no 104-row batch (nor a 1-row one)
    rows = [torch.cdist(batch["source"], source).argmin(-1) for batch in epoch]  # each batch's rows over all shards
    for batch, indices in zip(epoch, rows):  # source, target and label of a row stay together across shards
        torch.testing.assert_close(batch["target"], target[indices])
        assert torch.equal(batch["label"], pairs.labels[indices])
    topped_up = next(indices for indices in rows if (indices >= 256).any())
    assert (topped_up >= 256).sum() == 104 and len(topped_up.unique()) == 120  # all of the small shard, once
    exact = list(itertools.islice(pairs.batches(120, seed=0, top_up=False), 3))  # a closed-form pass: each row once
    assert sorted(len(batch["source"]) for batch in exact) == [104, 120, 120]
    single = paired_data(n2n.load_dataset("digits"), "test", *experts, progress=False)
    assert [len(b["source"]) for b in itertools.islice(single.batches(500, seed=0), 2)] == [360, 360]  # smaller than a batch


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


def test_a_different_describe_gets_its_own_cached_features(experts, monkeypatch, tmp_path):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    classifier, vae = experts
    bert = n2n.load_expert("bert")
    first = generated_pairs(bert, vae, n=4, seed=0, describe=lambda z, x: ["a handwritten seven"] * len(z), progress=False)
    second = generated_pairs(bert, vae, n=4, seed=0, describe=lambda z, x: ["a handwritten two"] * len(z), progress=False)
    assert not torch.equal(first.source.load_all(), second.source.load_all())  # not the first lambda's cached rows
    again = generated_pairs(bert, vae, n=4, seed=0, describe=lambda z, x: ["a handwritten seven"] * len(z), progress=False)
    assert torch.equal(again.source.load_all(), first.source.load_all())


def test_describe_key_follows_code_and_plain_arguments_not_addresses():
    def caption(word):
        return lambda z, x: [f"a handwritten {word}"] * len(z)

    assert describe_key(caption("seven")) != describe_key(caption("two"))  # closes over another word
    assert describe_key(caption("seven")) == describe_key(caption("seven"))
    keys = {describe_key(lambda z, x, word=word: [word] * len(z)) for word in ("seven", "two")}
    assert len(keys) == 2  # a loop variable bound as a default

    class Caption:
        def __init__(self, word):
            self.word = word

        def __call__(self, z, x):
            return [self.word] * len(z)

    assert describe_key(Caption("seven")) != describe_key(Caption("two"))
    holder = object()
    assert describe_key(lambda z, x: holder) == describe_key(lambda z, x: holder)  # an object counts by its type
    assert describe_key(functools.partial(print, 1)) != describe_key(functools.partial(print, 2))
