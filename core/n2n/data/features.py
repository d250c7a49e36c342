"""The feature cache: each (expert, checkpoint, dataset, field, split) is encoded once into safetensors
shards under `N2N_HOME` (default `~/.cache/n2n`), then reused.

The cache key hashes the expert name, its checkpoint (and the files' sizes and mtimes when it is a local
directory), and the dataset's fingerprint, so a change of any of them re-encodes. A manifest written
last (atomically) lists every shard with its row count and SHA-256: a missing, truncated or corrupted
shard is detected and the entry rebuilt, never silently used. Shards are read one at a time, so features
larger than memory still train.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..constants import n2n_home
from ..expert import Expert
from ..images import opened
from ..inputs import numbered_from
from ..io import atomic_path, write_json, writing
from ..progress import progress_bar

SHARD_ROWS = 8192
ENCODE_BATCH = 256
MANIFEST = "manifest.json"
SHARD_NAME = re.compile(r"shard-\d{5,}\.safetensors")


@dataclass(frozen=True)
class FeatureShards:
    """The cached latents of one expert over one dataset column: `rows` in order, across `paths`."""

    directory: Path
    paths: tuple[Path, ...]
    counts: tuple[int, ...]

    @property
    def rows(self) -> int:
        return sum(self.counts)

    def shard(self, index: int) -> torch.Tensor:
        return load_file(str(self.paths[index]))["latents"]

    def load_all(self) -> torch.Tensor:
        return torch.cat([self.shard(i) for i in range(len(self.paths))])


def cached_features(
    expert: Expert, column: Sequence, data_fingerprint: str, *, description: str = "", progress: bool = True,
    log_variance: bool = False,
) -> FeatureShards:
    """Latents of `expert` for every item of `column`, from the cache or encoded now (and cached); with
    `log_variance`, the log-variances of its posterior instead (experts with `has_posterior()`)."""
    key = cache_key(expert, data_fingerprint + ("\0log-variance" if log_variance else ""))
    directory = n2n_home() / "features" / expert.name / key
    bars: list[tqdm] = []  # made on the first shard encoded: a cache hit shows no bar

    def encode(start: int) -> torch.Tensor:
        if not bars:
            bars.append(progress_bar(total=len(column), desc=f"encoding {description or expert.name}", unit="item",
                                     enabled=progress))
        part = column[start : start + SHARD_ROWS]
        return torch.cat([_encode(expert, part[i : i + ENCODE_BATCH], bars[0], log_variance, start + i)
                          for i in range(0, len(part), ENCODE_BATCH)])

    try:
        return _cached(directory, len(column), encode, expert.name, f"caching {expert.name}'s features")
    finally:
        for bar in bars:
            bar.close()


def cached_tensor(tensor: torch.Tensor, key: str) -> FeatureShards:
    """Latents that are data already (a generator's sampled latents), sharded like encoded features."""
    directory = n2n_home() / "features" / "tensors" / hashlib.sha256(key.encode()).hexdigest()[:24]
    return _cached(directory, len(tensor), lambda start: tensor[start : start + SHARD_ROWS], key, "caching sampled latents")


def _cached(directory: Path, rows: int, make_shard, owner: str, purpose: str) -> FeatureShards:
    shards = _read_manifest(directory)  # a complete entry is read without the lock (nor write access)
    if shards is not None and shards.rows == rows:
        return shards
    with writing(directory.parent, purpose):
        directory.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{directory}.lock"):  # several processes (accelerate, torchrun): one encodes, the rest wait
            return _cached_locked(directory, rows, make_shard, owner)


def _cached_locked(directory: Path, rows: int, make_shard, owner: str) -> FeatureShards:
    shards = _read_manifest(directory)
    if shards is not None and shards.rows == rows:
        return shards
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    entries = []
    for shard_index, start in enumerate(range(0, rows, SHARD_ROWS)):
        latents = make_shard(start)
        path = directory / f"shard-{shard_index:05d}.safetensors"  # the names _read_manifest accepts (SHARD_NAME)
        with atomic_path(path) as tmp:
            save_file({"latents": latents.detach().float().cpu().contiguous()}, str(tmp))
        entries.append({"file": path.name, "rows": len(latents), "sha256": _sha256(path)})
    write_json(directory / MANIFEST, {"owner": owner, "shards": entries})
    return _read_manifest(directory)


def cache_key(expert: Expert, data_fingerprint: str) -> str:
    return hashlib.sha256(f"{expert.fingerprint()}\0{data_fingerprint}".encode()).hexdigest()[:24]


def fingerprint(column: Sequence) -> str:
    """A content hash of a dataset column (texts, tensors or lists of them, labels, or file paths with their stat)."""
    digest = hashlib.sha256()
    if isinstance(column, torch.Tensor):
        digest.update(str((column.dtype, tuple(column.shape))).encode())
        digest.update(column.contiguous().numpy().tobytes())
    else:
        for item in column:
            if isinstance(item, torch.Tensor):  # a clip of a list of waveforms: str() would elide its middle
                digest.update(str((item.dtype, tuple(item.shape))).encode() + item.contiguous().numpy().tobytes())
                continue
            if isinstance(item, Path):
                stat = item.stat()
                item = f"{item}\0{stat.st_size}\0{stat.st_mtime_ns}"
            digest.update(str(item).encode() + b"\0")
    return digest.hexdigest()


def _encode(expert: Expert, items: Sequence, bar: tqdm, log_variance: bool, first: int) -> torch.Tensor:
    """Latents of `items`, the column's from number `first` on (what input warnings count from)."""
    with numbered_from(first):
        latents = expert.posterior(opened(items))[1] if log_variance else expert.encode(opened(items))
    bar.update(len(latents))
    return latents


def _read_manifest(directory: Path) -> FeatureShards | None:
    """The shards listed in the manifest, if every one is present and intact; else None."""
    if not (directory / MANIFEST).is_file() or (directory / MANIFEST).is_symlink():  # a FIFO would block the read
        return None
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        entries = manifest["shards"]
        paths = tuple(directory / entry["file"] for entry in entries)
        if not all(SHARD_NAME.fullmatch(entry["file"]) and path.is_file() and not path.is_symlink()
                   for path, entry in zip(paths, entries)):
            return None  # n2n writes its shards beside the manifest: a manifest naming any other file is not its own
        if any(_sha256(path) != entry["sha256"] for path, entry in zip(paths, entries)):
            return None
        return FeatureShards(directory, paths, tuple(int(entry["rows"]) for entry in entries))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
