"""Plain `BertModel` checkpoints on torch's own `nn.TransformerEncoder` and the `tokenizers` tokenizer.

Importing transformers' modelling code costs ~3 s of a 2-core CPU (its lazy-module scan, torch._dynamo,
torch.distributed.tensor), more than a one-shot `n2n translate` may take in all. A post-LayerNorm BERT
layer is exactly `nn.TransformerEncoderLayer(norm_first=False, activation="gelu")`, so the checkpoint's
own weights, repacked, give the same hidden states (the tests compare against transformers' BertModel).
Every other BERT-family checkpoint loads through transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from tokenizers import Tokenizer
from torch import nn

from n2n.errors import PluginError, WeightsError
from n2n.settings import is_whole

# what a BERT layer's tensors are called in transformers' checkpoint -> in nn.TransformerEncoderLayer
LAYER_TENSORS = {
    "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "norm1",
    "intermediate.dense": "linear1",
    "output.dense": "linear2",
    "output.LayerNorm": "norm2",
}


def is_plain_bert(path: Path) -> bool:
    """A checkpoint this module reproduces: a `BertModel` (unprefixed tensors, no pruned heads) with
    absolute positions and exact GELU, encoder only, its weights in `model.safetensors`, and a
    `tokenizer.json` that pads and truncates on the right."""
    config, tokenizer = read_json(path / "config.json"), read_json(path / "tokenizer_config.json")
    if not ((path / "tokenizer.json").is_file() and (path / "model.safetensors").is_file()):
        return False
    with safe_open(path / "model.safetensors", "pt") as weights:
        unprefixed = "embeddings.word_embeddings.weight" in weights.keys()
    return (
        unprefixed
        and config.get("model_type") == "bert"
        and config.get("architectures", ["BertModel"]) == ["BertModel"]
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act", "gelu") == "gelu"
        and not config.get("is_decoder", False)
        and not config.get("pruned_heads")
        and tokenizer.get("padding_side", "right") == "right"
        and tokenizer.get("truncation_side", "right") == "right"
    )


class BertEncoder(nn.Module):
    """Token ids [B, T] and attention mask [B, T] -> last hidden states [B, T, hidden]."""

    def __init__(self, config: dict):
        super().__init__()
        hidden, eps = config["hidden_size"], config.get("layer_norm_eps", 1e-12)
        self.hidden_size, self.max_positions = hidden, config["max_position_embeddings"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], hidden)
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], hidden)
        self.token_type_embeddings = nn.Embedding(config.get("type_vocab_size", 2), hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=eps)
        layer = nn.TransformerEncoderLayer(
            hidden, config["num_attention_heads"], config["intermediate_size"], dropout=0.0,
            activation="gelu", layer_norm_eps=eps, batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config["num_hidden_layers"], enable_nested_tensor=False)

    @classmethod
    def from_checkpoint(cls, path: Path) -> BertEncoder:
        config = read_json(path / "config.json")
        check_sizes(config, path)
        model = cls(config)
        try:
            tensors = _repack(load_file(path / "model.safetensors"), config["num_hidden_layers"])
        except KeyError as missing:
            raise PluginError(f"bert: {path / 'model.safetensors'} lacks {missing}, which a BertModel has") from None
        model.load_state_dict(tensors, assign=True)  # the loaded tensors themselves: no copy
        return model

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        embedded = (  # [B, T, H]; one sentence, so token type 0 throughout
            self.word_embeddings(ids) + self.position_embeddings.weight[:length] + self.token_type_embeddings.weight[0]
        )
        return self.encoder(self.embedding_norm(embedded), src_key_padding_mask=attention_mask == 0)


class TextTokenizer:
    """`tokenizers` with transformers' call semantics: [CLS] … [SEP], padded on the right to the longest,
    truncated on the right."""

    def __init__(self, path: Path):
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        config = read_json(path / "tokenizer_config.json")
        saved = self.tokenizer.padding or {}  # the pad token as tokenizer.json records it, if it does
        pad_token = config.get("pad_token", saved.get("pad_token", "[PAD]"))
        self.pad_token = pad_token["content"] if isinstance(pad_token, dict) else pad_token  # or an AddedToken's dict
        self.pad_id = self.tokenizer.token_to_id(self.pad_token)
        if self.pad_id is None:
            raise PluginError(f"bert: the pad token {self.pad_token!r} is not in {path / 'tokenizer.json'}'s vocabulary")
        self.model_max_length = config.get("model_max_length", 1_000_000)
        self.tokenizer.no_truncation()
        self.tokenizer.enable_padding(pad_id=self.pad_id, pad_token=self.pad_token)  # to the longest, on the right

    def __call__(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """-> (ids [B, T], attention mask [B, T], how many texts were truncated)."""
        self.tokenizer.enable_truncation(max_length)
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([encoding.ids for encoding in encodings])
        mask = torch.tensor([encoding.attention_mask for encoding in encodings])
        return ids, mask, sum(bool(encoding.overflowing) for encoding in encodings)


def _repack(tensors: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """transformers' BertModel state dict -> BertEncoder's (query, key and value stacked as in_proj)."""
    packed = {
        "word_embeddings.weight": tensors["embeddings.word_embeddings.weight"],
        "position_embeddings.weight": tensors["embeddings.position_embeddings.weight"],
        "token_type_embeddings.weight": tensors["embeddings.token_type_embeddings.weight"],
        "embedding_norm.weight": tensors["embeddings.LayerNorm.weight"],
        "embedding_norm.bias": tensors["embeddings.LayerNorm.bias"],
    }
    for index in range(layers):
        source, target = f"encoder.layer.{index}.", f"encoder.layers.{index}."
        for kind in ("weight", "bias"):
            packed[f"{target}self_attn.in_proj_{kind}"] = torch.cat(
                [tensors[f"{source}attention.self.{name}.{kind}"] for name in ("query", "key", "value")]
            )
            for theirs, ours in LAYER_TENSORS.items():
                packed[f"{target}{ours}.{kind}"] = tensors[f"{source}{theirs}.{kind}"]
    return packed


def read_json(path: Path, expected: type = dict) -> Any:
    """The JSON object (or `expected` list) in `path`, empty when there is no such file; anything else in a
    checkpoint, which may come from anyone on the Hub, is one clear error."""
    if not path.is_file():
        return expected()
    try:
        value = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeightsError(f"bert: {path} is not JSON ({exc})") from None
    if not isinstance(value, expected):
        raise WeightsError(f"bert: {path} holds a {type(value).__name__}, expected a JSON "
                           f"{'object' if expected is dict else 'list'}")
    return value


SIZES = ("hidden_size", "num_attention_heads", "intermediate_size", "num_hidden_layers", "vocab_size",
         "max_position_embeddings")


def check_sizes(config: dict, path: Path) -> None:
    """A BertModel config.json's sizes are whole numbers above 0 (a missing or wrong one is one clear error)."""
    for key in SIZES:
        value = config.get(key)
        if not (is_whole(value) and value >= 1):
            raise WeightsError(f"bert: {path / 'config.json'}: {key} must be a whole number above 0, got {value!r}")
