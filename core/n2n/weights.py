"""A module on disk in n2n's native format: `config.json` (constructor arguments) + `model.safetensors`.

Loading is strict: the config must fit the constructor, and every tensor must be present, expected and
of the right shape, or one clear error says which. Nothing is ever unpickled.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import N2NError
from .io import atomic_path, write_json

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

M = TypeVar("M", bound=nn.Module)


class WeightsError(N2NError):
    """A checkpoint directory whose config or tensors do not fit the model."""


def save_module(module: nn.Module, config: dict[str, Any], directory: str | os.PathLike) -> Path:
    """Write `config` and the module's weights into `directory`, each file atomically."""
    directory = Path(directory)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in module.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp))
    write_json(directory / CONFIG_NAME, config)
    return directory


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / CONFIG_NAME
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing: a checkpoint directory needs {CONFIG_NAME} and {WEIGHTS_NAME}") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path} must hold a JSON object, got {type(config).__name__}")
    return config


def load_module(factory: Callable[..., M], directory: str | os.PathLike) -> M:
    """Build `factory(**config.json)` and load `model.safetensors` into it, strictly."""
    directory = Path(directory)
    config = read_config(directory)
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise WeightsError(f"{directory / CONFIG_NAME}: unexpected fields {unknown}; {factory.__name__} takes {sorted(accepted)}")
    try:
        module = factory(**config)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{directory / CONFIG_NAME} does not fit {factory.__name__}: {exc}") from None
    load_weights(module, directory / WEIGHTS_NAME)
    return module


def load_weights(module: nn.Module, path: Path) -> None:
    """Load a safetensors file into `module`: every tensor present, none extra, every shape equal."""
    try:
        state = load_file(str(path))
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing") from None
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from None
    expected = module.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise WeightsError(f"{path}: tensors do not match the model (missing {missing[:5]}, unexpected {extra[:5]})")
    wrong = [f"{k} {list(state[k].shape)} != {list(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise WeightsError(f"{path}: tensors of the wrong shape: {'; '.join(wrong[:5])}")
    module.load_state_dict(state, strict=True)
