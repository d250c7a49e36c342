"""Training data for every kind of strategy, streamed shard by shard from the feature cache.

`PairedData` (source and target latents of the same items) feeds `paired` strategies; `UnpairedData`
(each domain's latents with labels) feeds `unpaired` ones; `LoopData` (source latents with their labels,
and real target-modality items when there are some) feeds `in_the_loop` ones. All follow
`TrainingData`, the one protocol the trainer knows; `data.build` makes them from datasets.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from ..errors import InvalidInputError
from .features import FeatureShards


@runtime_checkable
class TrainingData(Protocol):
    """What the trainer consumes, whatever the strategy: a reproducible stream of batches."""

    def __len__(self) -> int: ...

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1,
                top_up: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Endless shuffled batches: batch k is a function of (seed, k) alone, so a resumed run at step
        `start` sees exactly what an uninterrupted one would; with `stride` > 1 (several processes) the
        stream yields batches start, start + stride, ... `top_up`: every batch has `batch_size` rows (a
        gradient step's); off, a shard smaller than a batch is one smaller batch, so that one pass sees
        each row once (a closed-form fit's)."""


def shuffled_rows(counts: tuple[int, ...], batch_size: int, seed: int, start: int, stride: int,
                  top_up: bool = True) -> Iterator[torch.Tensor]:
    """Batches k = start, start + stride, ... as row indices over all shards; shards and rows reshuffled every epoch."""
    per_epoch = len(_epoch_plan(counts, batch_size, seed, 0, top_up))  # the same in every epoch
    epoch, plan = None, []
    for k in itertools.count(start, stride):
        if k // per_epoch != epoch:
            epoch = k // per_epoch
            plan = _epoch_plan(counts, batch_size, seed, epoch, top_up)
        yield plan[k % per_epoch]


def _epoch_plan(counts: tuple[int, ...], batch_size: int, seed: int, epoch: int, top_up: bool) -> list[torch.Tensor]:
    """One pass's batches of row indices, shard by shard (one shard read at a time): each shard's rows in
    batches of `batch_size`, its last partial batch waiting for a later pass. A shard smaller than a batch is
    one smaller batch, or with `top_up` is topped up with random rows of the shards after it (their own
    generator: the other batches stay as they are); data smaller than one batch is one batch of every row."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    extra = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 500_000)
    starts, total = torch.tensor((0, *counts)).cumsum(0).tolist(), sum(counts)
    order, plan = torch.randperm(len(counts), generator=generator).tolist(), []
    for position, shard in enumerate(order):
        rows = torch.randperm(counts[shard], generator=generator) + starts[shard]
        if total <= batch_size:
            plan.append(rows)
        elif counts[shard] >= batch_size or (counts[shard] and not top_up):
            size = min(batch_size, counts[shard])
            plan += list(rows.split(size)[: counts[shard] // size])
        elif counts[shard]:  # [batch_size]: its rows, then rows of the next shards in this pass's order
            parts, missing = [rows], batch_size - counts[shard]
            for other in order[position + 1 :] + order[:position]:
                parts.append(torch.randperm(counts[other], generator=extra)[:missing] + starts[other])
                missing -= len(parts[-1])
                if not missing:
                    break
            plan.append(torch.cat(parts))
    return [torch.cat(plan)] if total <= batch_size else plan


class _ShardReader:
    """Rows of cached shards by their index over all shards, keeping one shard in memory at a time."""

    def __init__(self, shards: FeatureShards, labels: torch.Tensor | None):
        self.shards, self.labels, self.index, self.latents = shards, labels, None, None
        self.starts = torch.tensor((0, *shards.counts)).cumsum(0)  # first row of each shard

    def rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents and labels of rows [N] (indices over all shards), in that order."""
        shard_of = torch.searchsorted(self.starts, rows, right=True) - 1  # [N]
        latents = None
        for shard in shard_of.unique().tolist():  # a batch spans one shard; a topped-up one, two or more
            if self.index != shard:
                self.index, self.latents = shard, self.shards.shard(shard)
            here = shard_of == shard
            part = self.latents[rows[here] - self.starts[shard]]
            latents = part.new_empty(len(rows), *part.shape[1:]) if latents is None else latents
            latents[here] = part
        return latents, self.labels[rows] if self.labels is not None else None


@dataclass(frozen=True)
class PairedData:
    """Row-aligned source and target latents (and labels, when the dataset has them): `paired` strategies."""

    source: FeatureShards
    target: FeatureShards
    labels: torch.Tensor | None = None  # [N]

    def __post_init__(self) -> None:
        if self.source.counts != self.target.counts:
            raise InvalidInputError(f"unaligned pairs: {self.source.counts} source rows vs {self.target.counts} target rows")

    def __len__(self) -> int:
        return self.source.rows

    def batches_per_epoch(self, batch_size: int) -> int:
        """How many batches one pass over every pair takes (a shard's last partial batch waits for the next pass)."""
        return len(_epoch_plan(self.source.counts, batch_size, 0, 0, top_up=False))

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1,
                top_up: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"source", "target"[, "label"]}; see `TrainingData.batches`."""
        source, target = _ShardReader(self.source, self.labels), _ShardReader(self.target, None)
        for rows in shuffled_rows(self.source.counts, batch_size, seed, start, stride, top_up):
            (latents, labels), targets = source.rows(rows), target.rows(rows)[0]
            yield {"source": latents, "target": targets} | ({"label": labels} if labels is not None else {})


@dataclass(frozen=True)
class UnpairedData:
    """Each domain's latents with their labels, shuffled independently: `unpaired` strategies
    (Latent Translation aligns the two domains through the labels, never through pairs). A domain
    encoded by a probabilistic encoder also carries its posterior log-variances, so that a strategy
    can resample its inputs."""

    source: FeatureShards
    source_labels: torch.Tensor  # [N_source]
    target: FeatureShards
    target_labels: torch.Tensor  # [N_target]
    source_logvar: FeatureShards | None = None  # row-aligned with `source`
    target_logvar: FeatureShards | None = None
    description: str = ""  # where each domain came from (a dataset, or labelled prior samples)

    def __len__(self) -> int:
        return max(self.source.rows, self.target.rows)

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1,
                top_up: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"source", "source_label", "target", "target_label"[, "source_logvar", "target_logvar"]};
        see `TrainingData.batches`."""
        sides = {}
        for offset, side in enumerate(("source", "target")):
            latents, labels, logvar = getattr(self, side), getattr(self, f"{side}_labels"), getattr(self, f"{side}_logvar")
            readers = (_ShardReader(latents, labels), _ShardReader(logvar, None) if logvar is not None else None)
            sides[side] = (readers, shuffled_rows(latents.counts, batch_size, seed + offset, start, stride, top_up))
        while True:
            batch = {}
            for side, ((reader, logvar_reader), stream) in sides.items():
                rows = next(stream)
                batch[side], batch[f"{side}_label"] = reader.rows(rows)
                if logvar_reader is not None:
                    batch[f"{side}_logvar"] = logvar_reader.rows(rows)[0]
            yield batch


@dataclass(frozen=True)
class LoopData:
    """Source latents with their labels, and the real target-modality items of those rows when the
    dataset has them: `in_the_loop` strategies (the generator runs inside the step; real items feed a
    discriminator)."""

    source: FeatureShards
    labels: torch.Tensor  # [N]
    real: torch.Tensor | None = None  # [N, ...] target-modality items (images [N, C, H, W] in [0, 1])
    description: str = ""  # which items (a share of a dataset's labels)

    def __len__(self) -> int:
        return self.source.rows

    def batches(self, batch_size: int, seed: int, start: int = 0, stride: int = 1,
                top_up: bool = True) -> Iterator[dict[str, torch.Tensor]]:
        """Batches {"source", "label"[, "real"]}; see `TrainingData.batches`."""
        reader = _ShardReader(self.source, self.labels)
        for rows in shuffled_rows(self.source.counts, batch_size, seed, start, stride, top_up):
            latents, labels = reader.rows(rows)
            batch = {"source": latents, "label": labels}
            if self.real is not None:
                batch["real"] = self.real[rows]
            yield batch
