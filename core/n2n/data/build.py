"""Training data built from datasets, through the feature cache, for each kind of strategy.

- `paired_data`: a dataset whose records carry what both experts consume (caption + image): the source
  expert encodes its field, the target expert its own;
- `generated_pairs`: Net2Net's recipe for a target without an encoder (BigGAN): draw target latents from
  the target's prior, decode them, and encode (or first `describe`) the results with the source side;
- `unpaired_data`: two labelled datasets, one per domain, each encoded by its own expert;
- `loop_data`: a labelled dataset whose source field the source expert encodes, with the real
  target-modality items kept for strategies that judge generated ones against them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..dataset import Dataset
from ..errors import InvalidInputError
from ..expert import Expert
from ..images import opened
from ..inputs import prepare_inputs
from .features import FeatureShards, cached_features, cached_tensor, fingerprint
from .streams import LoopData, PairedData, UnpairedData

FIELD_FOR_MODALITY = {"text": "text", "image": "image", "label": "label"}


def field_name(expert: Expert) -> str:
    """The name of the dataset field an expert consumes (its modality's)."""
    return FIELD_FOR_MODALITY.get(expert.modality, expert.modality)


def field_for(expert: Expert, dataset: Dataset) -> str:
    """The dataset field this expert consumes; one clear error when the dataset has none."""
    field = field_name(expert)
    if field not in dataset.fields:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has no {field!r} field for expert {expert.name!r} "
            f"(modality {expert.modality}); its fields: {', '.join(dataset.fields)}"
        )
    return field


def encoded_column(expert: Expert, dataset: Dataset, split: str, columns: dict[str, Sequence], progress: bool = True) -> FeatureShards:
    """The expert's latents of its field of `dataset[split]`, through the feature cache."""
    field = field_for(expert, dataset)
    key = f"{dataset.name}:{dataset.version}:{split}:{field}:{fingerprint(columns[field])}"
    return cached_features(expert, columns[field], key, description=f"{dataset.name}/{split} with {expert.name}", progress=progress)


def paired_data(dataset: Dataset, split: str, source: Expert, target: Expert, progress: bool = True) -> PairedData:
    """Pairs from a dataset whose records carry both experts' inputs."""
    columns = dataset.load(split)
    if not target.can_encode():
        raise InvalidInputError(
            f"target expert {target.name!r} cannot encode {target.modality}, so {dataset.name!r} cannot give its "
            "latents: train on generated pairs instead (draw target latents, decode, encode with the source)"
        )
    labels = columns.get("label")
    return PairedData(
        encoded_column(source, dataset, split, columns, progress),
        encoded_column(target, dataset, split, columns, progress),
        torch.as_tensor(labels) if labels is not None else None,
    )


class _Decoded(Sequence):
    """Target latents seen as the source expert's inputs: slicing decodes (and describes) on demand."""

    def __init__(self, target: Expert, latents: torch.Tensor, describe: Callable | None):
        self.target, self.latents, self.describe = target, latents, describe

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, index: slice) -> Any:
        latents = self.latents[index]
        outputs = self.target.decode(latents)
        return self.describe(latents, outputs) if self.describe else outputs


def generated_pairs(
    source: Expert, target: Expert, n: int, seed: int = 0, describe: Callable | None = None, progress: bool = True
) -> PairedData:
    """Net2Net's generator sampling: z ~ target prior, x = target.decode(z), pair (source.encode(x), z).
    `describe(z, x)` turns generated outputs into the source's modality first (e.g. captions for text)."""
    if n < 1:
        raise InvalidInputError(f"generated pairs: n must be at least 1, got {n}")
    latents = target.sample_latents(n, torch.Generator().manual_seed(seed))  # [n, *T]
    key = f"generated:{target.fingerprint()}:{n}:{seed}:{getattr(describe, '__qualname__', '')}"
    return PairedData(
        cached_features(source, _Decoded(target, latents, describe), key, description=f"{n} generated samples", progress=progress),
        cached_tensor(latents, key),
    )


def labels_of(dataset: Dataset, split: str, columns: dict[str, Sequence]) -> torch.Tensor:
    """The `label` column of a split as a long tensor [N]; one clear error when the dataset has none."""
    if "label" not in columns:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has no 'label' field (its fields: {', '.join(dataset.fields)}); "
            "this strategy aligns the domains through labels"
        )
    return torch.as_tensor(columns["label"]).long()


def unpaired_data(source_dataset: Dataset, target_dataset: Dataset, split: str, source: Expert, target: Expert,
                  progress: bool = True) -> UnpairedData:
    """Each domain's latents with their labels, from one labelled dataset per domain (no pairs)."""
    if not target.can_encode():
        raise InvalidInputError(
            f"target expert {target.name!r} cannot encode {target.modality}, so {target_dataset.name!r} cannot give "
            "its latents: sample its prior and label the samples with a classifier instead"
        )
    source_columns, target_columns = source_dataset.load(split), target_dataset.load(split)
    return UnpairedData(
        encoded_column(source, source_dataset, split, source_columns, progress), labels_of(source_dataset, split, source_columns),
        encoded_column(target, target_dataset, split, target_columns, progress), labels_of(target_dataset, split, target_columns),
    )


def loop_data(dataset: Dataset, split: str, source: Expert, target: Expert, progress: bool = True) -> LoopData:
    """Source latents and labels of a labelled dataset, with its real items of the target's modality
    (when it has that field) prepared as the target expert's inputs."""
    columns = dataset.load(split)
    real = None
    field = field_name(target)
    if field in columns and field != field_for(source, dataset):
        prepared = prepare_inputs(target, opened(columns[field]))
        real = prepared.cpu() if isinstance(prepared, torch.Tensor) else None  # texts stay out of tensor batches
    return LoopData(encoded_column(source, dataset, split, columns, progress), labels_of(dataset, split, columns), real)
