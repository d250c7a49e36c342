"""The published BigGAN-deep checkpoints, fetched once through pytorch-pretrained-biggan's own cache and
converted to n2n's format (config.json + model.safetensors) under N2N_HOME."""

from __future__ import annotations

import shutil
from pathlib import Path

from n2n.constants import CONFIG_NAME
from n2n.errors import CheckpointNotFoundError
from n2n.hub.weights import convert_pickled_weights
from n2n.io import atomic_path

UPSTREAM = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")  # pytorch-pretrained-biggan's (a test checks)


def fetch_upstream(name: str) -> Path:
    """The checkpoint directory of a published BigGAN-deep model (downloaded and converted on first use)."""
    # the library loads with the weights, not when the registry lists experts (a second at every start)
    from pytorch_pretrained_biggan import cached_path
    from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

    try:
        config = cached_path(PRETRAINED_CONFIG_ARCHIVE_MAP[name])
        weights = cached_path(PRETRAINED_MODEL_ARCHIVE_MAP[name])
    except (OSError, ValueError) as exc:
        raise CheckpointNotFoundError(
            f"expert 'biggan': {name} could not be downloaded ({type(exc).__name__}); it needs network once. "
            "Elsewhere, pass a local directory with config.json and model.safetensors (or pytorch_model.bin)."
        ) from None
    directory = convert_pickled_weights(weights, name).parent
    if not (directory / CONFIG_NAME).is_file():
        with atomic_path(directory / CONFIG_NAME) as tmp:
            shutil.copyfile(config, tmp)
    return directory
