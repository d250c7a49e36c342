"""Train `digits-gan`, seeded and without labels: `python -m n2n_plugin_digits.train_gan --out DIR`.

An unconditional GAN on the train split's 8×8 digits: non-saturating loss with an R1 penalty on real
images, the same random ±1-pixel shifts on real and generated images before the discriminator (so it
cannot memorise 1,437 digits), and an exponential moving average of the generator's weights, which is
what ships. The discriminator ships beside it (hyper-modulation starts from it).

The quality bar, measured on 2,000 samples with `digits-classifier`: the share of confident samples
(max softmax >= 0.9), the class histogram of those (every class near 10%), and per class the spread
(mean pairwise distance) of the samples relative to real test digits' — a GAN that collapses onto a few
digits, or onto one drawing of each, fails it. Results go to `weights/digits-gan/training-metrics.json`.
"""

from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F
from torch import nn

from n2n.cli import count, output_folder, run_settings, seed
from n2n.hub.weights import load_module, save_module
from n2n.io import write_json
from n2n.progress import progress_bar

from .data import digit_split
from .experts import classifier_weights, gan_weights
from .models import DigitsClassifier, DigitsConditionalGenerator, DigitsDiscriminator, DigitsGenerator
from .recipes import batches, shift

CONFIDENT = 0.9


def train_gan(images: torch.Tensor, steps: int, z_dim: int, width: int, generator: torch.Generator,
              lr: float = 1e-3, r1: float = 0.2, ema: float = 0.999, labels: torch.Tensor | None = None,
              classes: int = 10, embedding_dim: int = 16, shift_pixels: int = 1) -> tuple[nn.Module, DigitsDiscriminator]:
    """The GAN game on `images` [N, 1, 8, 8]; returns (EMA generator, discriminator). With `labels` [N],
    a class-conditional GAN (`DigitsConditionalGenerator`; a discriminator with one head per class).
    `shift_pixels` bounds the random shifts of real and generated images alike (0: none)."""
    conditional = labels is not None
    g = DigitsConditionalGenerator(z_dim, classes, embedding_dim, width) if conditional else DigitsGenerator(z_dim, width)
    d = DigitsDiscriminator(width, heads=classes if conditional else 1)
    g_ema = copy.deepcopy(g).requires_grad_(False)
    g_opt = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.0, 0.99))
    d_opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.0, 0.99))
    schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) for opt in (g_opt, d_opt)]  # sharper at the end
    stream = batches(len(images), min(64, len(images)), generator)

    def judge(x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:  # realness [B], under each row's class head
        return d(x) if rows is None else d(x).gather(1, rows[:, None])[:, 0]

    for _ in (bar := progress_bar(range(steps), desc="gan", leave=False)):
        index = next(stream)
        real = shift(images[index], generator, shift_pixels).requires_grad_(True)  # [64, 1, 8, 8]
        rows = labels[index] if conditional else None  # fakes of the real batch's classes
        z = torch.randn(len(real), z_dim, generator=generator)
        fake = g(z, rows) if conditional else g(z)
        real_logits, fake_logits = judge(real, rows), judge(shift(fake.detach(), generator, shift_pixels), rows)
        (gradient,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean() + 0.5 * r1 * gradient.pow(2).sum((1, 2, 3)).mean()
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()

        g_loss = F.softplus(-judge(shift(fake, generator, shift_pixels), rows)).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        for schedule in schedules:
            schedule.step()
        with torch.no_grad():
            for averaged, current in zip(g_ema.parameters(), g.parameters()):
                averaged.lerp_(current, 1 - ema)
        bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
    return g_ema.eval(), d.eval()


def spread(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance of images [N, 1, 8, 8]."""
    flat = images.flatten(1)
    return (torch.cdist(flat, flat).sum() / (len(flat) * (len(flat) - 1))).item()


@torch.no_grad()
def quality(g: DigitsGenerator, classifier: DigitsClassifier, samples: int = 2000, seed: int = 1) -> dict[str, float]:
    """The quality bar of the module docstring, on `samples` draws of the prior."""
    images = g(torch.randn(samples, g.z_dim, generator=torch.Generator().manual_seed(seed)))
    probabilities = classifier(images).softmax(-1)
    confident = probabilities.max(-1).values >= CONFIDENT
    classes = probabilities.argmax(-1)[confident]
    histogram = torch.bincount(classes, minlength=10).float() / max(1, len(classes))
    real, labels = digit_split("test")
    relative = [spread(images[confident][classes == c]) / spread(real[labels == c]) for c in range(10) if (classes == c).sum() > 1]
    return {
        "confident_share": confident.float().mean().item(),
        "class_share_min": histogram.min().item(),
        "class_share_max": histogram.max().item(),
        "relative_spread_min": min(relative) if len(relative) == 10 else 0.0,
        "relative_spread_mean": sum(relative) / max(1, len(relative)),
    }


def print_metrics(metrics: dict[str, float]) -> None:
    for key, value in metrics.items():
        print(f"{key:<25} {value:.4f}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m n2n_plugin_digits.train_gan", description=__doc__.splitlines()[0])
    output_folder(parser, required=False)  # --evaluate reads the shipped weights unless --out names others
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--steps", type=count(1), default=24000)
    parser.add_argument("--z-dim", type=count(1), default=32)
    parser.add_argument("--width", type=count(1), default=48, help="channels of the first layer (the others double)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--r1", type=float, default=0.2, help="weight of the R1 penalty on real images")
    parser.add_argument("--evaluate", action="store_true",
                        help="measure the quality bar of the weights in --out (default: the shipped ones) and exit: no training, "
                             "so the training flags above are ignored")
    parser.add_argument("--samples", type=count(1), default=2000, help="prior draws the quality bar is measured on (default: 2,000)")
    args = parser.parse_args(argv)
    if args.evaluate and args.replace_shipped:
        parser.error("--evaluate writes nothing: it measures the shipped weights, or those in --out DIR")
    if not (args.evaluate or args.out or args.replace_shipped):
        parser.error("give the folder to write the weights to, --out DIR (or --replace-shipped), or --evaluate to measure weights")
    classifier = load_module(DigitsClassifier, classifier_weights()).eval()
    if args.evaluate:
        metrics = quality(load_module(DigitsGenerator, args.out or gan_weights()).eval(), classifier, args.samples)
        print_metrics(metrics)
        return metrics

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images, _ = digit_split("train")  # the labels are never used
    g, d = train_gan(images, args.steps, args.z_dim, args.width, generator, lr=args.lr, r1=args.r1)
    metrics = quality(g, classifier, args.samples)

    out = args.out or gan_weights()
    save_module(g, {"z_dim": g.z_dim, "width": args.width}, out)
    save_module(d, {"width": args.width}, out / "discriminator")
    write_json(out / "training-metrics.json", {**run_settings(args, "evaluate"), **metrics})
    print_metrics(metrics)
    print(f"weights written to {out} (generator) and {out / 'discriminator'}")
    return metrics


if __name__ == "__main__":
    main()
