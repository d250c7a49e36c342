"""`n2n demo speech`: handwritten digits into spoken ones and back, with no pairs (Latent Translation).

A `latent-vae` bridge joins `digits` (the 8×8 image VAE) and `digits-speech` (a VAE over spoken digits'
spectrograms) through a shared latent space learnt from labels alone: the image side is the encoded
`digits` train split, the sound side the encoded `spoken-digits` training voices. One bridge translates
both ways; it is judged on held-out test digits and voices never heard in training, by
`digits-speech-classifier` (image -> speech) and `digits-classifier` (speech -> image).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

import n2n
from n2n.audio import save_wav, spectrogram_images
from n2n.demo import report
from n2n.images import save_grid
from n2n.training.pipeline import DataSource, publish, train_and_evaluate
from n2n_plugin_digits.data import digit_split

from .spoken import SAMPLE_RATE, WORDS

STEPS = 3000
CONFIG = {"shared_dim": 16, "hidden": 512, "batch_size": 256, "beta_cls": 1.0, "residual_noise": 1.05}  # 1.0: reverse diversity 0.495
SHOWN = 4  # spoken translations per test digit
TILE = 64  # pixels of each picture in samples.png
SUMMARY = ("transfer_accuracy", "relative_diversity", "reverse_transfer_accuracy", "reverse_relative_diversity",
           "cycle_accuracy", "reverse_cycle_accuracy")


def tiles(images: torch.Tensor) -> torch.Tensor:
    """Pictures [N, 1, H, W] in [0, 1] -> [N, 1, TILE, TILE] (nearest for digits, area for spectrograms)."""
    mode = "nearest" if images.shape[-1] < TILE else "area"
    return F.interpolate(images, size=(TILE, TILE), mode=mode)


class SpeechDemo(n2n.Demo):
    """Handwritten digits <-> spoken digits, both ways, from labels alone: Latent Translation across modalities."""

    name = "speech"

    def run(self, out: Path, *, seed: int = 0, progress: bool = True, steps: int = STEPS) -> dict[str, float]:
        images_expert, speech = n2n.load_expert("digits"), n2n.load_expert("digits-speech")
        bridge = n2n.create_bridge("latent-vae", images_expert, speech, seed=seed, **CONFIG)
        data = DataSource()  # each expert's own labelled dataset: digits, and spoken-digits
        domains, metrics, timings = train_and_evaluate(bridge, data, out, steps=steps, seed=seed, progress=progress,
                                                       announce="training a latent-vae bridge digits<->digits-speech")
        images, labels = digit_split("test")
        real = images[[int(torch.nonzero(labels == digit)[0, 0]) for digit in range(10)]]  # [10, 1, 8, 8]: one per digit
        spoken = bridge.translate(real, n_samples=SHOWN, seed=seed)  # [10 * SHOWN, 16128]
        alias = publish(bridge, out, metrics, steps=steps, data=data, built=domains, sample_inputs=real)

        pictures = torch.cat([tiles(real)[:, None], tiles(spectrogram_images(spoken)).view(10, SHOWN, 1, TILE, TILE)], dim=1)
        save_grid(pictures.flatten(0, 1), out / "samples.png", rows=10, scale=2)
        for index, clip in enumerate(spoken):
            save_wav(clip, out / "wav" / f"{WORDS[index // SHOWN]}-{index % SHOWN + 1}.wav", SAMPLE_RATE)
        report(out, metrics, timings, shown=SUMMARY)
        print(f"wrote {out / 'bridge'} (in the local zoo as {alias!r}, and the other way as 'digits-speech->digits:latent-vae')")
        print(f"wrote {out / 'samples.png'} (each row: a test digit, then the spectrograms of {SHOWN} spoken translations)")
        print(f"wrote {out / 'wav'}/ ({len(spoken)} WAV files: zero-1.wav ... nine-{SHOWN}.wav, named by the digit drawn)")
        print(f"wrote {out / 'metrics.json'}")
        print(f"try: n2n translate '{images_expert.name}->{speech.name}' my_digit.png --n 4 --out spoken.wav")
        return {**metrics, **timings}
