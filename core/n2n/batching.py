"""K variants of a network as one call (`torch.func.vmap`), and one clear error for a network with an
operation vmap cannot batch."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from .errors import UnsupportedOperationError

MARKERS = ("vmap", "Batching rule", "batching rule")  # in torch's errors for an operation vmap cannot batch


def vmapped(function: Callable) -> Callable:
    """`function` mapped over the first dimension of every argument. Random operations inside (noise
    injection, dropout, a seeded phase) draw the same numbers for every slice, as one call per slice
    with the same random state would; a tensor they make stays a plain one (caches stay clean)."""
    return torch.func.vmap(function, randomness="same")


@contextlib.contextmanager
def batchable(what: str, hint: str = "") -> Iterator[None]:
    """Turns torch's error for an operation vmap cannot batch into an UnsupportedOperationError naming
    `what` (and `hint`); any other error passes unchanged."""
    try:
        yield
    except RuntimeError as exc:
        if not any(marker in str(exc) for marker in MARKERS):
            raise
        raise UnsupportedOperationError(f"{what} has an operation torch.func.vmap cannot batch ({exc}){hint}") from exc
