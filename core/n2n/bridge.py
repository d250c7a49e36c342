"""A trained bridge: a strategy plus the frozen experts it connects, saved as safetensors + JSON.

On disk (and in a Hub repo), as `hub.format` describes: `config.json` (strategy, source, target and
auxiliary experts with their plugins, checkpoints, options and latent shapes; hyperparameters; metrics),
`model.safetensors` with the strategy's tensors only (never an expert's), a model card `README.md`, and
`samples.png` when the target decodes images (or sound, drawn as spectrograms). Loading validates
everything before building anything.
The surface follows huggingface_hub's `PyTorchModelHubMixin`: `save_pretrained`, `from_pretrained`,
`push_to_hub`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id
from packaging.version import InvalidVersion, Version
from torch import nn

from .audio import spectrogram_images
from .constants import CONFIG_NAME, ENV_LOAD_PLUGINS, SAMPLES_NAME, SEED_LIMIT, VERSION, WEIGHTS_NAME
from .errors import (
    BridgeConfigError,
    HubError,
    InvalidInputError,
    N2NError,
    PluginError,
    UnknownNameError,
    UsageError,
    WeightsError,
)
from .expert import Expert, resolve_device, resolve_dtype
from .hub import zoo
from .hub.card import write_model_card
from .hub.checkpoints import hub_only, hub_options
from .hub.format import check_hub_checkpoints, how_trained, read_bridge_config
from .hub.transfer import pull, push
from .hub.weights import load_weights, planned_shapes, read_config, save_module, shape_differences, weight_shapes
from .images import enlargement, save_grid
from .inputs import check_latents
from .io import names_a_path, user_path
from .progress import logger
from .registry import experts, installed, load_expert, load_failure, plugin_distribution, registry, strategy_class
from .settings import is_whole
from .strategy import Strategy

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo


class Bridge(nn.Module):
    """Carries a source expert's latents into a target expert's: `translate`, `sample`, save and load."""

    def __init__(self, strategy: Strategy, metrics: Mapping[str, Any] | None = None, downloaded: bool = False):
        super().__init__()
        self.strategy = strategy
        self.metrics = dict(metrics or {})
        self.downloaded = downloaded  # from the Hub: the local paths its metrics name are not this user's to read

    @property
    def source(self) -> Expert:
        return self.strategy.source

    @property
    def target(self) -> Expert:
        return self.strategy.target

    @property
    def auxiliary(self) -> Mapping[str, Expert]:
        return self.strategy.auxiliary

    @property
    def experts(self) -> list[Expert]:
        """Every expert this bridge runs: source, target, then the auxiliary ones."""
        return [self.source, self.target, *self.auxiliary.values()]

    @property
    def config(self) -> dict[str, Any]:
        return {
            "n2n_version": VERSION,
            "strategy": self.strategy.name,
            **({"strategy_plugin": plugin} if (plugin := plugin_distribution(self.strategy.name, "strategy")) else {}),
            "source": _expert_entry(self.source),
            "target": _expert_entry(self.target),
            "auxiliary": {role: _expert_entry(expert) for role, expert in self.auxiliary.items()},
            "config": dataclasses.asdict(self.strategy.config),
            "metrics": self.metrics,
            **({"paper": dict(self.strategy.paper)} if self.strategy.paper else {}),
        }

    def to(self, *args, **kwargs) -> Bridge:
        """`nn.Module.to` for the strategy, and every expert moved to the same device."""
        try:
            device = torch._C._nn._parse_to(*args, **kwargs)[0]
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(f"Bridge.to takes a device, a dtype or both, as nn.Module.to does ({exc})") from None
        if device is not None:
            resolve_device(device)  # an accelerator this machine lacks: one clear error, before anything moves
        super().to(*args, **kwargs)
        if device is not None:
            for expert in self.experts:
                expert.to(device)
        return self

    def extra_repr(self) -> str:
        """The head of `print(bridge)`, above the strategy's modules: which experts, how, how many weights."""
        parameters = sum(p.numel() for p in self.strategy.parameters())
        return f"{self.source.name} -> {self.target.name}, strategy={self.strategy.name}, parameters={parameters:,}"

    @property
    def device(self) -> torch.device:
        tensor = next(self.strategy.parameters(), None)
        return tensor.device if tensor is not None else self.target.device

    @property
    def dtype(self) -> torch.dtype:
        """The strategy's floating-point dtype (float32 unless the bridge was moved `.to` another)."""
        tensors = (t for t in [*self.strategy.parameters(), *self.strategy.buffers()] if t.is_floating_point())
        return next(tensors, torch.zeros(())).dtype

    @torch.no_grad()
    def sample(self, source_latents: torch.Tensor, n_samples: int = 1, seed: int | None = None) -> torch.Tensor:
        """Source latents [B, *S] -> target latents [B * n_samples, *T]; row i*n + j is sample j of input i.
        Runs in eval mode and restores the strategy's previous mode."""
        if not is_whole(n_samples) or n_samples < 1:
            raise InvalidInputError(f"n_samples must be a whole number, at least 1, got {n_samples!r}")
        check_seed(seed)
        self._check_source(source_latents, "sample")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with evaluating(self.strategy):
            latents = self.strategy.sample(source_latents.to(self.device, self.dtype), n_samples, generator)
        expected = (len(source_latents) * n_samples, *self.strategy.target_shape)
        if tuple(latents.shape) != expected:  # a strategy's bug, said before the target blames the latents
            raise PluginError(f"strategy {self.strategy.name!r}: sample returned latents of shape {list(latents.shape)} for "
                              f"{len(source_latents)} input(s) x {n_samples} sample(s), expected {list(expected)} "
                              "(input-major: row i * n_samples + j is sample j of input i)")
        return latents

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, source_latents: torch.Tensor) -> Any:
        """Sampled target latents [B * n, *T] -> outputs, given the source latents [B, *S] they came
        from (the strategy decides how: by default the target expert decodes)."""
        self._check_source(source_latents, "decode")
        if len(latents) % len(source_latents):
            raise InvalidInputError(f"decode: {len(latents)} sampled latents do not come from {len(source_latents)} "
                                    "source latents (expected a whole number of samples for each)")
        n = len(latents) // len(source_latents)
        with evaluating(self.strategy):
            return self.strategy.decode(latents, source_latents.to(self.device, self.dtype).repeat_interleave(n, 0))

    def _check_source(self, source_latents: Any, method: str) -> None:
        """Source latents as `sample` and `decode` take them: a finite float tensor [B, *S] with B > 0."""
        check_latents(source_latents, self.strategy.source_shape, method, "source latents",
                      made_by=" (bridge.source.encode(inputs) makes them)")

    def reversed(self) -> Bridge:
        """The bridge the other way, target -> source, on the same trained weights (strategies that are
        `reversible`, like `latent-vae`); others raise a clear error."""
        def other_way(key: str) -> str:  # a measurement of one direction names the other; how it was trained stays
            if how_trained(key):
                return key
            return key.removeprefix("reverse_") if key.startswith("reverse_") else f"reverse_{key}"

        metrics = {other_way(key): value for key, value in self.metrics.items()}
        return Bridge(self.strategy.reversed(), metrics=metrics, downloaded=self.downloaded).to(self.device)

    def with_settings(self, **settings: Any) -> Bridge:
        """The same trained bridge (weights shared) sampling with other values of its strategy's
        `sampling_settings`: e.g. `flow`'s guidance, or `latent-vae`'s correlation (locality against
        diversity); for translating and evaluating, not for training. Measurements taken at other values do not
        carry over; `metrics["trained_with"]` keeps the trained values of what differs (a saved copy's card shows them)."""
        if not settings:
            return self
        strategy = self.strategy.with_settings(**settings)
        trained = {**{key: getattr(self.strategy.config, key) for key in settings}, **self.metrics.get("trained_with", {})}
        trained = {key: value for key, value in trained.items() if getattr(strategy.config, key) != value}
        metrics = {k: v for k, v in self.metrics.items() if k != "trained_with" and (not trained or how_trained(k))}
        return Bridge(strategy, {**metrics, "trained_with": trained} if trained else metrics, downloaded=self.downloaded)

    def translate(self, inputs: Any, n_samples: int = 1, seed: int | None = None) -> Any:
        """source.encode -> sample target latents -> decode; outputs are input-major. Latents the strategy samples
        that are not finite are an N2NError (`check_sampled`)."""
        source_latents = self.source.encode(inputs)
        return self.decode(self.check_sampled(self.sample(source_latents, n_samples, seed)), source_latents)

    def check_sampled(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents this bridge sampled, refused when not finite: said as the strategy's failure, where the target
        expert decoding them would blame its caller's input."""
        if not torch.isfinite(latents).all():
            settings = ", ".join(f"{name}={getattr(self.strategy.config, name)!r}" for name in self.strategy.sampling_settings)
            raise N2NError(f"strategy {self.strategy.name!r} sampled latents that are not finite (NaN or inf): its sampling "
                           f"settings ({settings or 'none'}) or its weights are out of range")
        return latents

    # -- save, load, share ---------------------------------------------------------------------------
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        sample_inputs: Any = None,
        n_samples: int = 8,
        push_to_hub: bool = False,
        repo_id: str | None = None,
        **push_kwargs: Any,
    ) -> Path:
        """Write config.json, model.safetensors and a model card (README.md) into `save_directory`,
        each atomically (a README.md you wrote yourself is kept); with `sample_inputs` and an image
        (or audio) target, also samples.png (rows: inputs; sounds as their spectrograms; without them, a
        samples.png an earlier save of a bridge left there is removed). With `push_to_hub`, then upload it to
        `repo_id`. A bad folder, missing `repo_id` or bad `sample_inputs` is said before anything is written."""
        if not names_a_path(save_directory):
            raise InvalidInputError(f"save_pretrained takes the folder to save the bridge into, got {save_directory!r}")
        if push_to_hub and repo_id is None:
            raise InvalidInputError("save_pretrained(push_to_hub=True) needs repo_id='org/name'")
        directory = user_path(save_directory)
        if directory.exists() and not directory.is_dir():
            raise InvalidInputError(f"{save_directory} is a file: a bridge is saved into a folder (config.json, "
                                    f"{WEIGHTS_NAME}, README.md)")
        samples = None
        if sample_inputs is not None and self.target.modality in ("image", "audio"):  # bad inputs fail before any write
            outputs = self.translate(sample_inputs, n_samples=n_samples, seed=0)
            samples = spectrogram_images(outputs) if self.target.modality == "audio" else outputs  # [R * n, C, H, W]
        earlier = (directory / CONFIG_NAME).exists()  # a bridge saved there: its samples are stale now
        if earlier and not _holds_a_bridge(directory):
            raise InvalidInputError(f"{directory} holds a {CONFIG_NAME} that is not a bridge's, which saving would replace: "
                                    "save the bridge into a folder of its own")
        directory = save_module(self.strategy, self.config, directory, self.strategy.bridge_state_dict())
        if samples is not None:
            save_grid(samples, directory / SAMPLES_NAME, rows=len(samples) // n_samples, scale=enlargement(samples.shape[-2:], 64))
        elif earlier:  # an earlier bridge's samples do not show this one (nor go into its card, nor to the Hub)
            (directory / SAMPLES_NAME).unlink(missing_ok=True)
        write_model_card(directory, self.config)
        if push_to_hub:
            push(directory, repo_id, **push_kwargs)
        return directory

    def push_to_hub(
        self,
        repo_id: str,
        *,
        branch: str | None = None,
        create_pr: bool = False,
        private: bool | None = None,
        commit_message: str | None = None,
        token: str | None = None,
        license: str = "apache-2.0",
        sample_inputs: Any = None,
    ) -> CommitInfo:
        """Save this bridge (with samples.png from `sample_inputs`) and upload it to the Hub repo
        `repo_id` (created if missing) on `branch`, or as a pull request; returns the CommitInfo."""
        with tempfile.TemporaryDirectory() as directory:
            self.save_pretrained(directory, sample_inputs=sample_inputs)
            return push(directory, repo_id, branch=branch, create_pr=create_pr, private=private,
                        commit_message=commit_message, token=token, license=license)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        token: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Bridge:
        """A bridge from a local directory or a Hub repo id (at `revision`), validated against the
        installed strategies and experts before anything is built; experts load on `device` (in
        `dtype`, for experts that support it); `token`, `cache_dir` and `local_files_only` hold for the
        experts' checkpoints as for the bridge."""
        dtype = _placement(device, dtype, "Bridge.from_pretrained")
        directory = user_path(pretrained_model_name_or_path)
        hub = {"token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
        if directory.is_dir():
            return cls._from_directory(directory, device, dtype, hub, downloaded=False)
        ref = str(pretrained_model_name_or_path)
        if zoo.parse_alias(ref):
            raise UsageError(f"{ref!r} is a zoo alias: Bridge.from_pretrained reads directories and Hub repo ids, "
                             f"n2n.load_bridge({ref!r}) resolves aliases")
        try:
            validate_repo_id(ref)
        except HFValidationError:
            raise UsageError(f"{ref!r} is neither a bridge directory, nor an alias like 'bert->digits', "
                             "nor a Hub repo id ('org/name')") from None
        return cls._from_hub(ref, revision, force_download, device, dtype, hub)

    @classmethod
    def _from_hub(cls, repo_id: str, revision: str | None, force_download: bool, device, dtype, hub: dict[str, Any]) -> Bridge:
        """The bridge in the Hub repo `repo_id`, never a local folder of that name; what it names comes from the Hub
        or a package that ships it, never from the local paths a downloaded config.json could name (`hub_only`)."""
        directory = pull(repo_id, revision, force_download=force_download, **hub)
        return cls._from_directory(directory, device, dtype, hub, downloaded=True)

    @classmethod
    def _from_directory(cls, directory: Path, device, dtype, hub: dict[str, Any], downloaded: bool) -> Bridge:
        config = read_bridge_config(directory)
        if downloaded:
            check_hub_checkpoints(config, directory / CONFIG_NAME)
        if _newer(config["n2n_version"]):
            logger.warning("%s was saved by n2n %s, newer than this n2n (%s): if it does not load or behaves differently, "
                           "upgrade (pip install -U n2n)", directory, config["n2n_version"], VERSION)
        try:
            strategy_cls = strategy_class(config["strategy"])
        except UnknownNameError as exc:
            install = f" (pip install {config['strategy_plugin']})" if "strategy_plugin" in config else ""
            raise BridgeConfigError(f"{directory}: {exc}{install}") from None
        if unknown := sorted(set(config["metrics"].get("trained_with", {})) - set(strategy_cls.sampling_settings)):
            raise BridgeConfigError(f"{directory / CONFIG_NAME}: metrics.trained_with names {unknown}, which are not "
                                    f"sampling settings of {config['strategy']} ({list(strategy_cls.sampling_settings)})")
        saved = weight_shapes(directory / WEIGHTS_NAME)  # a missing or unreadable file is said before any expert loads
        # the experts' downloads too; a downloaded bridge's experts never from local paths
        with hub_options(**hub), hub_only() if downloaded else nullcontext():
            source, target = (_load_expert(config[side], side, directory, device, dtype) for side in ("source", "target"))
            auxiliary = {role: _load_expert(entry, f"{role} (auxiliary)", directory, device, dtype)
                         for role, entry in config.get("auxiliary", {}).items()}
        hyperparameters = _unretired(strategy_cls, config["config"], directory)
        try:
            _check_sizes(strategy_cls, source, target, auxiliary, hyperparameters, saved, directory)
            strategy = strategy_cls(source, target, auxiliary=auxiliary, **hyperparameters)
        except InvalidInputError as exc:
            raise BridgeConfigError(f"{directory / CONFIG_NAME}: {exc}") from None
        load_weights(strategy, directory / WEIGHTS_NAME, strategy.added_tensors)
        return cls(strategy.eval(), metrics=config["metrics"], downloaded=downloaded).to(source.device)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """`module` in eval mode for the block, then each of its submodules back in the mode it was in (a view
    from `with_settings` shares its submodules with the original, whose mode may differ)."""
    modes = {submodule: submodule.training for submodule in module.modules()}
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes.items():
            submodule.training = training


def create_bridge(
    strategy: str,
    source: str | Expert,
    target: str | Expert,
    *,
    auxiliary: Mapping[str, str | Expert] | None = None,
    seed: int | None = None,
    **config: Any,
) -> Bridge:
    """An untrained bridge of `strategy` between two experts (names or instances), with the auxiliary
    experts its roles need (e.g. `auxiliary={"classifier": "digits-classifier"}`); `seed` seeds its
    initial weights (after the experts load, whose own initialisation may draw random numbers)."""
    if auxiliary is not None and not isinstance(auxiliary, Mapping):
        raise InvalidInputError(f"auxiliary maps roles to experts, e.g. {{'classifier': 'digits-classifier'}}, got {auxiliary!r}")
    check_seed(seed)
    strategy_cls = strategy_class(strategy)
    source, target = (_expert(e) for e in (source, target))
    if not target.can_decode() and strategy_cls.decode is Strategy.decode:
        raise InvalidInputError(f"expert {target.name!r} cannot be a bridge's target: it only encodes, and a target decodes "
                                "the latents a bridge samples into outputs (use it as a source)")
    helpers = {role: _expert(e) for role, e in (auxiliary or {}).items()}
    for expert in (source, target, *helpers.values()):
        expert.load()  # an expert knows its checkpoint's exact latent shape once loaded
    if seed is not None:
        torch.manual_seed(seed)
    return Bridge(strategy_cls(source, target, auxiliary=helpers, **config))


def _check_alias_names(ref: str) -> None:
    """An alias of no bridge that misspells an expert or strategy gets "did you mean" for the name, not the advice
    to train a bridge between experts that do not exist."""
    source, target, strategy = zoo.parse_alias(ref)
    for name in (source, target):
        registry().get("expert", name)
    if strategy is not None:
        strategy_class(strategy)


def _holds_a_bridge(directory: Path) -> bool:
    """Whether `directory`'s config.json is a saved bridge's (one n2n may replace), not some other program's."""
    try:
        config = read_config(directory)
    except N2NError:
        return False
    return "n2n_version" in config and "strategy" in config


def check_seed(seed: Any) -> None:
    """A seed of sampling or of a bridge's initial weights: a whole number, 0 <= seed < 2**63, or None."""
    if seed is not None and not (is_whole(seed) and 0 <= seed < SEED_LIMIT):
        raise InvalidInputError(f"seed must be a whole number, 0 <= seed < 2**63 (or None), got {seed!r}")


def _unretired(strategy_cls: type[Strategy], hyperparameters: dict[str, Any], directory: Path) -> dict[str, Any]:
    """A saved bridge's hyperparameters with its retired settings' values (`Strategy.retired_settings`) replaced."""
    read = dict(hyperparameters)
    for name, value in strategy_cls.retired_settings.items():
        if name in read and read[name] != value:
            logger.warning("%s: saved with %s %s=%r, which the strategy no longer takes: read as %r",
                           directory / CONFIG_NAME, strategy_cls.name, name, read[name], value)
            read[name] = value
    return read


def _check_sizes(strategy_cls: type[Strategy], source: Expert, target: Expert, auxiliary: dict[str, Expert],
                 config: dict[str, Any], saved: dict[str, tuple[int, ...]], directory: Path) -> None:
    """The tensors the config would build, against those the weights file holds (`saved`: its header's
    shapes), before anything is allocated: the strategy is first built on the meta device (no memory). A
    config.json that asks for far more (`"hidden": 100000`) is refused."""
    planned = planned_shapes(lambda: strategy_cls(source, target, auxiliary=auxiliary, **config).bridge_state_dict(), saved)
    if planned is not None and (differences := shape_differences(planned, saved, strategy_cls.added_tensors)):
        raise WeightsError(f"{directory / WEIGHTS_NAME}: tensors do not match the hyperparameters of {CONFIG_NAME} "
                           f"({differences}); the bridge was not built")


def _newer(version: str) -> bool:
    """Whether a recorded n2n version is newer than this one (an unreadable one counts as newer)."""
    try:
        return Version(version) > Version(VERSION)
    except InvalidVersion:
        return True


def load_bridge(
    ref: str | os.PathLike,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    *,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Bridge:
    """A bridge from a directory, a zoo alias (`bert->digits`, `bert->digits:mlp`: the local zoo first,
    then the zoo index's Hub repo) or a Hub repo id (`org/name`, at `revision`). `token`, `cache_dir` and
    `local_files_only` hold for the bridge's download and its experts' checkpoints, wherever the bridge is;
    `force_download` downloads a Hub bridge again (`revision` and `force_download` mean nothing to a bridge on
    this machine: a folder or the local zoo's)."""
    if not names_a_path(ref):
        raise InvalidInputError(f"a bridge is named by its folder, a zoo alias ('bert->digits') or a Hub repo id ('org/name'), got {ref!r}")
    dtype = _placement(device, dtype, "load_bridge")
    hub = {"token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
    path = user_path(ref)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            run = (path / "bridge" / CONFIG_NAME).is_file()  # `n2n train --out` writes the bridge into bridge/
            raise N2NError(f"{ref} is not a bridge directory (no {CONFIG_NAME})"
                           + (f": it is a training run, whose bridge is {Path(ref) / 'bridge'}" if run else ""))
        return Bridge.from_pretrained(path, device=device, dtype=dtype, **hub)
    ref = str(ref)
    if zoo.parse_alias(ref):
        if (local := zoo.local_path(ref)) is not None:
            return Bridge.from_pretrained(local, device=device, dtype=dtype, **hub)
        repo = zoo.hub_repo(ref)
        if repo is None:
            _check_alias_names(ref)
            raise zoo.missing(ref)
        return Bridge._from_hub(repo, revision, force_download, device, dtype, hub)  # never a folder of its name
    try:
        return Bridge.from_pretrained(ref, revision=revision, device=device, dtype=dtype, force_download=force_download, **hub)
    except HubError as exc:
        if not (isinstance(exc.__cause__, (RepositoryNotFoundError, LocalEntryNotFoundError)) and _looks_local(ref)):
            raise
        raise HubError(f"{exc} (nor is there a folder {ref} in {Path.cwd()})") from exc


def _looks_local(ref: str) -> bool:
    """Whether a name that is not a folder here was likely meant as one (a typo): a bare name (bridges on the Hub
    are 'org/name'), or a path under a folder that exists here ("runs/bert-digitz")."""
    return "/" not in ref or user_path(ref.split("/")[0]).is_dir()


def _placement(device: Any, dtype: Any, caller: str) -> torch.dtype | None:
    """`device` and `dtype` of a bridge to load, checked before anything downloads or loads; the dtype (or its
    name) as a torch dtype, which the experts that run in it take."""
    if device is not None:
        resolve_device(device)
    dtype = resolve_dtype(dtype, caller)
    if dtype is not None and not dtype.is_floating_point:
        raise InvalidInputError(f"{caller}: dtype is the experts' weight dtype, a floating-point one such as torch.bfloat16, got {dtype}")
    return dtype


def _expert(expert: str | Expert) -> Expert:
    return expert if isinstance(expert, Expert) else load_expert(expert)


def _expert_entry(expert: Expert) -> dict[str, Any]:
    return {
        "expert": expert.name,
        "modality": expert.modality,
        "plugin": plugin_distribution(expert.name),
        "checkpoint": expert.checkpoint,
        "options": dict(expert.settings),
        "latent_shape": list(expert.latent_shape),
    }


def _load_expert(entry: dict[str, Any], side: str, directory: Path, device, dtype) -> Expert:
    name = entry["expert"]
    if name not in experts():
        install = entry.get("plugin") or f"n2n-plugin-{name}"
        if (failure := load_failure(install)) is not None:
            raise BridgeConfigError(f"{directory}: the {side} expert {name!r} is not loaded: its plugin {install} is installed but "
                                    f"{failure} (`n2n plugins` lists every plugin's state)")
        if (chosen := os.environ.get(ENV_LOAD_PLUGINS)) is not None and installed(install):
            raise BridgeConfigError(f"{directory}: the {side} expert {name!r} is not loaded: {install} is installed, but "
                                    f"{ENV_LOAD_PLUGINS}={chosen!r} leaves its plugin out")
        raise BridgeConfigError(f"{directory}: the {side} expert {name!r} is not installed: pip install {install}")
    supported = dtype if dtype in experts()[name].cls.dtypes else None  # the others stay in their default
    try:
        expert = load_expert(name, checkpoint=entry["checkpoint"], device=device, dtype=supported, **entry.get("options", {}))
    except InvalidInputError as exc:
        raise BridgeConfigError(f"{directory}: the {side} expert: {exc}") from None
    expert.load()
    if list(expert.latent_shape) != entry["latent_shape"]:
        raise BridgeConfigError(
            f"{directory}: the {side} expert {name!r} ({entry['checkpoint']}) has latent shape "
            f"{list(expert.latent_shape)}, but the bridge was trained for {entry['latent_shape']}"
        )
    return expert


def push_bridge(directory: str | os.PathLike, repo_id: str, **push_kwargs: Any) -> CommitInfo:
    """`n2n push`: upload a saved bridge directory (see `n2n.hub.transfer.push`) after checking that it
    loads: its strategy, experts and every tensor with its shape. Nothing is uploaded otherwise."""
    if not os.path.isdir(directory):
        raise HubError(f"{directory} is not a bridge directory: save one with save_pretrained (or n2n train) first")
    try:
        Bridge.from_pretrained(Path(directory), device="cpu")
    except N2NError as exc:
        raise HubError(f"refusing to push {directory}: it does not load as a bridge: {exc}") from None
    return push(directory, repo_id, **push_kwargs)
