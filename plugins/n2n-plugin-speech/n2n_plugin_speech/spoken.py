"""The committed `spoken-digits` clips: one Ogg Vorbis stream and its index, read back as waveforms."""

from __future__ import annotations

import csv
import functools
from importlib.resources import files
from pathlib import Path

import numpy as np
import soundfile
import torch

from n2n.errors import InvalidInputError
from n2n.label import NUMBER_WORDS

SAMPLE_RATE = 16_000
WORDS = NUMBER_WORDS  # "zero" ... "nine": label d is the word for d
CLIPS, INDEX = "clips.ogg", "clips.csv"
PEAK = 0.9  # every clip's largest sample
INDEX_FIELDS = ("offset", "length", "label", "variant", "accent", "rate", "pitch", "split")


def dataset_dir() -> Path:
    """Where the generated dataset ships inside the package."""
    return Path(str(files(__package__) / "data"))


@functools.cache
def clips(folder: Path | None = None) -> tuple[list[np.ndarray], list[dict[str, str]]]:
    """Every clip (float32 [T] at SAMPLE_RATE, trimmed of silence, peak-normalised to PEAK) with its index row."""
    folder = folder or dataset_dir()
    if not (folder / CLIPS).is_file() or not (folder / INDEX).is_file():
        raise InvalidInputError(f"{folder} holds no spoken-digits dataset ({CLIPS} and {INDEX}): "
                                f"run `python -m n2n_plugin_speech.make_dataset --out {folder}` (needs espeak-ng)")
    stream, rate = soundfile.read(folder / CLIPS, dtype="float32")
    if rate != SAMPLE_RATE:
        raise InvalidInputError(f"{folder / CLIPS} is at {rate} Hz, expected {SAMPLE_RATE}")
    with open(folder / INDEX, newline="") as handle:
        rows = list(csv.DictReader(handle))
    audio = [stream[int(r["offset"]) : int(r["offset"]) + int(r["length"])] for r in rows]
    return [PEAK * clip / np.abs(clip).max() for clip in audio], rows  # Vorbis overshoots the peaks it was given


def split_rows(split: str) -> list[int]:
    """Row numbers of the index in `split` ("train" or "test")."""
    return [i for i, row in enumerate(clips()[1]) if row["split"] == split]


def labels(rows: list[int]) -> torch.Tensor:
    index = clips()[1]
    return torch.tensor([int(index[i]["label"]) for i in rows])
