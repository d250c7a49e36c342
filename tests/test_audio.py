"""Sound in and out of n2n: WAV round trips, other sample rates, stereo, and one clear error per bad file."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from n2n.audio import load_audio, save_clips, save_wav, spectrogram_images
from n2n.errors import InvalidInputError


def tone(frequency: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * math.pi * frequency * t)).astype(np.float32)


def dominant_frequency(waveform: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(waveform).abs()
    return spectrum.argmax().item() * rate / len(waveform)


def test_wav_round_trip_keeps_the_samples(tmp_path):
    waveform = torch.from_numpy(tone(440, 0.25, 16_000))
    save_wav(waveform, tmp_path / "a.wav", 16_000)
    info = soundfile.info(tmp_path / "a.wav")
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    torch.testing.assert_close(load_audio(tmp_path / "a.wav", 16_000), waveform, atol=1 / 32_768, rtol=0)


def test_another_sample_rate_is_resampled_keeping_pitch_and_duration(tmp_path, caplog):
    soundfile.write(tmp_path / "b.wav", tone(440, 0.5, 22_050), 22_050)
    with caplog.at_level(logging.WARNING, logger="n2n"):
        audio = load_audio(tmp_path / "b.wav", 16_000)
    assert len(audio) == 8_000
    assert abs(dominant_frequency(audio, 16_000) - 440) < 4
    assert "resampled to 16000 Hz" in caplog.text and caplog.records[0].levelname == "WARNING"


def test_stereo_is_mixed_down_with_a_notice(tmp_path, caplog):
    left, right = tone(440, 0.1, 16_000), np.zeros(1600, np.float32)
    soundfile.write(tmp_path / "c.wav", np.stack([left, right], axis=1), 16_000)
    with caplog.at_level(logging.WARNING, logger="n2n"):
        audio = load_audio(tmp_path / "c.wav", 16_000)
    assert audio.shape == (1600,)
    torch.testing.assert_close(audio, torch.from_numpy(left) / 2, atol=1e-4, rtol=0)
    assert "2 channels: mixed down to mono" in caplog.text


@pytest.mark.parametrize("content, message", [(None, "no such audio file"), (b"RIFF not really", "not a readable audio file"),
                                              (b"", "not a readable audio file")])
def test_a_file_that_is_not_sound_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        load_audio(path, 16_000)


@pytest.mark.parametrize("samples, message", [(np.full(100, np.nan, np.float32), "NaN"), (np.full(100, 3.0, np.float32), r"up to 3")])
def test_float_files_with_nan_or_samples_beyond_1_are_one_clear_error(tmp_path, samples, message):
    soundfile.write(tmp_path / "odd.wav", samples, 16_000, subtype="FLOAT")
    with pytest.raises(InvalidInputError, match=f"odd.wav holds .*{message}"):
        load_audio(tmp_path / "odd.wav", 16_000)


def test_silence_draws_black_and_a_short_clip_draws():
    pictures = spectrogram_images(torch.stack([torch.zeros(2000), torch.from_numpy(tone(440, 0.125, 16_000))]))
    assert pictures[0].max() == 0 and pictures[1].max() == 1
    assert spectrogram_images(torch.rand(1, 100) - 0.5).shape[0] == 1  # shorter than the FFT window


@pytest.mark.parametrize("rate, seconds, message", [
    (1, 4000, r"is at 1 Hz: n2n reads sound from 4000 to 384000 Hz"),  # 8 KB that would resample to 64M samples
    (8_000, 61, r"lasts 61 s: n2n reads clips of up to 60 s"),
])
def test_a_sound_file_too_slow_or_too_long_is_refused_before_it_is_read(tmp_path, rate, seconds, message):
    soundfile.write(tmp_path / "long.wav", np.full(rate * seconds, 0.5, np.float32), rate, subtype="PCM_16")
    with pytest.raises(InvalidInputError, match=message):
        load_audio(tmp_path / "long.wav", 16_000)


def test_empty_sound_file_is_one_clear_error(tmp_path):
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16_000)
    with pytest.raises(InvalidInputError, match="holds no audio"):
        load_audio(tmp_path / "empty.wav", 16_000)


@pytest.mark.parametrize("channels, message", [
    (lambda wave: np.zeros_like(wave), "holds nothing to encode: it is silent"),
    (lambda wave: np.stack([wave, -wave], axis=1), "its channels cancel out when mixed to mono \\(out of phase\\): keep one channel"),
])
def test_a_file_with_nothing_to_hear_is_one_clear_error(tmp_path, channels, message):
    soundfile.write(tmp_path / "quiet.wav", channels(tone(440, 0.2, 16_000)), 16_000)
    with pytest.raises(InvalidInputError, match=message):
        load_audio(tmp_path / "quiet.wav", 16_000)


def test_clips_are_written_numbered_with_a_spectrogram_grid(tmp_path):
    waveforms = torch.from_numpy(np.stack([tone(f, 0.2, 16_000) for f in (300, 400, 500, 600, 700, 800)]))  # 2 inputs x 3
    written = save_clips(waveforms, tmp_path / "out.wav", rows=2, sample_rate=16_000)
    assert [p.name for p in written] == [f"out-{i}-{j}.wav" for i in (1, 2) for j in (1, 2, 3)]
    torch.testing.assert_close(load_audio(written[4], 16_000), waveforms[4], atol=1 / 32_768, rtol=0)
    _, _, height, width = spectrogram_images(waveforms).shape
    assert Image.open(tmp_path / "out-spectrograms.png").size == (2 * (3 * (width + 1) + 1), 2 * (2 * (height + 1) + 1))  # 2 rows, scale 2
    single = save_clips(waveforms[:1], tmp_path / "one.wav", rows=1, sample_rate=16_000)
    assert [p.name for p in single] == ["one.wav"]


def test_spectrogram_pictures_put_low_frequencies_at_the_bottom():
    pictures = spectrogram_images(torch.from_numpy(np.stack([tone(200, 0.2, 16_000), tone(6000, 0.2, 16_000)])))
    assert pictures.shape[:2] == (2, 1) and 0 <= pictures.min() and pictures.max() <= 1
    brightest_row = pictures[:, 0].mean(-1).argmax(-1)  # [2]: row 0 is the top (high frequencies)
    assert brightest_row[0] > brightest_row[1]


def test_writing_a_batch_as_one_wav_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="one waveform"):
        save_wav(torch.zeros(2, 100), tmp_path / "x.wav", 16_000)
