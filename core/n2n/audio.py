"""Sound helpers: audio files <-> float waveforms in [-1, 1], WAV files written atomically, and
spectrogram pictures of waveforms (what `n2n translate` writes beside the sound).

Waveforms are float tensors [T] (one clip) or [B, T] at an expert's `sample_rate`. Files at another
rate are resampled (soxr, the resampler librosa uses); stereo and multichannel files are mixed down
to mono, with a notice.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch

from .errors import InvalidInputError
from .images import save_grid
from .io import atomic_path
from .progress import logger

WAV_SUBTYPE = "PCM_16"  # what every player opens
SPECTROGRAM_FFT, SPECTROGRAM_HOP = 512, 128
SPECTROGRAM_FLOOR_DB = 80  # the picture spans this many dB below each clip's loudest bin
QUIETEST_PEAK_DB = -60  # a clip quieter than this is drawn against it (silence stays black)
MIN_RATE, MAX_RATE = 4_000, 384_000  # Hz of the sound files n2n reads (a 1 Hz file would resample to 16,000x its length)
MAX_SECONDS = 60  # longest sound file n2n reads (spoken words last about a second)
SILENCE = 1e-4  # a file whose mono peak stays below this (-80 dBFS, three 16-bit steps) holds nothing to encode


def load_audio(path: str | os.PathLike, sample_rate: int) -> torch.Tensor:
    """The sound file at `path` as float32 [T] in [-1, 1] at `sample_rate` (mono); one clear error for
    a file that is missing, not sound, or empty."""
    if not os.path.isfile(path):  # False for a name too long to exist
        raise InvalidInputError(f"{path}: no such audio file")
    try:
        info = soundfile.info(path)  # the header: what reading and resampling would cost, before either
        if not MIN_RATE <= info.samplerate <= MAX_RATE:
            raise InvalidInputError(f"{path} is at {info.samplerate} Hz: n2n reads sound from {MIN_RATE} to {MAX_RATE} Hz")
        if info.frames > MAX_SECONDS * info.samplerate:
            raise InvalidInputError(f"{path} lasts {info.frames / info.samplerate:.0f} s: n2n reads clips of up to "
                                    f"{MAX_SECONDS} s (cut it first)")
        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)  # [T, channels]
    except RuntimeError as exc:  # libsndfile's way of refusing a file (soundfile.LibsndfileError)
        raise InvalidInputError(f"{path} is not a readable audio file (WAV, FLAC, Ogg; {exc})") from None
    if not np.isfinite(audio).all():
        raise InvalidInputError(f"{path} holds NaN or infinite samples")
    if np.abs(audio).max(initial=0) > 1 + 1e-3:
        raise InvalidInputError(f"{path} holds samples up to {np.abs(audio).max():.3g}: a float file's samples must lie in [-1, 1]")
    if audio.shape[1] > 1:
        logger.warning("%s has %d channels: mixed down to mono", path, audio.shape[1])
    mono = audio.mean(axis=1)  # [T]
    if len(mono) == 0:
        raise InvalidInputError(f"{path} holds no audio ({len(audio)} samples at {rate} Hz)")
    if np.abs(mono).max() < SILENCE:
        why = ("its channels cancel out when mixed to mono (out of phase): keep one channel"
               if np.abs(audio).max() >= SILENCE else "it is silent")
        raise InvalidInputError(f"{path} holds nothing to encode: {why}")
    if rate != sample_rate:
        logger.warning("%s is at %d Hz: resampled to %d Hz", path, rate, sample_rate)
        mono = soxr.resample(mono, rate, sample_rate).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(mono)).clamp(-1, 1)


def save_wav(waveform: torch.Tensor, path: str | os.PathLike, sample_rate: int) -> Path:
    """Write a waveform [T] in [-1, 1] as a 16-bit mono WAV file, atomically."""
    if waveform.ndim != 1:
        raise InvalidInputError(f"a WAV file holds one waveform [T], got shape {list(waveform.shape)}")
    with atomic_path(path) as tmp:
        soundfile.write(tmp, waveform.detach().float().clamp(-1, 1).cpu().numpy(), sample_rate, subtype=WAV_SUBTYPE,
                        format="WAV")
    return Path(path)


def spectrogram_images(waveforms: torch.Tensor) -> torch.Tensor:
    """Waveforms [B, T] -> log-magnitude spectrograms [B, 1, F, frames] in [0, 1], low frequencies at the
    bottom, each spanning SPECTROGRAM_FLOOR_DB below its loudest bin (silence is black): pictures, not features."""
    window = torch.hann_window(SPECTROGRAM_FFT, device=waveforms.device)
    magnitude = torch.stft(waveforms.float(), SPECTROGRAM_FFT, SPECTROGRAM_HOP, window=window, pad_mode="constant",
                           return_complex=True).abs()
    decibels = 20 * torch.log10(magnitude + 1e-8)  # [B, F, frames]
    peak = decibels.amax((1, 2), keepdim=True).clamp(min=QUIETEST_PEAK_DB)
    pictures = ((decibels - peak) / SPECTROGRAM_FLOOR_DB + 1).clamp(0, 1)
    return pictures.flip(1).unsqueeze(1)  # [B, 1, F, frames]


def save_clips(waveforms: torch.Tensor, path: str | os.PathLike, rows: int, sample_rate: int) -> list[Path]:
    """Waveforms [R*K, T] (row-major: R inputs, K samples each) as WAV files (`clip_paths`) and their
    spectrograms as one PNG grid of R rows (`spectrogram_grid`). Returns the WAV paths."""
    names = clip_paths(path, rows, len(waveforms) // rows)
    for waveform, name in zip(waveforms, names):
        save_wav(waveform, name, sample_rate)
    save_grid(spectrogram_images(waveforms), spectrogram_grid(path), rows=rows, scale=2)
    return names


def clip_paths(path: str | os.PathLike, rows: int, per_row: int) -> list[Path]:
    """Where `save_clips` writes `rows` × `per_row` clips: `path` itself for one, else
    `<stem>-<input>-<sample><suffix>` beside it, numbered from 1."""
    path = Path(path)
    if rows * per_row == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}-{j}{path.suffix}") for i in range(1, rows + 1) for j in range(1, per_row + 1)]


def spectrogram_grid(path: str | os.PathLike) -> Path:
    """Where `save_clips(..., path, ...)` draws the clips: `<stem>-spectrograms.png` beside them."""
    path = Path(path)
    return path.with_name(f"{path.stem}-spectrograms.png")
