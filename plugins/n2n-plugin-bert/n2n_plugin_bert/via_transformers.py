"""Any BERT-family checkpoint through transformers (AutoTokenizer, AutoModel), behind lean.py's interface."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as transformers_logging

from n2n.hub.weights import check_complete
from n2n.progress import quiet


class AutoTextTokenizer:
    """transformers' tokenizer for the checkpoint, called as lean.TextTokenizer is."""

    def __init__(self, path: Path):
        with quiet(transformers_logging):
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model_max_length = self.tokenizer.model_max_length

    def __call__(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """-> (ids [B, T], attention mask [B, T], how many texts were truncated)."""
        lengths = [len(ids) for ids in self.tokenizer(texts, verbose=False)["input_ids"]]
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"], sum(length > max_length for length in lengths)


class AutoEncoder(nn.Module):
    """Token ids [B, T] and attention mask [B, T] -> last hidden states [B, T, hidden]."""

    def __init__(self, path: Path):
        super().__init__()
        with quiet(transformers_logging):
            self.model, loading_info = AutoModel.from_pretrained(path, use_safetensors=True, output_loading_info=True)
        check_complete(path, loading_info, unused=("pooler.",))  # n2n pools the hidden states itself
        self.hidden_size, self.max_positions = self.model.config.hidden_size, self.model.config.max_position_embeddings

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=attention_mask).last_hidden_state
