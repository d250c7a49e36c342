"""The `spoken-digits` dataset: espeak-ng's ten digit words in 99 voice variants, split by voice."""

from __future__ import annotations

import torch

from n2n import Dataset

from .spoken import clips, labels, split_rows


def clip_tensors(rows: list[int]) -> list[torch.Tensor]:
    """The clips of index rows, each float32 [T] at 16 kHz (T varies, at most one second)."""
    audio = clips()[0]
    return [torch.from_numpy(audio[i]) for i in rows]


def waveforms(rows: list[int]) -> torch.Tensor:
    """The clips of index rows, zero-padded at the end to the longest: [N, T]."""
    return torch.nn.utils.rnn.pad_sequence(clip_tensors(rows), batch_first=True)


class SpokenDigitsDataset(Dataset):
    """The words "zero" ... "nine" spoken by espeak-ng: 3,955 clips at 16 kHz; test voices never in training."""

    name = "spoken-digits"
    fields = ("audio", "label", "variant", "accent", "rate", "pitch")

    def _load(self, split):
        rows = split_rows(split)
        index = clips()[1]
        return {"audio": clip_tensors(rows), "label": labels(rows),
                **{field: [index[i][field] for i in rows] for field in ("variant", "accent")},
                **{field: torch.tensor([int(index[i][field]) for i in rows]) for field in ("rate", "pitch")}}
