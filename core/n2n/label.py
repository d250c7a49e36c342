"""The built-in expert `label`: class names or indices -> one-hot latents [classes], so that a label is a
source like any other (`load_bridge("label->digits-gan:hypermod").translate(["7", "three"])`).

Its checkpoint is a class list: `digits` (0-9 with their number words), `imagenet` (the 1,000 classes
timm ships, by WordNet id or any of their names), or a local text file with one class per line (commas
separate alternative names of one class). Names match case-insensitively; an unknown one is an error
listing the closest known names.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

import torch

from .errors import InvalidInputError
from .expert import Expert
from .hookspecs import hookimpl
from .hub.checkpoints import local_paths_allowed
from .io import user_path

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_classes() -> list[tuple[str, ...]]:
    return [(word, str(d)) for d, word in enumerate(NUMBER_WORDS)]


def imagenet_classes() -> list[tuple[str, ...]]:
    try:
        from timm.data import ImageNetInfo  # the class list timm ships; only this checkpoint needs timm
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "timm":  # timm is there but lacks a module it needs: its error says which
            raise
        raise InvalidInputError("expert 'label': the 'imagenet' class list is the one timm ships: pip install timm") from None
    info = ImageNetInfo()
    return [(*_names(info.index_to_description(i)), info.index_to_label_name(i)) for i in range(info.num_classes())]


BUILT_IN = {"digits": digit_classes, "imagenet": imagenet_classes}


def read_class_file(path: Path) -> list[tuple[str, ...]]:
    """One class per line (blank lines skipped); commas separate a class's alternative names, the first
    being its display name."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"expert 'label': cannot read the class list {path} ({exc})") from None
    named = [(number, line, _names(line)) for number, line in enumerate(lines, 1) if line.strip()]
    if nameless := [(number, line) for number, line, names in named if not names]:
        raise InvalidInputError(f"expert 'label': the class list {path}, line {nameless[0][0]}: {nameless[0][1].strip()!r} "
                                "names no class (commas separate a class's names)")
    classes = [names for _, _, names in named]
    if not classes:
        raise InvalidInputError(f"expert 'label': the class list {path} names no class (one class per line)")
    return classes


def _names(line: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in line.split(",") if name.strip())


class LabelExpert(Expert):
    """Class names or indices -> one-hot latents [classes] (class list: digits, imagenet or a file)."""

    name = "label"
    modality = "label"
    latent_shape = (10,)
    default_checkpoint = "digits"
    has_weights = False

    def __init__(self, checkpoint=None, device=None, dtype=None, **options):
        super().__init__(checkpoint, device, dtype, **options)
        if self.checkpoint not in BUILT_IN:
            if not local_paths_allowed():
                raise InvalidInputError(f"expert 'label': checkpoint {self.checkpoint!r} is a class file, and a downloaded "
                                        f"bridge may only name a built-in class list ({', '.join(BUILT_IN)})")
            if not user_path(self.checkpoint).is_file():
                raise InvalidInputError(
                    f"expert 'label': checkpoint {self.checkpoint!r} is neither a built-in class list "
                    f"({', '.join(BUILT_IN)}) nor a text file with one class per line"
                )
            self.checkpoint = str(user_path(self.checkpoint).resolve())  # what a saved bridge records
        self.classes: list[tuple[str, ...]] = []
        self._index: dict[str, int] = {}

    def _load(self, path: None) -> None:
        built_in = BUILT_IN.get(self.checkpoint)
        self.classes = built_in() if built_in else read_class_file(user_path(self.checkpoint))
        self._index = {}
        for index, names in enumerate(self.classes):
            for name in names:
                self._index.setdefault(name.casefold(), index)  # a name two classes share means the first
        self.latent_shape = (len(self.classes),)

    @property
    def class_names(self) -> list[str]:
        """Each class's display name, its first ("seven"; "tench")."""
        self.load()
        return [names[0] for names in self.classes]

    def unique_name(self, index: int) -> int | str:
        """The first of a class's names that means that class alone (a name two classes share means the
        first of them: ImageNet's "crane" is the bird, and the machine goes by its WordNet id), else its index."""
        self.load()
        return next((name for name in self.classes[index] if self._index[name.casefold()] == index), index)

    def fingerprint(self) -> str:
        self.load()
        listed = hashlib.sha256("\n".join(",".join(names) for names in self.classes).encode()).hexdigest()
        return f"{super().fingerprint()}\0{listed}"

    def index_of(self, label: int | str, owner: str = "label") -> int:
        """A class index from an index or any of the class's names; one clear error otherwise, naming the expert
        `owner` that was given the label (biggan reads its class names from this list)."""
        self.load()
        if isinstance(label, int):
            if not 0 <= label < len(self.classes):
                raise InvalidInputError(f"expert {owner!r}: class index {label} is out of range 0..{len(self.classes) - 1}")
            return label
        found = self._index.get(label.strip().casefold())
        if found is None:
            close = difflib.get_close_matches(label.strip().casefold(), self._index, n=5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InvalidInputError(f"expert {owner!r}: unknown class {label!r} in the {self.checkpoint!r} class list{hint}")
        return found

    def _encode(self, batch: torch.Tensor | list[int | str]) -> torch.Tensor:
        if isinstance(batch, torch.Tensor):
            for label in batch.unique().tolist():
                self.index_of(label)  # range check
        indices = batch if isinstance(batch, torch.Tensor) else torch.tensor([self.index_of(label) for label in batch])
        return torch.nn.functional.one_hot(indices.long(), len(self.classes)).float().to(self.device)  # [B, classes]


def digit_indices(names: list[str]) -> list[int] | None:
    """Each of `names` as the `digits` class list numbers it ("seven" and "7" are 7), when it knows every one
    of them and no two name one digit; else None."""
    digits = LabelExpert("digits")
    try:
        indices = [digits.index_of(name) for name in names]
    except InvalidInputError:
        return None
    return indices if len(set(indices)) == len(indices) else None


@hookimpl
def register_experts(register):
    register(LabelExpert)
