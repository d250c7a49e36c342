"""Paired training data: source and target latents of the same items, streamed shard by shard.

Two ways to get pairs:
- `paired_data`: a dataset whose records carry what both experts consume (caption + image): the
  source expert encodes its field, the target expert its own (both through the feature cache);
- `generated_pairs`: Net2Net's recipe for a target without an encoder (BigGAN): draw target latents from
  the target's prior, decode them, and encode (or first `describe`) the results with the source side.
"""

from __future__ import annotations

import itertools

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .data import Dataset
from .errors import InvalidInputError
from .expert import Expert
from .features import FeatureShards, cached_features, cached_tensor, fingerprint

FIELD_FOR_MODALITY = {"text": "text", "image": "image", "label": "label"}


@dataclass(frozen=True)
class PairedData:
    """Row-aligned source and target latents (and labels, when the dataset has them)."""

    source: FeatureShards
    target: FeatureShards
    labels: torch.Tensor | None = None  # [N]

    def __post_init__(self) -> None:
        if self.source.counts != self.target.counts:
            raise ValueError(f"unaligned pairs: {self.source.counts} source rows vs {self.target.counts} target rows")

    def __len__(self) -> int:
        return self.source.rows

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        """Endless shuffled batches: batch k is a function of (seed, k) alone, so a resumed run at step
        `start` sees exactly what an uninterrupted one would. With `stride` > 1 (several processes) this
        yields batches start, start + stride, ..."""
        starts = torch.tensor((0, *self.source.counts)).cumsum(0)  # first row of each shard
        per_epoch = len(self._plan(batch_size, seed, 0))  # the same in every epoch
        epoch, plan, loaded = None, [], {"shard": None}
        for k in itertools.count(start, stride):
            if k // per_epoch != epoch:
                epoch = k // per_epoch
                plan = self._plan(batch_size, seed, epoch)
            shard, rows = plan[k % per_epoch]
            if loaded["shard"] != shard:  # one shard in memory at a time
                loaded = {"shard": shard, "source": self.source.shard(shard), "target": self.target.shard(shard)}
            batch = {"source": loaded["source"][rows], "target": loaded["target"][rows]}
            if self.labels is not None:
                batch["label"] = self.labels[starts[shard] + rows]
            yield batch

    def _plan(self, batch_size: int, seed: int, epoch: int) -> list[tuple[int, torch.Tensor]]:
        """The batches of one epoch as (shard, row indices): shards and rows shuffled, seeded per epoch."""
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        plan = []
        for shard in torch.randperm(len(self.source.counts), generator=generator).tolist():
            count = self.source.counts[shard]
            rows = torch.randperm(count, generator=generator)
            size = min(batch_size, count)
            plan += [(shard, rows[i * size : (i + 1) * size]) for i in range(count // size)]
        return plan


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
    key = f"generated:{target.name}:{target.checkpoint}:{n}:{seed}:{getattr(describe, '__qualname__', '')}"
    return PairedData(
        cached_features(source, _Decoded(target, latents, describe), key, description=f"{n} generated samples", progress=progress),
        cached_tensor(latents, key),
    )
