"""A module on disk in n2n's native format: `config.json` (constructor arguments) + `model.safetensors`.

Loading is strict: the config must fit the constructor, and every tensor must be present, expected and
of the right shape, or one clear error says which. Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.modules.module import register_module_buffer_registration_hook, register_module_parameter_registration_hook

from ..constants import CONFIG_NAME, WEIGHTS_NAME, n2n_home
from ..errors import InvalidInputError, N2NError, WeightsError, first_few
from ..io import atomic_path, write_json, writing

M = TypeVar("M", bound=nn.Module)

def save_module(module: nn.Module, config: dict[str, Any], directory: str | os.PathLike,
                state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write `config` and the module's weights (or the given `state` of it) into `directory`, each file atomically."""
    directory = Path(directory)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in (state if state is not None else module.state_dict()).items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(state, str(tmp))
    write_json(directory / CONFIG_NAME, config)
    return directory


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint directory's config.json (`read_json_object`)."""
    return read_json_object(Path(directory) / CONFIG_NAME)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding an object; anything else is one WeightsError naming the file."""
    check_regular(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing: a checkpoint directory needs {CONFIG_NAME} and {WEIGHTS_NAME}") from None
    except UnicodeDecodeError as exc:
        raise WeightsError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise WeightsError(f"{path} nests too deeply to be a config") from None
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
    return build_checked(lambda: factory(**config), factory.__name__, directory / WEIGHTS_NAME, directory / CONFIG_NAME)


def build_checked(build: Callable[[], M], model: str, weights: Path, config: Path) -> M:
    """`build()` (the `model` named in errors) with `weights` loaded into it, strictly. The tensors `build` would
    make are first planned on the meta device against the weights file's header, so that a `config` (the file
    the sizes come from) asking for far more, or for other shapes, is refused before anything is allocated."""
    saved = weight_shapes(weights)
    try:
        planned = planned_shapes(lambda: build().state_dict(), saved)
    except InvalidInputError as exc:
        raise WeightsError(f"{config}: {exc}") from None
    if planned is not None and (differences := shape_differences(planned, saved)):
        raise WeightsError(f"{weights}: tensors do not match {config.name} ({differences}); nothing was built")
    try:
        module = build()
    except N2NError:
        raise
    except Exception as exc:  # the library refusing the config its own way: a negative width, an unknown layer name
        raise WeightsError(f"{config} does not fit {model}: {type(exc).__name__}: {exc}") from None
    load_weights(module, weights)
    return module


@dataclasses.dataclass
class _Budget:
    """How many tensors a `planned_shapes` build may make, and how many it has made."""

    limit: int
    saved: int
    made: int = 0


_planning: ContextVar[_Budget | None] = ContextVar("n2n_planning", default=None)


def _count_planned(_module: nn.Module, _name: str, tensor: torch.Tensor | None) -> None:
    """Torch's registration hook for every parameter and buffer: counts the meta tensors made while a
    `planned_shapes` build runs in this thread (context), and stops it past its budget."""
    budget = _planning.get()
    if budget is not None and tensor is not None and tensor.is_meta:
        budget.made += 1
        if budget.made > budget.limit:
            raise InvalidInputError(f"building it made more than {budget.limit} tensors, where {WEIGHTS_NAME} holds {budget.saved}")


# installed once, never removed: adding and removing torch's global hooks while another thread registers
# parameters breaks that thread ("OrderedDict mutated during iteration")
register_module_parameter_registration_hook(_count_planned)
register_module_buffer_registration_hook(_count_planned)


@contextmanager
def unplanned() -> Iterator[None]:
    """Tensors made in the block do not count against a `planned_shapes` build around it (an expert that loads
    its real weights on first use, inside a strategy's constructor)."""
    token = _planning.set(None)
    try:
        yield
    finally:
        _planning.reset(token)


def planned_shapes(build: Callable[[], Mapping[str, torch.Tensor]], saved: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]] | None:
    """Name -> shape of the tensors `build()` makes when run on the meta device (nothing is allocated); None when
    it cannot run there (`load_weights` checks the module once it is built). Its InvalidInputError is raised,
    and so is one as soon as it has made far more tensors than the `saved` weights hold: even on the meta
    device, a config.json asking for `"depth": 40000` would take seconds to build, a larger one hours."""
    token = _planning.set(_Budget(limit=4 * len(saved) + 1000, saved=len(saved)))
    try:
        with torch.device("meta"):
            return {name: tuple(tensor.shape) for name, tensor in build().items()}
    except InvalidInputError:
        raise
    except Exception:
        return None
    finally:
        _planning.reset(token)


def shape_differences(planned: Mapping[str, tuple[int, ...]], saved: Mapping[str, tuple[int, ...]],
                      added: Iterable[str] = ()) -> str:
    """How the tensors a config would build differ from those a weights file holds ('' when they do not): wrong
    shapes, then missing tensors (but those `added` since such files were written), then unexpected ones."""
    wrong = sorted(name for name in planned.keys() & saved.keys() if planned[name] != saved[name])
    missing, extra = sorted(planned.keys() - saved.keys() - set(added)), sorted(saved.keys() - planned.keys())
    return "; ".join([
        *(f"{name}: {CONFIG_NAME} builds {list(planned[name])}, {WEIGHTS_NAME} holds {list(saved[name])}" for name in wrong[:3]),
        *(f"missing {name}" for name in missing[:2]), *(f"unexpected {name}" for name in extra[:2])])


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A safetensors file that is missing or unreadable is one WeightsError naming it."""
    check_regular(path)
    try:
        yield
    except FileNotFoundError:
        raise WeightsError(f"{path} is missing") from None
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from None


def check_regular(path: Path) -> None:
    """A file n2n reads that exists is a regular file (or a link to one): a FIFO would block the read forever,
    a device or folder is no config or weights."""
    if path.exists() and not path.is_file():
        raise WeightsError(f"{path} is not a regular file: a checkpoint holds {CONFIG_NAME} and {WEIGHTS_NAME} as files")


def weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header alone (nothing is allocated)."""
    with _reading(path), safe_open(str(path), "pt") as weights:
        return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}


def with_added(state: dict[str, torch.Tensor], module: nn.Module, added: Mapping[str, float | bool]) -> dict[str, torch.Tensor]:
    """`state` with each of `module`'s tensors named in `added` that it lacks (a file saved before the tensor
    existed) filled with the value such a file stands for."""
    own = module.state_dict()
    return {**{name: torch.full_like(own[name], value) for name, value in added.items() if name in own and name not in state},
            **state}


def load_weights(module: nn.Module, path: Path, added: Mapping[str, float | bool] | None = None) -> None:
    """Load a safetensors file into `module`: every tensor present (but those `added` since the file was
    written: `with_added`), none extra, every shape equal."""
    with _reading(path):
        state = with_added(load_file(str(path)), module, added or {})
    expected = module.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise WeightsError(f"{path}: tensors do not match the model (missing: {first_few(missing, 5) or 'none'}; unexpected: {first_few(extra, 5) or 'none'})")
    wrong = [f"{k} {list(state[k].shape)} != {list(v.shape)}" for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise WeightsError(f"{path}: tensors of the wrong shape: {first_few(wrong, 5, sep='; ')}")
    if kinds := wrong_kinds(state, expected):
        raise WeightsError(f"{path}: tensors of the wrong kind: {kinds}")
    module.load_state_dict(state, strict=True)


def wrong_kinds(state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> str:
    """The tensors of `state` that are integers, booleans or floats where `expected`'s are another of those
    ("step is float32, expected int64"), or '': load_state_dict would cast them without a word."""
    def kind(tensor: torch.Tensor) -> tuple[bool, bool]:
        return tensor.is_floating_point(), tensor.dtype == torch.bool

    return "; ".join([f"{name} is {_dtype(state[name])}, expected {_dtype(tensor)}" for name, tensor in expected.items()
                      if name in state and kind(state[name]) != kind(tensor)][:5])


def check_complete(path: Path, loading_info: Mapping[str, Any], unused: tuple[str, ...] = ()) -> None:
    """A model that transformers or diffusers loaded from `path` (`output_loading_info=True`) lacks no tensor: those
    libraries fill a missing one with random numbers and only log it. Those under an `unused` prefix (a pooler
    n2n never calls) may be missing."""
    missing = sorted(name for name in loading_info.get("missing_keys", ()) if not name.startswith(unused))
    if missing:
        raise WeightsError(f"{path}: the weights lack {first_few(missing, 5)}, which the model "
                           "needs (loading would fill them with random numbers)")


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def convert_pickled_weights(
    source: str | os.PathLike, name: str, select: Callable[[Any], dict[str, Any]] | None = None
) -> Path:
    """Upstream weights published only as a torch pickle, read once with `torch.load(weights_only=True)`
    (no code runs) and converted to safetensors under `N2N_HOME/converted/NAME/`; later calls read the
    safetensors. `select` picks the state dict out of what was saved. Returns the .safetensors path."""
    source = Path(source)
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = n2n_home() / "converted" / name / key / WEIGHTS_NAME
    if target.is_file():
        return target
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        raise WeightsError(f"{source} is not a plain tensor checkpoint ({type(exc).__name__}: {exc})") from None
    state = select(loaded) if select else loaded
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{source}: expected a dict of tensors (a state dict), got {type(state).__name__}")
    with writing(target.parent, f"converting {source.name} to safetensors"), atomic_path(target) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    return target


def converted_checkpoint(source: str | os.PathLike, name: str, config: Mapping[str, Any],
                         select: Callable[[Any], dict[str, Any]] | None = None) -> Path:
    """A checkpoint directory of upstream pickled weights (`convert_pickled_weights`) with `config` as its
    config.json, written after the weights: a folder with a config.json is a finished conversion."""
    directory = convert_pickled_weights(source, name, select).parent
    if not (directory / CONFIG_NAME).is_file():
        with writing(directory, f"converting {Path(source).name} to safetensors"):
            write_json(directory / CONFIG_NAME, dict(config))
    return directory
