"""A trained bridge: a strategy plus the two frozen experts it connects, saved as safetensors + JSON.

On disk (and in a Hub repo): `config.json` = {"n2n_version", "strategy", "source": {"expert", "plugin",
"checkpoint", "options", "latent_shape"}, "target": {...}, "config": {hyperparameters}, "metrics": {...}},
`model.safetensors` with the strategy's tensors, and a model card `README.md` (with `samples.png` when
the target decodes images). Loading validates everything before building anything.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from torch import nn

from . import plugins
from .errors import N2NError, UnknownNameError
from .expert import Expert
from .strategy import Strategy
from .weights import CONFIG_NAME, WEIGHTS_NAME, load_weights, read_config, save_module


class BridgeConfigError(N2NError):
    """A bridge config.json that is malformed or does not fit the installed experts."""


class Bridge(nn.Module):
    """Carries a source expert's latents into a target expert's: `translate`, `sample`, save and load."""

    def __init__(self, strategy: Strategy, source: Expert, target: Expert, metrics: dict[str, Any] | None = None):
        super().__init__()
        self.strategy, self.source, self.target = strategy, source, target
        self.metrics = dict(metrics or {})

    @property
    def config(self) -> dict[str, Any]:
        from . import __version__

        return {
            "n2n_version": __version__,
            "strategy": self.strategy.name,
            "source": _expert_entry(self.source),
            "target": _expert_entry(self.target),
            "config": dataclasses.asdict(self.strategy.config),
            "metrics": self.metrics,
        }

    @torch.no_grad()
    def sample(self, source_latents: torch.Tensor, n_samples: int = 1, seed: int | None = None) -> torch.Tensor:
        """Source latents [B, *S] -> target latents [B * n_samples, *T]; row i*n + j is sample j of input i."""
        if n_samples < 1:
            raise N2NError(f"n_samples must be at least 1, got {n_samples}")
        expected = tuple(self.strategy.source_shape)
        if tuple(source_latents.shape[1:]) != expected:
            raise N2NError(f"source latents have shape {list(source_latents.shape)}, expected [B, {', '.join(map(str, expected))}]")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        self.strategy.eval()
        device = next(self.strategy.parameters()).device
        return self.strategy.sample(source_latents.to(device, torch.float32), n_samples, generator)

    def translate(self, inputs: Any, n_samples: int = 1, seed: int | None = None) -> Any:
        """source.encode -> sample target latents -> target.decode; outputs are input-major."""
        return self.target.decode(self.sample(self.source.encode(inputs), n_samples, seed))

    def save_pretrained(self, directory: str | os.PathLike, sample_inputs: Any = None, n_samples: int = 8) -> Path:
        """Write config.json, model.safetensors and a model card (README.md) into `directory`, each
        atomically; with `sample_inputs` and an image target, also samples.png (rows: inputs)."""
        from .card import SAMPLES_NAME, write_model_card
        from .images import save_grid

        directory = save_module(self.strategy, self.config, directory)
        if sample_inputs is not None and self.target.modality == "image":
            images = self.translate(sample_inputs, n_samples=n_samples, seed=0)
            scale = max(1, 64 // max(images.shape[-2:]))
            save_grid(images, directory / SAMPLES_NAME, rows=len(images) // n_samples, scale=scale)
        write_model_card(directory, self.config)
        return directory

    def push_to_hub(self, repo_id: str, *, revision: str | None = None, private: bool = False,
                    commit_message: str | None = None, token: str | None = None, sample_inputs: Any = None) -> str:
        """Save this bridge (with samples.png from `sample_inputs`) and upload it to the Hub repo
        `repo_id`; returns the commit id."""
        import tempfile

        from .hub import push

        with tempfile.TemporaryDirectory() as directory:
            self.save_pretrained(directory, sample_inputs)
            return push(directory, repo_id, revision=revision, private=private, commit_message=commit_message, token=token)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str | torch.device | None = None) -> Bridge:
        """Load a bridge directory, validating its config against the installed strategies and experts."""
        directory = Path(directory)
        config = read_config(directory)
        check_schema(config, directory / CONFIG_NAME)
        registry = plugins.registry()
        try:
            strategy_cls = registry.get("strategy", config["strategy"]).cls
        except UnknownNameError as exc:
            raise BridgeConfigError(f"{directory}: {exc}") from None
        source, target = (_load_expert(config[side], side, directory, device) for side in ("source", "target"))
        strategy = strategy_cls(source.latent_shape, target.latent_shape, **config["config"])
        load_weights(strategy, directory / WEIGHTS_NAME)
        return cls(strategy.to(source.device).eval(), source, target, metrics=config["metrics"])


def create_bridge(
    strategy: str, source: str | Expert, target: str | Expert, *, seed: int | None = None, **config: Any
) -> Bridge:
    """An untrained bridge of `strategy` between two experts (names or instances); `seed` seeds its
    initial weights (after the experts load, whose own initialisation may draw random numbers)."""
    from . import load_expert

    source, target = (e if isinstance(e, Expert) else load_expert(e) for e in (source, target))
    strategy_cls = plugins.registry().get("strategy", strategy).cls
    source.load(), target.load()  # an expert knows its checkpoint's exact latent shape once loaded
    if seed is not None:
        torch.manual_seed(seed)
    return Bridge(strategy_cls(source.latent_shape, target.latent_shape, **config), source, target)


def _expert_entry(expert: Expert) -> dict[str, Any]:
    spec = plugins.registry().specs["expert"].get(expert.name)
    plugin = plugins.registry().plugins.get(spec.plugin) if spec else None
    return {
        "expert": expert.name,
        "plugin": plugin.distribution if plugin and plugin.distribution else None,
        "checkpoint": expert.checkpoint,
        "options": dict(expert.settings),
        "latent_shape": list(expert.latent_shape),
    }


SCHEMA = {"n2n_version": str, "strategy": str, "source": dict, "target": dict, "config": dict, "metrics": dict}
SIDE_SCHEMA = {"expert": str, "checkpoint": str, "latent_shape": list}


def check_schema(config: dict[str, Any], path: Path) -> None:
    for key, kind in SCHEMA.items():
        if not isinstance(config.get(key), kind):
            raise BridgeConfigError(f"{path}: {key!r} must be a {kind.__name__}, got {config.get(key)!r}")
    for side in ("source", "target"):
        for key, kind in SIDE_SCHEMA.items():
            if not isinstance(config[side].get(key), kind):
                raise BridgeConfigError(f"{path}: {side}.{key} must be a {kind.__name__}, got {config[side].get(key)!r}")
        shape = config[side]["latent_shape"]
        if not shape or not all(isinstance(n, int) and n > 0 for n in shape):
            raise BridgeConfigError(f"{path}: {side}.latent_shape must be a list of positive ints, got {shape!r}")
        if not isinstance(config[side].get("options", {}), dict):
            raise BridgeConfigError(f"{path}: {side}.options must be an object, got {config[side]['options']!r}")


def _load_expert(entry: dict[str, Any], side: str, directory: Path, device) -> Expert:
    from . import load_expert

    try:
        expert = load_expert(entry["expert"], checkpoint=entry["checkpoint"], device=device, **entry.get("options", {}))
    except UnknownNameError:
        install = entry.get("plugin") or f"n2n-plugin-{entry['expert']}"
        raise BridgeConfigError(
            f"{directory}: the {side} expert {entry['expert']!r} is not installed: pip install {install}"
        ) from None
    expert.load()
    if list(expert.latent_shape) != entry["latent_shape"]:
        raise BridgeConfigError(
            f"{directory}: the {side} expert {entry['expert']!r} ({entry['checkpoint']}) has latent shape "
            f"{list(expert.latent_shape)}, but the bridge was trained for {entry['latent_shape']}"
        )
    return expert


def load_bridge(ref: str | os.PathLike, revision: str | None = None, device: str | torch.device | None = None) -> Bridge:
    """A bridge from a directory, a zoo alias (`bert->digits`, `bert->digits:mlp`: the local zoo first,
    then the zoo index's Hub repo) or a Hub repo id (`org/name`, at `revision`)."""
    from . import hub, zoo

    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise N2NError(f"{ref} is not a bridge directory (no {CONFIG_NAME})")
        return Bridge.from_pretrained(path, device=device)
    ref = str(ref)
    if zoo.parse_alias(ref):
        if (local := zoo.local_path(ref)) is not None:
            return Bridge.from_pretrained(local, device=device)
        repo = zoo.hub_repo(ref)
        if repo is None:
            raise zoo.missing(ref)
        ref = repo
    try:
        validate_repo_id(ref)
    except HFValidationError:
        raise N2NError(f"{ref!r} is neither a bridge directory, nor an alias like 'bert->digits', nor a Hub repo id") from None
    return Bridge.from_pretrained(hub.pull(ref, revision), device=device)
