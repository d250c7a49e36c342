"""Train `digits-cgan`, seeded: `python -m n2n_plugin_digits.train_cgan --out DIR [--variant repurpose|starved]`.

A class-conditional GAN on the train split's 8×8 digits whose latent is [z ‖ class embedding], as BigGAN's
(`train_gan` with labels: an embedding table, a discriminator with one realness head per class). Two
checkpoints, the two situations class-embedding optimisation is for:

- `repurpose` (expert `digits-cgan`, checkpoint `n2n/digits-cgan`; the default): trained on digits 0-7
  only, so that 8 and 9 are classes it never saw — as an ImageNet BigGAN has never seen Places365's scenes;
- `starved` (expert `digits-cgan-starved`, checkpoint `n2n/digits-cgan-starved`): trained on all ten digits
  but with only `--starved-images` (1) of `--starved-class` (5), so that its 5s collapse onto that drawing.
  It trains without the random shifts (`--shift-pixels 0`): with them, its 5s were that drawing shifted
  by a pixel, whose spread (0.75 of real 5s', as measured below) hid the collapse.

Per class, 1,000 samples are judged by `digits-classifier`: their accuracy and their spread (mean pairwise
distance of 64 samples) relative to the class's real test digits. Results go to the checkpoint's
`training-metrics.json`.
"""

from __future__ import annotations

import argparse

import torch

from n2n.cli import count, output_folder, run_settings, seed
from n2n.hub.weights import load_module, save_module
from n2n.io import write_json

from .data import digit_split
from .experts import cgan_weights, classifier_weights
from .models import DigitsClassifier, DigitsConditionalGenerator
from .train_gan import spread, train_gan

VARIANTS = ("repurpose", "starved")
PER_CLASS = 1000


def training_set(variant: str, starved_class: int, starved_images: int, generator: torch.Generator):
    """(images, labels, classes) of the train split for `variant`: digits 0-7 (8 classes), or all ten
    with only `starved_images` images (a seeded choice) of `starved_class`."""
    images, labels = digit_split("train")
    if variant == "repurpose":
        kept = labels < 8
        return images[kept], labels[kept], 8
    rows = torch.nonzero(labels == starved_class)[:, 0]
    dropped = rows[torch.randperm(len(rows), generator=generator)[starved_images:]]
    kept = torch.ones(len(labels), dtype=torch.bool)
    kept[dropped] = False
    return images[kept], labels[kept], 10


@torch.no_grad()
def class_quality(g: DigitsConditionalGenerator, classifier: DigitsClassifier, seed: int = 1) -> dict[str, float]:
    """Each class's sample accuracy and relative spread (`class_C_accuracy`, `class_C_relative_spread`)."""
    real, real_labels = digit_split("test")
    sampler = torch.Generator().manual_seed(seed)
    metrics = {}
    for c in range(g.classes):
        images = g(torch.randn(PER_CLASS, g.z_dim, generator=sampler), torch.full((PER_CLASS,), c))
        metrics[f"class_{c}_accuracy"] = (classifier(images).argmax(-1) == c).float().mean().item()
        metrics[f"class_{c}_relative_spread"] = spread(images[:64]) / spread(real[real_labels == c][:64])
    return metrics


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m n2n_plugin_digits.train_cgan", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, default="repurpose", help="digits 0-7 only, or all ten with one class starved")
    output_folder(parser)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--steps", type=count(1), default=6000)
    parser.add_argument("--z-dim", type=count(1), default=32)
    parser.add_argument("--embedding-dim", type=count(1), default=16)
    parser.add_argument("--width", type=count(1), default=48, help="channels of the first layer (the others double)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--r1", type=float, default=0.2, help="weight of the R1 penalty on real images")
    parser.add_argument("--starved-class", type=int, default=5, help="starved: the class left with few images")
    parser.add_argument("--starved-images", type=count(1), default=1, help="starved: how many of its images are kept")
    parser.add_argument("--shift-pixels", type=count(0), default=None,
                        help="random shifts of real and generated images, up to this many pixels (default: 1; starved: 0)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    if args.shift_pixels is None:
        args.shift_pixels = 0 if args.variant == "starved" else 1
    images, labels, classes = training_set(args.variant, args.starved_class, args.starved_images, generator)
    g, _ = train_gan(images, args.steps, args.z_dim, args.width, generator, lr=args.lr, r1=args.r1, labels=labels,
                     classes=classes, embedding_dim=args.embedding_dim, shift_pixels=args.shift_pixels)
    metrics = class_quality(g, load_module(DigitsClassifier, classifier_weights()).eval())

    out = args.out or cgan_weights(args.variant)
    save_module(g, {"z_dim": g.z_dim, "classes": classes, "embedding_dim": g.embedding_dim, "width": args.width}, out)
    write_json(out / "training-metrics.json", {**run_settings(args), **metrics})
    for c in range(classes):
        print(f"class {c}: accuracy {metrics[f'class_{c}_accuracy']:.3f}  relative spread {metrics[f'class_{c}_relative_spread']:.3f}")
    print(f"weights written to {out}")
    return metrics


if __name__ == "__main__":
    main()
