"""One rule for settings a user gives by name: an expert's options and a strategy's hyperparameters.

Each value must have its default's type, with the conversions JSON and the command line need: an int
where a float is expected is promoted, a list where a tuple is expected is converted, and a default of
None takes any value. Anything else is one clear error naming the owner, the setting and the type.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

from .errors import InvalidInputError, UsageError


def is_whole(value: Any) -> bool:
    """Whether `value` is a whole number: an int or a NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_settings(values: Mapping[str, Any], defaults: Mapping[str, Any], owner: str, kind: str) -> dict[str, Any]:
    """`values` checked against `defaults` and merged over them; `kind` names one setting ("option")."""
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        known = ", ".join(f"{key}={value!r}" for key, value in defaults.items()) or "none"
        raise InvalidInputError(f"{owner}: unknown {kind}s {unknown}; its {kind}s: {known}")
    checked = {}
    for key, value in values.items():
        default = defaults[key]
        if default is not None:
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            if type(value) is not type(default):  # bool is not int, int is not float
                expected = (f"a list (JSON on the command line: --set '{key}=[...]')" if isinstance(default, tuple)
                            else type(default).__name__)
                raise InvalidInputError(f"{owner}: {kind} {key!r} must be {expected}, got {value!r}")
        checked[key] = value
    return {**defaults, **checked}


def key_value(flag: str, text: str, parse: bool = False) -> tuple[str, Any]:
    """A command line's KEY=VALUE (the argument of `flag`) -> (key, value), the value read as JSON when
    `parse` and it is JSON (0.5, false, [1, 2]), else kept as text."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()  # 'blocks = 4' as 'blocks=4'
    if not sep or not key:
        raise UsageError(f"{flag} takes KEY=VALUE, got {text!r}")
    if parse:
        try:
            return key, json.loads(value)
        except json.JSONDecodeError:
            pass
    return key, value
