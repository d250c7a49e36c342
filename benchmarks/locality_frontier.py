"""Benchmark: how much locality an ideal bridge keeps at each relative diversity (independent draws).

Issue 9 asks one latent-vae setting for relative diversity >= 0.8 and locality >= 0.3, where locality
compares one independent translation per item. This measures what a perfect bridge reaches: digits
translated into digits (the same VAE, so nothing of the source's geometry is lost on the way), with
the diversity drawn in one of three ways, and judged by the functions `n2n.training.transfer` uses
(`relative_diversity`, `locality`) on the 360 held-out test digits, 8 samples each:

- `correlation ρ`: latent-vae's sampling family in the VAE's own latent space. A translation keeps ρ of
  its source's offset from its class's mean and draws the rest from the class's Gaussian (mean and full
  covariance of the training digits' latents): mean + ρ (z - mean) + sqrt(1 - ρ²) L ε;
- `principal k at ρ₁, rest ρ₂`: the same with correlation ρ₁ along the class's k widest principal
  directions and ρ₂ along the others;
- `nearest k`: a random one of the k training digits of the class nearest the source (pixels).

Every row is the mean (± standard deviation) over `--seeds` draws. A bridge between two different experts
loses part of the source's geometry on the way (latent-vae's shared codes keep 0.93 of it on the VAE's
side and 0.71 on the GAN's, `benchmarks/latent_translation.py`), so it sits below this frontier.

    python benchmarks/locality_frontier.py [--seeds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import torch

SAMPLES = 8  # translations per test digit, as `n2n.training.transfer` draws
CORRELATIONS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.0)
PRINCIPAL = ((1, 1.0, 0.0), (1, 1.0, 0.2), (1, 0.9, 0.0), (1, 0.9, 0.2), (2, 1.0, 0.0), (2, 0.8, 0.0))
# (widest directions, their correlation, the other directions' correlation)
NEAREST = (4, 16, 32, 48, 64, 96)


def class_gaussians(latents: torch.Tensor, labels: torch.Tensor) -> dict[int, tuple[torch.Tensor, ...]]:
    """Per class: mean [D], principal variances [D] (ascending) and principal directions [D, D] of latents [N, D]."""
    gaussians = {}
    for label in labels.unique().tolist():
        rows = latents[labels == label]
        variances, directions = torch.linalg.eigh(torch.cov(rows.T))
        gaussians[label] = (rows.mean(0), variances.clamp(min=0), directions)
    return gaussians


def correlated_draws(latents: torch.Tensor, labels: torch.Tensor, gaussians: dict, correlation: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """latents [B, D] -> [B, SAMPLES, D]: per principal direction j of the class, keep correlation[j] of
    the source's coordinate and draw the rest (so that each coordinate keeps the class's variance)."""
    draws = torch.empty(len(latents), SAMPLES, latents.shape[1])
    for label, (mean, variances, directions) in gaussians.items():
        rows = labels == label
        coordinates = (latents[rows] - mean) @ directions  # [b, D] along the principal directions
        noise = torch.randn(int(rows.sum()), SAMPLES, latents.shape[1], generator=generator) * variances.sqrt()
        draws[rows] = mean + (correlation * coordinates[:, None] + (1 - correlation**2).sqrt() * noise) @ directions.T
    return draws


def nearest_draws(seen: torch.Tensor, labels: torch.Tensor, pool_seen: torch.Tensor, pool_latents: torch.Tensor,
                  pool_labels: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """[B, SAMPLES, D]: each sample one of the k pool items of the source's class nearest it in `seen` space."""
    draws = torch.empty(len(seen), SAMPLES, pool_latents.shape[1])
    for label in labels.unique():
        rows, pool = torch.nonzero(labels == label)[:, 0], torch.nonzero(pool_labels == label)[:, 0]
        near = torch.cdist(seen[rows], pool_seen[pool]).topk(min(k, len(pool)), largest=False).indices  # [b, k]
        picked = near.gather(1, torch.randint(near.shape[1], (len(rows), SAMPLES), generator=generator))
        draws[rows] = pool_latents[pool][picked]
    return draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="independent draws each row is averaged over")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.data.build import domain
        from n2n.training.metrics import class_rows, decoded, relative_diversity, spread_by_class
        from n2n.training.transfer import locality

        vae = n2n.load_expert("digits")
        test, train = (domain(vae, None, split, progress=False) for split in ("test", "train"))
        latents, labels = test.latents.load_all().flatten(1), test.labels
        pool_latents, pool_labels = train.latents.load_all().flatten(1), train.labels

        def view(z: torch.Tensor) -> torch.Tensor:  # latents [N, D] -> what distances are measured on [N, P]
            return vae.distance_view(decoded(vae, z)).flatten(1).float()

        seen, pool_seen = view(latents), view(pool_latents)
        reference = class_rows(labels)
        spreads = spread_by_class(seen[reference], labels[reference])  # the diversity reference, as in transfer
        gaussians = class_gaussians(pool_latents, pool_labels)
        dims = latents.shape[1]

        def scores(draws: torch.Tensor) -> tuple[float, float]:  # [B, SAMPLES, D] -> (diversity, locality)
            outputs = view(draws.flatten(0, 1))  # [B * SAMPLES, P], input-major
            first = outputs.view(len(labels), SAMPLES, -1)[:, 0]  # one independent draw per item
            return relative_diversity(outputs, labels, spreads), locality(seen, first, labels)

        def principal(kept: int, widest: float, rest: float) -> torch.Tensor:  # per direction, ascending variance
            return torch.cat([torch.full((dims - kept,), rest), torch.full((kept,), widest)])

        families = {f"correlation {rho:g}": (lambda g, rho=rho: correlated_draws(
                        latents, labels, gaussians, torch.full((dims,), rho), g)) for rho in CORRELATIONS}
        families |= {f"principal {kept} at {widest:g}, rest {rest:g}": (lambda g, c=principal(kept, widest, rest): correlated_draws(
                         latents, labels, gaussians, c, g)) for kept, widest, rest in PRINCIPAL}
        families |= {f"nearest {k}": (lambda g, k=k: nearest_draws(
                         seen, labels, pool_seen, pool_latents, pool_labels, k, g)) for k in NEAREST}
        rows = {}
        for name, draw in families.items():
            runs = [scores(draw(torch.Generator().manual_seed(seed))) for seed in range(args.seeds)]
            diversity, local = zip(*runs)
            rows[name] = {"relative_diversity": statistics.mean(diversity), "locality": statistics.mean(local),
                          "relative_diversity_std": statistics.pstdev(diversity), "locality_std": statistics.pstdev(local)}

    print(f"{'ideal digits -> digits bridge':<32}{'relative diversity':>22}{'locality (independent)':>26}")
    for name, row in rows.items():
        print(f"{name:<32}{row['relative_diversity']:>15.3f} ± {row['relative_diversity_std']:.3f}"
              f"{row['locality']:>19.3f} ± {row['locality_std']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "seeds": args.seeds, "samples": SAMPLES}, indent=2))


if __name__ == "__main__":
    main()
