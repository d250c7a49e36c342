"""The user's own data, without code: `--dataset PATH` takes a JSONL or CSV file or a folder of images.

Records name what each expert consumes: `text` (a string), `image` (a path relative to the file), `label`
(an int, or a class name). In a folder of images the class is the sub-folder's name. Class names that are
all digits' names ("seven", "7") are numbered as digits, as `digits-classifier` and `label:digits` read
them; any other set of names alphabetically. Every 10th record is held out as the `test` split. A bad
record is one clear error naming the file and line. A file is read once while it is unchanged.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..dataset import Dataset
from ..errors import InvalidInputError, UnknownNameError, first_few
from ..io import user_path
from ..label import NUMBER_WORDS, digit_indices
from ..progress import logger
from ..registry import datasets, load_dataset

FIELDS = ("text", "image", "label")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
TEST_EVERY = 10
INDEX = re.compile(r"-?[0-9]+")  # a label written as a number (ASCII digits: "²" is a name)
LABEL_LIMIT = 2**31


def resolve_dataset(ref: str) -> Dataset:
    """A registered dataset by name, or the user's file or folder at path `ref`."""
    if ref in datasets():
        return load_dataset(ref)
    path = user_path(ref)
    if path.is_dir() or path.is_file():
        return _read(ref, path.resolve(), path.stat().st_mtime_ns)
    if "/" in ref or "\\" in ref or Path(ref).suffix.lower() in (".jsonl", ".csv"):  # meant as a path
        raise InvalidInputError(f"dataset {ref!r}: no such file or folder ({path})")
    raise UnknownNameError("dataset", ref, datasets(), hint="Or pass a path to a JSONL/CSV file or a folder of images.")


@functools.lru_cache(maxsize=8)
def _read(ref: str, path: Path, modified: int) -> FileDataset:
    """The user's file or folder at `path` as a dataset, read once while `modified` (its mtime) stays."""
    if path.is_dir():
        return FileDataset(ref, *_read_folder(path))
    readers = {".jsonl": _read_jsonl, ".csv": _read_csv}
    if path.suffix.lower() not in readers:
        raise InvalidInputError(f"{path}: expected a .jsonl or .csv file (or a folder of images), got {path.suffix!r}")
    return FileDataset(ref, *_normalise(path, readers[path.suffix.lower()](path)))


class FileDataset(Dataset):
    """Records from the user's JSONL/CSV file or image folder; every 10th record is the test split."""

    version = "file"

    def __init__(self, ref: str, fields: tuple[str, ...], columns: dict[str, Sequence]):
        self.name = ref  # as the user gave it (n2n eval finds it again from there); cards show its file name
        self.fields = fields
        self.splits = ("train", "test") if len(columns[fields[0]]) >= TEST_EVERY else ("train",)
        self._columns = columns

    def _load(self, split):
        rows = [i for i in range(len(self._columns[self.fields[0]])) if (i % TEST_EVERY == TEST_EVERY - 1) == (split == "test")]
        return {field: _take(column, rows) for field, column in self._columns.items()}


def _take(column: Sequence, rows: list[int]) -> Sequence:
    return column[torch.tensor(rows, dtype=torch.long)] if isinstance(column, torch.Tensor) else [column[i] for i in rows]


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InvalidInputError(f"{path}:{number}: JSON nested too deeply for a record") from None
        if not isinstance(record, dict):
            raise InvalidInputError(f"{path}:{number}: expected a JSON object with fields {', '.join(FIELDS)}")
        records.append((number, record))
    return records


def _read_csv(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records, rows = [], csv.DictReader(io.StringIO(_text(path), newline=""))
    try:
        for number, row in enumerate(rows, start=2):
            if None in row:  # DictReader files the cells beyond the header under None
                raise InvalidInputError(f"{path}:{number}: more cells than the header's columns ({', '.join(k for k in row if k)})")
            records.append((number, dict(row)))
    except csv.Error as exc:  # e.g. a cell over csv's field size limit (128 KiB)
        raise InvalidInputError(f"{path}:{rows.line_num + 1}: not CSV that n2n reads ({exc})") from None
    return records


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8") from None


def _normalise(path: Path, records: list[tuple[int, dict[str, Any]]]) -> tuple[tuple[str, ...], dict[str, Sequence]]:
    """Check every record and turn them into columns (image paths resolved, labels as class indices)."""
    if not records:
        raise InvalidInputError(f"{path}: no records")
    fields = tuple(field for field in FIELDS if field in records[0][1])
    columns: dict[str, list] = {field: [] for field in fields}
    for number, record in records:
        where = f"{path}:{number}"
        if unknown := sorted(set(record) - set(FIELDS)):
            raise InvalidInputError(f"{where}: unknown field(s) {unknown}; a record has {', '.join(FIELDS)}")
        if missing := [field for field in fields if field not in record]:
            raise InvalidInputError(f"{where}: no {', '.join(missing)}; every record needs the fields of the first, {list(fields)}")
        if extra := sorted(set(record) - set(fields)):
            raise InvalidInputError(f"{where}: {', '.join(extra)}, which the first record has not; every record needs the "
                                    f"same fields, {list(fields)}")
        if "text" in record and not (isinstance(record["text"], str) and record["text"].strip()):
            raise InvalidInputError(f"{where}: 'text' must be a non-empty string")
        if "image" in record:
            image = path.parent / str(record["image"])
            if not image.is_file():
                raise InvalidInputError(f"{where}: image {record['image']!r} not found (paths are relative to {path.parent})")
            record = {**record, "image": image}
        if "label" in record and not isinstance(record["label"], (int, str)) or isinstance(record.get("label"), bool):
            raise InvalidInputError(f"{where}: 'label' must be an int or a class name")
        if "label" in record and isinstance(record["label"], str) and not record["label"].strip():
            raise InvalidInputError(f"{where}: empty 'label' (every record needs its class)")
        for field in fields:
            columns[field].append(record[field])
    if "label" in columns:
        columns["label"] = _label_indices(columns["label"], path)
    return fields, columns


def _label_indices(labels: list, path: Path) -> torch.Tensor:
    """Integer labels as they are (CSV gives digits as text); class names by `_name_indices`."""
    numeric = [isinstance(label, int) or INDEX.fullmatch(str(label).strip()) is not None for label in labels]
    if all(numeric):
        indices = [int(label) for label in labels]
        if (bad := next((index for index in indices if not 0 <= index < LABEL_LIMIT), None)) is not None:
            raise InvalidInputError(f"{path}: label {bad}: a class index is from 0 to {LABEL_LIMIT - 1}")
        return torch.tensor(indices)
    if any(numeric):  # numbering the names would renumber the indices too
        index, name = (next(label for label, n in zip(labels, numeric) if n == wanted) for wanted in (True, False))
        raise InvalidInputError(f"{path}: labels mix class indices ({index}) and class names ({name!r}): use one or the other")
    return _name_indices([str(label) for label in labels], path)


def _name_indices(labels: list[str], path: Path) -> torch.Tensor:
    """Class names as digits when every one is a digit's name (`digit_indices`), else by their sorted order;
    the log says which."""
    names = sorted(set(labels))
    if (digits := digit_indices(names)) is not None:
        numbers, how = dict(zip(names, digits)), "as digits (as digits-classifier and label:digits read them)"
    else:
        numbers, how = {name: index for index, name in enumerate(names)}, (
            "alphabetically (not all digits' names): a classifier that judges them must number its classes so")
        _warn_near_digits(names, path)
    shown = first_few([f"{name}={numbers[name]}" for name in names], 4)
    logger.info("%s: class names numbered %s: %s", path, how, shown)
    return torch.tensor([numbers[label] for label in labels])


def _warn_near_digits(names: list[str], path: Path) -> None:
    """Names that are mostly digits' but for a few (a typo, "onee") are numbered alphabetically, which a digits
    classifier then judges wrong in every class: say which names broke the digits' numbering."""
    strangers = [name for name in names if digit_indices([name]) is None]
    if strangers and len(strangers) <= len(names) / 2:
        close = {name: difflib.get_close_matches(name.strip().casefold(), NUMBER_WORDS, n=1) for name in strangers}
        said = first_few([f"{name!r}" + (f" (did you mean {close[name][0]!r}?)" if close[name] else "") for name in strangers], 4)
        logger.warning("%s: %s %s not a digit's name, so every class is numbered alphabetically, not as digits (a digits "
                       "classifier would judge them all wrong): correct the labels if they are digits", path, said,
                       "is" if len(strangers) == 1 else "are")


def _read_folder(path: Path) -> tuple[tuple[str, ...], dict[str, Sequence]]:
    classes = sorted(p for p in path.iterdir() if p.is_dir())
    if not classes:
        raise InvalidInputError(f"{path}: an image folder needs one sub-folder per class (e.g. {path}/cat/1.png)")
    images, labels = [], []
    for folder in classes:
        for image in sorted(folder.iterdir()):
            if image.suffix.lower() in IMAGE_SUFFIXES:
                images.append(image)
                labels.append(folder.name)
    if not images:
        raise InvalidInputError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders")
    return ("image", "label"), {"image": images, "label": _name_indices(labels, path)}  # folder names are names
