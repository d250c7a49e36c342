"""Exceptions n2n raises on purpose.

Every one carries a single message that says what was wrong and what to do; the CLI prints it as one
line and exits 1 (2 for a usage error or an unknown name, as argparse does). Anything else escaping n2n is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class N2NError(Exception):
    """Base class: an error n2n explains to its user."""


def plural(kind: str) -> str:
    """"expert" -> "experts", "strategy" -> "strategies"."""
    return kind[:-1] + "ies" if kind.endswith("y") else kind + "s"


def first_few(items: Sequence[object], limit: int = 3, sep: str = ", ") -> str:
    """The first `limit` items for a message, "..." marking more: "a, b, c, ..."."""
    return sep.join(map(str, items[:limit])) + (f"{sep}..." if len(items) > limit else "")


class UnknownNameError(N2NError, KeyError):
    """A name (expert, strategy, dataset) that no installed plugin registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        parts = [f"unknown {kind} {name!r}."]
        if close:
            parts.append(f"Did you mean {', '.join(map(repr, close))}?")
        parts.append(f"Installed {plural(kind)}: {', '.join(known) if known else '(none)'}.")
        if hint:
            parts.append(hint)
        super().__init__(" ".join(parts))
        self.kind, self.name, self.close_matches = kind, name, close

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class PluginConflictError(N2NError):
    """Two plugins registered the same name."""


class CheckpointNotFoundError(N2NError, FileNotFoundError):
    """A checkpoint that is neither a local directory, nor cached, nor reachable on the Hub."""


class InvalidInputError(N2NError, ValueError):
    """Inputs or latents of the wrong type, shape or value."""


class UnsupportedOperationError(N2NError, TypeError):
    """An expert asked to encode or decode when it cannot, or a strategy asked for what it does not do
    (run backwards, decode without sampling)."""


class PluginError(N2NError):
    """A plugin that registered something malformed."""


class WeightsError(N2NError):
    """A checkpoint directory whose config or tensors do not fit the model."""


class BridgeConfigError(N2NError):
    """A bridge config.json that is malformed or does not fit the installed strategies and experts."""


class HubError(N2NError):
    """A Hub operation that failed: which repo, and what to do."""


class ReadOnlyError(N2NError, PermissionError):
    """n2n needs to write where it may not (a read-only N2N_HOME)."""


class TrainingDivergedError(N2NError):
    """The loss became NaN or infinite."""


class InputWarning(UserWarning):
    """n2n changed an input to read it (a text truncated, a picture inverted): what comes out may not be what was
    meant. The CLI prints it as `n2n: warning: ...`."""


class UsageError(N2NError):
    """Options that do not fit together (the CLI exits 2 on it)."""
