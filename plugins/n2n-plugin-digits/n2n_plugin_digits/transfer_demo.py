"""`n2n demo transfer`: Latent Translation between two generative models of digits, with no pairs.

A `latent-vae` bridge joins `digits` (the VAE) and `digits-gan` (a GAN trained without labels) through a
shared latent space learnt from labels alone: the VAE side is the encoded `digits` train split, the GAN
side its prior samples labelled by `digits-classifier`. One bridge translates both ways; it is judged
on held-out test digits and fresh GAN samples.
"""

from __future__ import annotations

from pathlib import Path

import torch

import n2n
from n2n.demo import report
from n2n.images import save_grid
from n2n.training.pipeline import DataSource, publish, train_and_evaluate

from .data import digit_split

STEPS = 3000
CONFIG = {"shared_dim": 16, "hidden": 256, "batch_size": 256, "beta_cls": 1.0, "pullback": True, "beta_isometry": 1.0,
          "correlation": 0.9}  # measured: benchmarks/latent_translation.py
GENERATED = 100_000  # GAN prior samples labelled for its domain, half kept (measured with the first GAN: 40,000 let
# the shared classifier overfit the GAN's codes, 0.997 on them against 0.962 on fresh ones, and capped GAN -> VAE at 0.94)
SHOWN = 4  # translations per row of samples.png


class TransferDemo(n2n.Demo):
    """Digits VAE <-> digits GAN, both ways, from labels alone: Latent Translation's bridging VAE."""

    name = "transfer"

    def run(self, out: Path, *, seed: int = 0, progress: bool = True, steps: int = STEPS) -> dict[str, float]:
        vae, gan = n2n.load_expert("digits"), n2n.load_expert("digits-gan")
        bridge = n2n.create_bridge("latent-vae", vae, gan, seed=seed, **CONFIG)
        data = DataSource(generated=GENERATED)  # each expert's own domain: the digits dataset, and labelled GAN samples
        domains, metrics, timings = train_and_evaluate(bridge, data, out, steps=steps, seed=seed, progress=progress,
                                                       announce="training a latent-vae bridge digits<->digits-gan")
        images, labels = digit_split("test")
        real = images[[int(torch.nonzero(labels == digit)[0, 0]) for digit in range(10)]]  # [10, 1, 8, 8]
        real_latents = vae.encode(real)  # [10, 24]
        gan_latents = bridge.sample(real_latents, SHOWN, seed)  # [10 * SHOWN, 32]
        into_gan = bridge.decode(gan_latents, real_latents)  # [10 * SHOWN, 1, 8, 8]
        backwards = bridge.reversed()  # the GAN only decodes: translate back from its latents
        back = backwards.decode(backwards.sample(gan_latents, 1, seed), gan_latents)
        rows = torch.cat([real[:, None], into_gan.view(10, SHOWN, 1, 8, 8), back.view(10, SHOWN, 1, 8, 8)], dim=1)
        alias = publish(bridge, out, metrics, steps=steps, data=data, built=domains, sample_inputs=real)
        save_grid(rows.flatten(0, 1), out / "samples.png", rows=10, scale=8)
        report(out, metrics, timings)
        print(f"wrote {out / 'bridge'} (in the local zoo as {alias!r}, and the other way as 'digits-gan->digits:latent-vae')")
        print(f"wrote {out / 'samples.png'} (each row: a test digit, {SHOWN} translations into the GAN, each translated back)")
        print(f"wrote {out / 'metrics.json'}")
        return {**metrics, **timings}
