"""Datasets: named collections of records, held as columns and split into `train`/`test`.

Column names say what each expert consumes: `text` (list of str), `image` (float tensor [N, C, H, W] in
[0, 1]), `label` (long tensor [N]).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from .errors import InvalidInputError, PluginError
from .specs import DatasetSpec, summary


class Dataset(abc.ABC):
    """A registered dataset: `load(split)` returns its columns."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    version: ClassVar[str] = "1"  # change it whenever the records change (it keys cached features)

    @classmethod
    def spec(cls, plugin: str) -> DatasetSpec:
        return DatasetSpec(
            name=cls.name, plugin=plugin, description=summary(cls), cls=cls, fields=cls.fields, splits=cls.splits
        )

    def load(self, split: str) -> dict[str, Sequence]:
        """Columns of `split`: field name -> sequence, all of one length."""
        if split not in self.splits:
            raise InvalidInputError(f"dataset {self.name!r} has no split {split!r}; its splits: {', '.join(self.splits)}")
        columns = self._load(split)
        lengths = {field: len(columns[field]) for field in self.fields}
        if len(set(lengths.values())) != 1:
            raise PluginError(f"dataset {self.name!r}: columns of different lengths {lengths} (a bug of the code that defines it)")
        return columns

    def probe(self) -> dict[str, Sequence] | None:
        """Inputs held out of every split, with labels, to test generalisation (unseen phrasings); or None."""
        return None

    @abc.abstractmethod
    def _load(self, split: str) -> dict[str, Sequence]:
        """Build the columns of `split` (a valid split name)."""
