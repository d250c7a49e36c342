"""Generate the `spoken-digits` dataset: the ten English digit words spoken by espeak-ng.

    python -m n2n_plugin_speech.make_dataset (--out DIR | --replace-shipped) [--seed 0]

Needs the `espeak-ng` program (Debian: `apt-get install espeak-ng`). Every voice variant espeak-ng ships
(male, female and character variants: `+m3`, `+f2`, `+croak`, ...) speaks each digit in several accents
of English, at a seeded random speaking rate and pitch. Clips are trimmed of silence, resampled to
16 kHz and written as one Ogg Vorbis stream (`clips.ogg`, small enough to commit) with an index
(`clips.csv`: offset, length, label, variant, accent, rate, pitch, split). The split is **by voice
variant**: the test split's variants are never heard in training, in any accent.
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile

from n2n.cli import output_folder, seed
from n2n.io import atomic_path

from .spoken import CLIPS, INDEX, INDEX_FIELDS, PEAK, SAMPLE_RATE, WORDS, dataset_dir

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
ACCENTS_PER_VARIANT = 4  # of ACCENTS, a seeded choice per variant
RATES = (120, 220)  # words per minute (espeak-ng's default is 175)
PITCHES = (20, 80)  # 0-99 (default 50)
TEST_SHARE = 0.2  # of the variants
TRIM_DB = 40  # silence below the peak by this much is trimmed
MAX_SECONDS = 1.0  # longer clips (the slowest voices) are dropped
QUALITY = 0.5  # Vorbis compression level in [0, 1]: 0 best quality
BLOCK = 16_384  # samples per write
GAP = 1600  # samples of silence between clips in the stream (no codec bleed across clips)


def variants() -> list[str]:
    """Every voice variant espeak-ng ships (its `voices/!v` files; one whose name has a space cannot be named)."""
    header, *lines = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout.splitlines()
    start, end = header.index("File"), header.index("Other Languages")
    names = {line[start:end].strip().removeprefix("!v/") for line in lines}
    return sorted(name for name in names if name and " " not in name)


def speak(word: str, voice: str, rate: int, pitch: int, folder: Path) -> np.ndarray:
    """espeak-ng's rendering of `word` as float32 [T] at SAMPLE_RATE, silence trimmed."""
    wav = folder / "clip.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(wav), word], check=True,
                   capture_output=True)
    audio, rate_read = soundfile.read(wav, dtype="float32")
    audio = librosa.resample(audio, orig_sr=rate_read, target_sr=SAMPLE_RATE)
    trimmed, _ = librosa.effects.trim(audio, top_db=TRIM_DB)
    return trimmed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    output_folder(parser, "dataset (clips.ogg, clips.csv)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--variants", type=int, default=None, metavar="N", help="only the first N voice variants (a quick check)")
    args = parser.parse_args(argv)
    out = args.out or dataset_dir()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("make_dataset needs the espeak-ng program: apt-get install espeak-ng")
    rng = random.Random(args.seed)
    names = variants()[: args.variants]
    test = set(rng.sample(names, round(TEST_SHARE * len(names))))
    rows, stream, offset, dropped = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for variant in names:
            for accent in sorted(rng.sample(ACCENTS, ACCENTS_PER_VARIANT)):
                for label, word in enumerate(WORDS):
                    rate, pitch = rng.randint(*RATES), rng.randint(*PITCHES)
                    clip = speak(word, f"{accent}+{variant}", rate, pitch, Path(tmp))
                    if not 0 < len(clip) <= MAX_SECONDS * SAMPLE_RATE or np.abs(clip).max() < 1e-3:
                        dropped += 1
                        continue
                    clip = PEAK * clip / np.abs(clip).max()  # peak-normalised, as every clip the experts see
                    rows.append({"offset": offset, "length": len(clip), "label": label, "variant": variant, "accent": accent,
                                 "rate": rate, "pitch": pitch, "split": "test" if variant in test else "train"})
                    stream += [clip, np.zeros(GAP, np.float32)]
                    offset += len(clip) + GAP
            print(f"{variant:<16} {len(rows):>5} clips")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / CLIPS) as tmp:
        with soundfile.SoundFile(tmp, "w", SAMPLE_RATE, 1, format="OGG", subtype="VORBIS", compression_level=QUALITY) as ogg:
            for block in np.array_split(np.concatenate(stream), 1 + offset // BLOCK):
                ogg.write(block)  # libsndfile's Vorbis writer overflows its stack on one long write
    with atomic_path(out / INDEX) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, INDEX_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    counts = {split: sum(row["split"] == split for row in rows) for split in ("train", "test")}
    print(f"wrote {len(rows)} clips ({counts['train']} train, {counts['test']} test; {len(test)} of {len(names)} variants "
          f"held out; {dropped} dropped as longer than {MAX_SECONDS} s or silent) to {out}")
    print(f"  {CLIPS}: {(out / CLIPS).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
