"""ImageNet class names, offline, from timm's bundled class info."""

from __future__ import annotations

import functools

from n2n.errors import UnknownNameError


@functools.cache
def _info():
    from timm.data import ImageNetInfo  # on first use, not when the registry lists experts (seconds at every start)

    return ImageNetInfo()


@functools.cache
def _names() -> tuple[str, ...]:
    info = _info()
    return tuple(info.index_to_description(i) for i in range(1000))


@functools.cache
def _wordnet_ids() -> dict[str, int]:
    info = _info()
    return {info.index_to_label_name(i): i for i in range(1000)}  # "n01443537" -> 1


def class_name(index: int) -> str:
    """The first name of ImageNet class `index`: 1 -> "goldfish"."""
    return _names()[index].split(",")[0].strip()


def class_index(name: str) -> int:
    """The ImageNet class with this WordNet id, else the first whose names include `name` (case-insensitive):
    "goldfish" -> 1, "n01443537" -> 1; "crane" -> 134 (the bird; the machine is "n03126707", 517)."""
    wanted = name.strip().lower()
    if wanted in _wordnet_ids():
        return _wordnet_ids()[wanted]
    for index, names in enumerate(_names()):
        if wanted in (part.strip().lower() for part in names.split(",")):
            return index
    raise UnknownNameError("ImageNet class", name, (class_name(i) for i in range(1000)))
