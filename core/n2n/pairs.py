"""Training data for every kind of strategy, streamed shard by shard from the feature cache.

`PairedData` (source and target latents of the same items) feeds `paired` strategies; `UnpairedData`
(each domain's latents with labels) feeds `unpaired` ones. Both follow `TrainingData`, the one protocol
the trainer knows. Two ways to get pairs:
- `paired_data`: a dataset whose records carry what both experts consume (caption + image): the
  source expert encodes its field, the target expert its own (both through the feature cache);
- `generated_pairs`: Net2Net's recipe for a target without an encoder (BigGAN): draw target latents from
  the target's prior, decode them, and encode (or first `describe`) the results with the source side.
"""

from __future__ import annotations

import itertools

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .data import Dataset
from .errors import InvalidInputError
from .expert import Expert
from .features import FeatureShards, cached_features, cached_tensor, expert_identity, fingerprint

FIELD_FOR_MODALITY = {"text": "text", "image": "image", "label": "label"}


class TrainingData(Protocol):
    """What the trainer consumes, whatever the strategy: a reproducible stream of batches."""

    def __len__(self) -> int: ...

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        """Endless shuffled batches: batch k is a function of (seed, k) alone, so a resumed run at step
        `start` sees exactly what an uninterrupted one would; with `stride` > 1 (several processes) the
        stream yields batches start, start + stride, ..."""


def shuffled_rows(counts: tuple[int, ...], batch_size: int, seed: int, start: int, stride: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Batches k = start, start + stride, ... as (shard, row indices); shards and rows reshuffled every epoch."""
    per_epoch = len(_epoch_plan(counts, batch_size, seed, 0))  # the same in every epoch
    epoch, plan = None, []
    for k in itertools.count(start, stride):
        if k // per_epoch != epoch:
            epoch = k // per_epoch
            plan = _epoch_plan(counts, batch_size, seed, epoch)
        yield plan[k % per_epoch]


def _epoch_plan(counts: tuple[int, ...], batch_size: int, seed: int, epoch: int) -> list[tuple[int, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    plan = []
    for shard in torch.randperm(len(counts), generator=generator).tolist():
        rows = torch.randperm(counts[shard], generator=generator)
        size = min(batch_size, counts[shard])
        plan += [(shard, rows[i * size : (i + 1) * size]) for i in range(counts[shard] // size)]
    return plan


class _ShardReader:
    """Rows of cached shards, keeping one shard in memory at a time."""

    def __init__(self, shards: FeatureShards, labels: torch.Tensor | None):
        self.shards, self.labels, self.index, self.latents = shards, labels, None, None
        self.starts = torch.tensor((0, *shards.counts)).cumsum(0)  # first row of each shard

    def rows(self, shard: int, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.index != shard:
            self.index, self.latents = shard, self.shards.shard(shard)
        labels = self.labels[self.starts[shard] + rows] if self.labels is not None else None
        return self.latents[rows], labels


@dataclass(frozen=True)
class PairedData:
    """Row-aligned source and target latents (and labels, when the dataset has them): `paired` strategies."""

    source: FeatureShards
    target: FeatureShards
    labels: torch.Tensor | None = None  # [N]

    def __post_init__(self) -> None:
        if self.source.counts != self.target.counts:
            raise ValueError(f"unaligned pairs: {self.source.counts} source rows vs {self.target.counts} target rows")

    def __len__(self) -> int:
        return self.source.rows

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"source", "target"[, "label"]}; see `TrainingData.batches`."""
        source, target = _ShardReader(self.source, self.labels), _ShardReader(self.target, None)
        for shard, rows in shuffled_rows(self.source.counts, batch_size, seed, start, stride):
            batch = {"source": source.rows(shard, rows)[0], "target": target.rows(shard, rows)[0]}
            if self.labels is not None:
                batch["label"] = source.rows(shard, rows)[1]
            yield batch


@dataclass(frozen=True)
class UnpairedData:
    """Each domain's latents with their labels, shuffled independently: `unpaired` strategies
    (Latent Translation aligns the two domains through the labels, never through pairs)."""

    source: FeatureShards
    source_labels: torch.Tensor  # [N_source]
    target: FeatureShards
    target_labels: torch.Tensor  # [N_target]

    def __len__(self) -> int:
        return max(self.source.rows, self.target.rows)

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"source", "source_label", "target", "target_label"}; see `TrainingData.batches`."""
        source, target = _ShardReader(self.source, self.source_labels), _ShardReader(self.target, self.target_labels)
        streams = zip(
            shuffled_rows(self.source.counts, batch_size, seed, start, stride),
            shuffled_rows(self.target.counts, batch_size, seed + 1, start, stride),
        )
        for (source_shard, source_rows), (target_shard, target_rows) in streams:
            source_latents, source_labels = source.rows(source_shard, source_rows)
            target_latents, target_labels = target.rows(target_shard, target_rows)
            yield {"source": source_latents, "source_label": source_labels, "target": target_latents, "target_label": target_labels}


def field_for(expert: Expert, dataset: Dataset) -> str:
    """The dataset field this expert consumes (its modality's name)."""
    field = FIELD_FOR_MODALITY.get(expert.modality, expert.modality)
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
    latents = target.sample_latents(n, torch.Generator().manual_seed(seed))  # [n, *T]
    key = f"generated:{expert_identity(target)}:{n}:{seed}:{getattr(describe, '__qualname__', '')}"
    return PairedData(
        cached_features(source, _Decoded(target, latents, describe), key, description=f"{n} generated samples", progress=progress),
        cached_tensor(latents, key),
    )
