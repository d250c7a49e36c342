"""The hooks an n2n plugin implements. Each receives a `register` callback and calls it once per class.

A plugin module implements any of them with `@n2n.hookimpl`; n2n's built-ins register the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("n2n")
hookimpl = pluggy.HookimplMarker("n2n")


@hookspec
def register_experts(register: Callable[[type], None]) -> None:
    """Register `n2n.Expert` subclasses: `register(MyExpert)`."""


@hookspec
def register_strategies(register: Callable[[type], None]) -> None:
    """Register bridge strategy classes (subclasses of `n2n.Strategy`): `register(MyStrategy)`."""


@hookspec
def register_datasets(register: Callable[[type], None]) -> None:
    """Register `n2n.Dataset` subclasses: `register(MyDataset)`."""


@hookspec
def register_demos(register: Callable[[type], None]) -> None:
    """Register `n2n.Demo` subclasses, the scenes of `n2n demo NAME`: `register(MyDemo)`."""
