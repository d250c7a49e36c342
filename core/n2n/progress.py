"""What n2n tells its user while it works: one switch for every progress bar, and the `n2n` logger.

Bars are off when `N2N_DISABLE_PROGRESS_BARS` (or huggingface_hub's `HF_HUB_DISABLE_PROGRESS_BARS`) is
set to 1, after `disable_progress_bars()`, for a caller that passes `progress=False`, and when the
output is not a terminal. Everything else n2n reports goes to `logging.getLogger("n2n")`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from huggingface_hub import utils as hf_utils
from tqdm.auto import tqdm

from .constants import ENV_DISABLE_PROGRESS

logger = logging.getLogger("n2n")

_switch: bool | None = None  # set by enable/disable_progress_bars(); None: the environment decides


def disable_progress_bars() -> None:
    """No progress bars from n2n, nor from huggingface_hub's downloads and uploads."""
    global _switch
    _switch = False
    hf_utils.disable_progress_bars()


def enable_progress_bars() -> None:
    global _switch
    _switch = True
    hf_utils.enable_progress_bars()


def are_progress_bars_disabled() -> bool:
    if _switch is not None:
        return not _switch
    return any(os.environ.get(name, "").upper() in ("1", "TRUE", "YES", "ON")
               for name in (ENV_DISABLE_PROGRESS, "HF_HUB_DISABLE_PROGRESS_BARS"))


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar that honours the switch above (and stays silent off a terminal)."""
    return tqdm(iterable, disable=(not enabled or are_progress_bars_disabled()) or None, **kwargs)


@contextmanager
def quiet(library: Any) -> Iterator[None]:
    """`library`'s own progress bars off for the block, back on after if they were: transformers shows a
    "Loading weights" bar on every model load (pass `transformers.utils.logging`); n2n shows its own
    progress where work is long, and a one-shot translation shows none."""
    was_enabled = library.is_progress_bar_enabled()
    library.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            library.enable_progress_bar()
