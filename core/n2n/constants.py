"""Names n2n shares across its layers: its version, where it keeps files, and the files of a bridge."""

from __future__ import annotations

import os
from pathlib import Path

VERSION = "0.1.0"

CONFIG_NAME = "config.json"  # a bridge's (or an n2n-format checkpoint's) JSON
WEIGHTS_NAME = "model.safetensors"  # every tensor of a bridge; never a pickle
CARD_NAME = "README.md"  # the model card
SAMPLES_NAME = "samples.png"  # translations shown in the model card (image targets)
BRIDGE_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME, SAMPLES_NAME)  # all a bridge folder holds of n2n's

SEED_LIMIT = 2**63  # seeds are 0 <= seed < SEED_LIMIT: what torch.Generator.manual_seed accepts
TRAINING_SEED_LIMIT = 2**32  # a training run's seed also seeds NumPy's generator, which takes 0 <= seed < 2**32
EVALUATION_SAMPLES = 2000  # prior samples of a generator's held-out domain, at most (the evaluation's)

ENV_HOME = "N2N_HOME"  # feature cache, local zoo, converted upstream weights (default ~/.cache/n2n)
ENV_LOAD_PLUGINS = "N2N_LOAD_PLUGINS"  # a,b: load only these entry-point plugins (set but empty: none)
ENV_ZOO_REPO = "N2N_ZOO_REPO"  # the Hub repo holding the zoo index (default n2n/zoo)
ENV_DISABLE_PROGRESS = "N2N_DISABLE_PROGRESS_BARS"  # 1: no progress bars (HF_HUB_DISABLE_PROGRESS_BARS too)
ENV_MALLOC = "N2N_MALLOC"  # "default": training leaves glibc's malloc settings as they are (training.allocator)


def n2n_home() -> Path:
    """Where n2n keeps what it computes, as an absolute path: `N2N_HOME` (a relative one from the current
    folder), default `~/.cache/n2n` (also when set but empty: not the current folder)."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "n2n").expanduser().absolute()
