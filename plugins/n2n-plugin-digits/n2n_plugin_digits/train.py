"""Train the digits world's experts from scratch, seeded: `python -m n2n_plugin_digits.train --out DIR`.

Trains the classifier, then the VAE, on the fixed train split; evaluates both on the test split,
including the classifier's accuracy on the VAE's reconstructions (a bridge into `digits` can never be
more recognisable than these), and writes the weights (safetensors) and `training-metrics.json`.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from n2n.cli import count, output_folder, seed
from n2n.hub.weights import save_module
from n2n.io import write_json
from n2n.progress import progress_bar

from .data import digit_split
from .experts import classifier_weights, vae_weights
from .models import DigitsClassifier, DigitsVAE
from .recipes import batches, kl_warmup, sample_with_kl, shift


def train_classifier(images, labels, steps: int, generator: torch.Generator) -> DigitsClassifier:
    model = DigitsClassifier()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    stream = batches(len(labels), 64, generator)
    for _ in (bar := progress_bar(range(steps), desc="classifier", leave=False)):
        index = next(stream)
        loss = F.cross_entropy(model(shift(images[index], generator)), labels[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model.eval()


def train_vae(images, steps: int, beta: float, latent_dim: int, generator: torch.Generator) -> DigitsVAE:
    model = DigitsVAE(latent_dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    stream = batches(len(images), 128, generator)
    for step in (bar := progress_bar(range(steps), desc="vae", leave=False)):
        batch = shift(images[next(stream)], generator)  # [B, 1, 8, 8], randomly translated
        z, kl = sample_with_kl(*model.posterior(batch), generator)
        reconstruction = F.binary_cross_entropy_with_logits(model.decode_logits(z), batch, reduction="sum") / len(batch)
        loss = reconstruction + beta * kl_warmup(step, steps) * kl
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        bar.set_postfix(rec=f"{reconstruction.item():.2f}", kl=f"{kl.item():.2f}")
    return model.eval()


@torch.no_grad()
def evaluate(classifier: DigitsClassifier, vae: DigitsVAE) -> dict[str, float]:
    images, labels = digit_split("test")
    reconstructions = torch.sigmoid(vae.decode_logits(vae.posterior(images)[0]))
    accuracy = lambda x: (classifier(x).argmax(-1) == labels).float().mean().item()  # noqa: E731
    return {
        "classifier_test_accuracy": accuracy(images),
        "classifier_accuracy_on_vae_reconstructions": accuracy(reconstructions),
        "vae_test_reconstruction_mse": F.mse_loss(reconstructions, images).item(),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m n2n_plugin_digits.train", description=__doc__.splitlines()[0])
    output_folder(parser)  # the two checkpoint folders, digits-vae/ and digits-classifier/, go in it
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--classifier-steps", type=count(1), default=3000)
    parser.add_argument("--vae-steps", type=count(1), default=12000)
    parser.add_argument("--beta", type=float, default=0.05, help="KL weight of the VAE (lower: sharper, less regular)")
    parser.add_argument("--latent-dim", type=count(1), default=24)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images, labels = digit_split("train")
    classifier = train_classifier(images, labels, args.classifier_steps, generator)
    vae = train_vae(images, args.vae_steps, args.beta, args.latent_dim, generator)
    metrics = evaluate(classifier, vae)

    vae_dir = args.out / "digits-vae" if args.out else vae_weights()
    classifier_dir = args.out / "digits-classifier" if args.out else classifier_weights()
    save_module(vae, {"latent_dim": vae.latent_dim, "hidden": vae.encoder[0].out_features}, vae_dir)
    save_module(classifier, {"width": classifier.features[0].out_channels}, classifier_dir)
    write_json(vae_dir.parent / "training-metrics.json", {"seed": args.seed, "beta": args.beta, **metrics})
    for key, value in metrics.items():
        print(f"{key:<45} {value:.4f}")
    print(f"weights written to {vae_dir} and {classifier_dir}")
    return metrics


if __name__ == "__main__":
    main()
