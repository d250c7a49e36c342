"""The spoken-digits world: the dataset (no espeak-ng needed), both experts through the conformance
suite and their measured quality, audio inputs, and `n2n translate` into and out of sound."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
import soxr
import torch
from PIL import Image

import n2n
from n2n.cli import main
from n2n.errors import InvalidInputError
from n2n.testing import DefaultCheckpointTests, check_script_needs_an_output_folder
from n2n_plugin_speech import make_dataset, train
from n2n_plugin_speech.demo import SpeechDemo
from n2n_plugin_speech.spectrogram import CLIP, LogMel, centred, to_waveforms
from n2n_plugin_speech.spoken import INDEX, SAMPLE_RATE, clips


@pytest.fixture(scope="module")
def test_split():
    return n2n.load_dataset("spoken-digits").load("test")


class TestSpeechVAE(DefaultCheckpointTests):
    expert_name = "digits-speech"

    @pytest.fixture
    def inputs(self, test_split):
        return test_split["audio"][:3]  # three clips of different lengths

    def test_decodes_at_its_sample_rate_the_same_in_any_batch(self, expert):
        latents = torch.randn(3, *expert.latent_shape, generator=torch.Generator().manual_seed(0))
        together, alone = expert.decode(latents), expert.decode(latents[2:])
        assert expert.sample_rate == SAMPLE_RATE and together.shape == (3, CLIP)
        torch.testing.assert_close(together[2:], alone, atol=1e-3, rtol=0)  # float rounding, 60 dB below the peak

    def test_distances_are_measured_on_spectrograms(self, expert, inputs):
        """Sound compared by its spectrogram: a clip moved in time, or with its sign flipped, is the same sound."""
        clip = inputs[0]
        moved = torch.cat([torch.zeros(2000), -clip])
        viewed = expert.distance_view(torch.nn.utils.rnn.pad_sequence([clip, moved, inputs[1]], batch_first=True))
        assert viewed.shape == (3, 1, 64, 64)
        torch.testing.assert_close(viewed[0], viewed[1], atol=1e-3, rtol=0)
        assert (viewed[0] - viewed[2]).abs().mean() > 0.5

    def test_a_clip_encodes_alike_alone_or_padded_in_a_batch(self, expert, test_split):
        clips = test_split["audio"][:8]
        torch.testing.assert_close(expert.encode(clips), torch.cat([expert.encode([c]) for c in clips]), atol=1e-4, rtol=1e-4)

    def test_silence_and_long_clips_are_fine(self, expert, test_split):
        long = torch.cat([torch.zeros(8000), test_split["audio"][0], torch.zeros(30_000)])  # 2.5 s, voiced part short
        latents = expert.encode([torch.zeros(4000), long, test_split["audio"][0]])
        assert torch.isfinite(latents).all()
        torch.testing.assert_close(latents[1], latents[2], atol=1e-4, rtol=1e-4)  # the silence around it is trimmed
        assert centred(torch.rand(1, 3 * CLIP) * 0.5).shape == (1, CLIP)  # sound longer than a clip: its middle


class TestSpeechClassifier(DefaultCheckpointTests):
    expert_name = "digits-speech-classifier"

    @pytest.fixture
    def inputs(self, test_split):
        return torch.nn.utils.rnn.pad_sequence(test_split["audio"][:4], batch_first=True)  # [4, T]


def test_dataset_loads_without_espeak(monkeypatch, test_split):
    def no_programs(*args, **kwargs):
        raise FileNotFoundError("no espeak-ng here")

    monkeypatch.setattr(subprocess, "run", no_programs)
    monkeypatch.setenv("PATH", "/nonexistent")
    clips.cache_clear()  # read the committed files again, with no program to run
    train_split = n2n.load_dataset("spoken-digits").load("train")
    assert len(train_split["audio"]) + len(test_split["audio"]) == len(clips()[1])
    assert set(train_split["variant"]).isdisjoint(test_split["variant"])  # held-out voices
    counts = torch.bincount(train_split["label"], minlength=10)
    assert counts.min() >= 300 and all(clip.dtype == torch.float32 and clip.abs().max() <= 1 for clip in test_split["audio"])
    assert {"accent", "rate", "pitch"} <= set(test_split)


def test_classifier_hears_unheard_voices(test_split):
    """The target this plugin ships: >= 97% on the voices never heard in training."""
    classifier = n2n.load_expert("digits-speech-classifier")
    predicted = torch.cat([classifier.classify(test_split["audio"][i : i + 256]).argmax(-1)
                           for i in range(0, len(test_split["label"]), 256)])
    assert (predicted == test_split["label"]).float().mean() >= 0.97


@pytest.mark.slow
def test_vae_reconstructions_stay_recognisable(test_split):
    """Encode -> decode -> sound -> classify: >= 90% (a bridge into the VAE can't beat its decoder)."""
    vae, classifier = n2n.load_expert("digits-speech"), n2n.load_expert("digits-speech-classifier")
    rows = slice(0, None, 2)
    audio, labels = test_split["audio"][rows], test_split["label"][rows]
    predicted = torch.cat([classifier.classify(vae.decode(vae.encode(audio[i : i + 128]))).argmax(-1)
                           for i in range(0, len(labels), 128)])
    assert (predicted == labels).float().mean() >= 0.90


def test_a_wav_file_at_another_rate_in_stereo_encodes_like_the_clip(test_split, tmp_path):
    vae = n2n.load_expert("digits-speech")
    clip = test_split["audio"][0].numpy()
    soundfile.write(tmp_path / "clip.wav", clip, SAMPLE_RATE)
    resampled = soxr.resample(clip, SAMPLE_RATE, 22_050)
    soundfile.write(tmp_path / "stereo.wav", np.stack([resampled, resampled], axis=1), 22_050)
    original, from_file, converted = vae.encode([test_split["audio"][0], tmp_path / "clip.wav", str(tmp_path / "stereo.wav")])
    assert torch.nn.functional.cosine_similarity(original, from_file, dim=0) > 0.99
    assert torch.nn.functional.cosine_similarity(original, converted, dim=0) > 0.9


@pytest.mark.parametrize("inputs, message", [
    (torch.zeros(2, 100, dtype=torch.int16), "floating point"),
    (torch.full((2, 100), 3.0), r"expected \[-1, 1\]"),
    (torch.zeros(100), r"add a batch dimension"),
    (torch.full((1, 100), float("nan")), "NaN"),
    ([torch.zeros(0)], "non-empty"),
    (["no-such-file.wav"], "no such audio file"),
    (42, "encodes audio"),
])
def test_bad_audio_inputs_are_one_clear_error(inputs, message):
    with pytest.raises(InvalidInputError, match=message):
        n2n.load_expert("digits-speech").encode(inputs)


def test_griffin_lim_inverts_a_clip_the_classifier_still_recognises(test_split):
    classifier = n2n.load_expert("digits-speech-classifier").load()
    audio, labels = test_split["audio"][:64], test_split["label"][:64]
    spectrograms = LogMel()(centred(torch.nn.utils.rnn.pad_sequence(audio, batch_first=True)))
    rebuilt = to_waveforms(spectrograms)  # [64, CLIP]
    assert rebuilt.shape == (64, CLIP) and rebuilt.abs().max() <= 0.9 + 1e-6
    assert (classifier.classify(rebuilt).argmax(-1) == labels).float().mean() >= 0.9


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="regenerating the dataset needs espeak-ng (apt-get install espeak-ng)")
def test_make_dataset_writes_clips_the_dataset_reads(tmp_path):
    make_dataset.main(["--out", str(tmp_path), "--variants", "3"])
    audio, index = clips(tmp_path)
    with open(tmp_path / INDEX, newline="") as handle:
        assert list(csv.DictReader(handle)) == index
    assert len(audio) == len(index) >= 100 and {row["split"] for row in index} == {"train", "test"}
    assert all(0 < len(clip) <= SAMPLE_RATE and np.abs(clip).max() <= 1 for clip in audio)


@pytest.mark.parametrize("script", [train, make_dataset])
def test_the_scripts_need_to_be_told_where_to_write(script, capsys):
    check_script_needs_an_output_folder(script.main, capsys)


@pytest.mark.slow
def test_training_script_runs_and_writes_loadable_weights(tmp_path):
    metrics = train.main(["--out", str(tmp_path), "--classifier-steps", "2", "--vae-steps", "2"])
    assert set(metrics) >= {"classifier_test_accuracy", "classifier_accuracy_on_vae_reconstructions"}
    expert = n2n.load_expert("digits-speech", checkpoint=tmp_path / "digits-speech")
    assert expert.decode(torch.zeros(1, *expert.load().latent_shape)).shape == (1, CLIP)


@pytest.mark.slow
def test_the_demo_and_translate_go_from_a_drawn_digit_to_a_wav_and_back(tmp_path, capsys):
    """The plumbing of `n2n demo speech` and `n2n translate` into and out of sound (the demo's quality is
    measured by benchmarks/speech_translation.py)."""
    metrics = SpeechDemo().run(tmp_path, steps=20, progress=False)
    assert {"transfer_accuracy", "reverse_transfer_accuracy", "relative_diversity", "reverse_relative_diversity"} <= set(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text())["transfer_accuracy"] == metrics["transfer_accuracy"]
    assert sorted(p.name for p in (tmp_path / "wav").iterdir())[:2] == ["eight-1.wav", "eight-2.wav"]
    assert len(list((tmp_path / "wav").iterdir())) == 40 and (tmp_path / "samples.png").is_file()
    assert (tmp_path / "bridge" / "samples.png").is_file()  # the model card shows spectrograms

    image = tmp_path / "seven.png"
    Image.fromarray((n2n.load_dataset("digits").load("test")["image"][7, 0].numpy() * 255).astype(np.uint8)).save(image)
    assert main(["translate", "digits->digits-speech", str(image), "--n", "2", "--out", str(tmp_path / "spoken.wav")]) == 0
    written = sorted(p.name for p in tmp_path.glob("spoken*"))
    assert written == ["spoken-1-1.wav", "spoken-1-2.wav", "spoken-spectrograms.png"]
    info = soundfile.info(tmp_path / "spoken-1-1.wav")
    assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, CLIP)
    assert main(["translate", "digits->digits-speech", str(image), "--out", str(tmp_path / "spoken.png")]) == 2
    assert "must end in .wav" in capsys.readouterr().err
    (tmp_path / "said-1-2.wav").mkdir()  # one of the numbered clips: refused before anything is written
    assert main(["translate", "digits->digits-speech", str(image), "--n", "2", "--out", str(tmp_path / "said.wav")]) == 2
    assert "said-1-2.wav is a folder where a translation would be written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.glob("said*")) == ["said-1-2.wav"]
    assert main(["translate", "digits->digits-speech", str(image), "--out", str(image / "sub" / "x.wav")]) == 2
    assert "seven.png is a file, not a folder to write into" in capsys.readouterr().err

    assert main(["translate", "digits-speech->digits", str(tmp_path / "spoken-1-1.wav"), "--n", "3",
                 "--out", str(tmp_path / "back.png")]) == 0
    assert Image.open(tmp_path / "back.png").size[0] > Image.open(tmp_path / "back.png").size[1]  # one row of 3
    assert main(["translate", "digits-speech->digits", str(tmp_path / "nothing.wav")]) == 1
    assert "no such file: " in (err := capsys.readouterr().err) and "nothing.wav" in err
    assert main(["translate", "digits-speech->digits", str(tmp_path / "back.png"), "--out", str(tmp_path / "back.png")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
