"""A bridge on disk: the schema of its `config.json`, checked before anything is built from it.

`{"n2n_version", "strategy", "source": SIDE, "target": SIDE, "auxiliary": {ROLE: SIDE}, "config": {...},
"metrics": {...}}`, where SIDE is `{"expert", "modality", "plugin", "checkpoint", "options", "latent_shape"}`;
"strategy_plugin" names the pip package of a strategy that is not built in, and "paper" the strategy's
source. Bridges written before `auxiliary` existed have none. Other keys are ignored, with a warning.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..constants import CONFIG_NAME
from ..errors import BridgeConfigError
from ..progress import logger
from ..specs import NAME
from .weights import read_config

SCHEMA = {"n2n_version": str, "strategy": str, "source": dict, "target": dict, "config": dict, "metrics": dict}
SIDE_SCHEMA = {"expert": str, "checkpoint": str, "latent_shape": list}
KNOWN = {*SCHEMA, "strategy_plugin", "auxiliary", "paper"}  # what n2n reads; other keys are said and ignored
SIDE_KNOWN = {*SIDE_SCHEMA, "modality", "plugin", "options"}
DISTRIBUTION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")  # a pip project name (PEP 508): what n2n tells to install
RESERVED_OPTIONS = {"name", "checkpoint", "device", "dtype"}  # load_expert's own arguments
RESERVED_CONFIG = {"source", "target", "auxiliary"}  # a strategy's constructor arguments besides its hyperparameters


def how_trained(metric: str) -> bool:
    """Whether a bridge's `metrics` key records how it was trained (its data, its training run and how long
    its steps took, whether it exploded, the trained values of changed sampling settings) rather than a
    measurement of what it does: what a model card leaves out of its results, and what `with_settings` keeps."""
    return (metric.startswith("train_") or metric.endswith("_seconds")
            or metric in ("dataset", "data", "exploded", "trained_with"))


def read_bridge_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The validated config.json of a bridge directory (one clear error for each way it can be wrong)."""
    config = read_config(directory)
    check_bridge_config(config, Path(directory) / CONFIG_NAME)
    return config


@functools.cache  # once a process: `n2n push` checks a config twice (the bridge loads, then push reads it)
def warn_unknown(path: str, keys: tuple[str, ...]) -> None:
    logger.warning("%s: ignoring %s, which this n2n does not read (misspelt, or written by a newer n2n?)", path, ", ".join(keys))


def check_bridge_config(config: dict[str, Any], path: Path) -> None:
    for key, kind in SCHEMA.items():
        if not isinstance(config.get(key), kind):
            raise BridgeConfigError(f"{path}: {key!r} must be a {kind.__name__}, got {config.get(key)!r}")
    if "strategy_plugin" in config and not (isinstance(config["strategy_plugin"], str) and DISTRIBUTION.fullmatch(config["strategy_plugin"])):
        raise BridgeConfigError(f"{path}: 'strategy_plugin' must be the name of the pip package that provides the "
                                f"strategy, got {config['strategy_plugin']!r}")
    auxiliary = config.get("auxiliary", {})
    if not isinstance(auxiliary, dict):
        raise BridgeConfigError(f"{path}: 'auxiliary' must be an object of role -> expert, got {auxiliary!r}")
    unknown = [key for key in config if key not in KNOWN]
    for side, entry in sides(config):
        _check_side(entry, side, path)
        unknown += [f"{side}.{key}" for key in entry if key not in SIDE_KNOWN]
    if unknown:  # ignored, so that a newer n2n's bridge loads here; said, since a misspelt key is lost too
        warn_unknown(str(path), tuple(unknown))
    if not isinstance(trained := config["metrics"].get("trained_with", {}), dict):
        raise BridgeConfigError(f"{path}: metrics.trained_with must map sampling settings to their trained values, "
                                f"got {trained!r}")
    if reserved := sorted(RESERVED_CONFIG & set(config["config"])):
        raise BridgeConfigError(f"{path}: config cannot set {reserved}: they are the bridge's experts, given by "
                                "'source', 'target' and 'auxiliary'")


def check_hub_checkpoints(config: dict[str, Any], path: Path) -> None:
    """A bridge from the Hub names its experts' checkpoints by Hub id (or a name an expert ships): a local path
    there would make n2n read the downloading user's files."""
    for side, entry in sides(config):
        try:
            validate_repo_id(entry["checkpoint"])
        except HFValidationError:
            raise BridgeConfigError(f"{path}: {side}.checkpoint must be a Hub id ('org/name', or a name its expert ships) "
                                    f"in a bridge from the Hub, got {entry['checkpoint']!r}: n2n does not read local paths "
                                    "a downloaded bridge names") from None


def sides(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, entry) of every expert a (checked) config names: source, target, each auxiliary role."""
    return [("source", config["source"]), ("target", config["target"]),
            *((f"auxiliary.{role}", entry) for role, entry in config.get("auxiliary", {}).items())]


def _check_side(entry: Any, side: str, path: Path) -> None:
    if not isinstance(entry, dict):
        raise BridgeConfigError(f"{path}: {side} must be an object, got {entry!r}")
    for key, kind in SIDE_SCHEMA.items():
        if not isinstance(entry.get(key), kind):
            raise BridgeConfigError(f"{path}: {side}.{key} must be a {kind.__name__}, got {entry.get(key)!r}")
    if not re.fullmatch(NAME, entry["expert"]):
        raise BridgeConfigError(f"{path}: {side}.expert must be an expert's name (letters, digits, '_', '.', '-'), "
                                f"got {entry['expert']!r}")
    if (plugin := entry.get("plugin")) is not None and not (isinstance(plugin, str) and DISTRIBUTION.fullmatch(plugin)):
        raise BridgeConfigError(f"{path}: {side}.plugin must be the name of the pip package that provides the expert "
                                f"(e.g. 'n2n-plugin-digits'), got {plugin!r}")
    shape = entry["latent_shape"]
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise BridgeConfigError(f"{path}: {side}.latent_shape must be a list of positive ints, got {shape!r}")
    if not isinstance(entry.get("options", {}), dict):
        raise BridgeConfigError(f"{path}: {side}.options must be an object, got {entry['options']!r}")
    if reserved := sorted(RESERVED_OPTIONS & set(entry.get("options", {}))):
        raise BridgeConfigError(f"{path}: {side}.options cannot set {reserved} (the entry's own fields, or where the "
                                "user loads the bridge, decide them)")
