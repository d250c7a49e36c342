"""Plugin loading: one pluggy PluginManager; built-in plugins first, then the `n2n` entry points.

Built-ins (`DEFAULT_PLUGINS`) register through the same hooks as third-party plugins. Entry points load
once, lazily, on the first use of the registry. `N2N_LOAD_PLUGINS=a,b` restricts which entry-point
plugins load (set but empty: none). A plugin that fails to import, or whose hook raises, is recorded
with its error and skipped; the others still load. Two plugins registering one name is an error.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from .. import hookspecs
from ..constants import ENV_LOAD_PLUGINS
from ..dataset import Dataset
from ..demo import Demo
from ..errors import InvalidInputError, PluginConflictError, PluginError, UnknownNameError, plural
from ..expert import Expert
from ..specs import NAME
from ..strategy import Strategy

ENTRY_POINT_GROUP = "n2n"
DEFAULT_PLUGINS: tuple[str, ...] = ("n2n.latent", "n2n.label", "n2n_bridges")

pm = pluggy.PluginManager("n2n")
pm.add_hookspecs(hookspecs)

# kind -> (hook name, base class every registered class must subclass)
KINDS: dict[str, tuple[str, type]] = {
    "expert": ("register_experts", Expert),
    "strategy": ("register_strategies", Strategy),
    "dataset": ("register_datasets", Dataset),
    "demo": ("register_demos", Demo),
}
HOOKS = ", ".join(hook for hook, _ in KINDS.values())


@dataclass
class PluginInfo:
    """One plugin as `n2n plugins` reports it."""

    name: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)  # kind -> names

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "error": self.error,
            "registered": self.registered,
        }


class Registry:
    """Everything the installed plugins registered: `specs[kind]` (name -> spec) for each of `KINDS`."""

    def __init__(self) -> None:
        for plugin in list(pm.get_plugins()):  # a fresh start, also after a failed build
            pm.unregister(plugin)
        self.plugins: dict[str, PluginInfo] = {}
        self.specs: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self.conflicts: list[str] = []  # names two plugins registered
        self._load_plugins()
        self._collect()

    # -- loading -----------------------------------------------------------------------------------
    def _load_plugins(self) -> None:
        for module_name in DEFAULT_PLUGINS:
            info = PluginInfo(module_name, builtin=True)
            self.plugins[module_name] = info
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # a broken built-in is reported like any other plugin
                info.error = _describe(exc)
                continue
            _register(module, info)

        allowed = _allowed_plugins()
        seen = set()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or (allowed is not None and ep.name not in allowed):
                continue
            seen.add(ep.name)
            dist = ep.dist
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
            self.plugins[ep.name] = info
            try:
                module = ep.load()
            except Exception as exc:
                info.error = f"failed to import {ep.value!r}: {_describe(exc)}"
                continue
            _register(module, info)
        if missing := sorted((allowed or set()) - seen):
            installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
            for name in missing:
                self.plugins[name] = PluginInfo(
                    name, error=f"listed in {ENV_LOAD_PLUGINS}, which takes entry-point names, but no installed plugin "
                                f"has this one (installed: {', '.join(installed) or 'none'})")

    def _collect(self) -> None:
        owners: dict[tuple[str, str], str] = {}
        for plugin_name, plugin in pm.list_name_plugin():
            info = self.plugins[plugin_name]
            others = [p for p in pm.get_plugins() if p is not plugin]
            found: dict[str, dict[str, Any]] = {}
            try:  # everything a plugin registers is checked before any of it is kept
                for kind, (hook_name, base) in KINDS.items():
                    classes: dict[str, type] = {}
                    caller = pm.subset_hook_caller(hook_name, remove_plugins=others)
                    caller(register=_register_callback(kind, base, classes))
                    found[kind] = {name: cls.spec(plugin_name) for name, cls in classes.items()}
            except Exception as exc:
                info.error = f"{hook_name} failed: {_describe(exc)}"
                continue
            for kind, specs in found.items():
                for name, spec in specs.items():
                    if (kind, name) in owners:  # kept for `n2n plugins` to show; any other use raises it
                        message = (f"{kind} {name!r} is registered by two plugins: "
                                   f"{_label(self.plugins[owners[kind, name]])} and {_label(info)}. "
                                   f"Uninstall one of them, or choose with {ENV_LOAD_PLUGINS}.")
                        self.conflicts.append(message)
                        info.error = message
                        continue
                    owners[kind, name] = plugin_name
                    self.specs[kind][name] = spec
                if specs:
                    info.registered[kind] = sorted(specs)
            if not info.builtin and not info.error and not any(found.values()):
                info.error = f"registers nothing: are its hook functions marked @n2n.hookimpl, and named as n2n's hooks ({HOOKS})?"

    # -- queries -----------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Any:
        specs = self.specs[kind]
        if not isinstance(name, str):
            raise InvalidInputError(f"{kind} names are strings such as {next(iter(sorted(specs)), 'bert')!r}, got {name!r}")
        if name not in specs:
            raise UnknownNameError(kind, name, specs, hint=_install_hint(kind))
        return specs[name]


def _register_callback(kind: str, base: type, into: dict[str, type]):
    def register(cls: type) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(f"register() for {plural(kind)} takes a subclass of n2n.{base.__name__}, got {cls!r}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{cls.__qualname__} has no `name` class attribute")
        if not re.fullmatch(NAME, name):
            raise PluginError(f"{kind} name {name!r}: use letters, digits, '_', '.' and '-' (an alias spells it: 'a->b')")
        if name in into:
            raise PluginConflictError(f"{kind} {name!r} is registered twice by the same plugin")
        into[name] = cls

    return register


def _allowed_plugins() -> set[str] | None:
    value = os.environ.get(ENV_LOAD_PLUGINS)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _register(module: Any, info: PluginInfo) -> None:
    """Register a plugin's module with pluggy, refusing hooks n2n does not have (a misspelled name) and hooks
    whose arguments are not the specification's."""
    try:
        pm.register(module, name=info.name)
    except pluggy.PluginValidationError as exc:  # pluggy's message is several lines: one for the table
        info.error = f"its hook does not match n2n's: {' '.join(str(exc).split())}"
        return
    except ValueError as exc:  # the module already registered (two entry points), or a name taken
        info.error = _describe(exc)
        return
    if unknown := sorted(caller.name for caller in pm.get_hookcallers(module) or [] if caller.spec is None):
        pm.unregister(module)
        info.error = f"{', '.join(unknown)}: not an n2n hook (n2n's hooks: {HOOKS})"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _label(info: PluginInfo) -> str:
    return f"{info.name!r} ({info.distribution or 'built-in'})"


def _install_hint(kind: str) -> str:
    return f"Installed plugins provide {plural(kind)}; see `n2n plugins` (plugins are named n2n-plugin-NAME on PyPI)."


_registry: Registry | None = None
_lock = threading.Lock()


def registry(diagnose: bool = False) -> Registry:
    """The process-wide registry, built on first use. Two plugins registering one name make it unusable
    (a `PluginConflictError` naming both), except to `diagnose` what is installed (`n2n plugins`)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry()
    if _registry.conflicts and not diagnose:
        raise PluginConflictError(_registry.conflicts[0])
    return _registry


def reset() -> None:
    """Forget the loaded plugins: the next use of the registry loads them again."""
    global _registry
    with _lock:
        _registry = None


def reload() -> Registry:
    """Load every plugin again now (after installing one, or in tests)."""
    reset()
    return registry()
