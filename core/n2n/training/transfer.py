"""How well a bridge trained without pairs transfers (Latent Translation's evaluation), on held-out items
of each domain, in both directions when the bridge runs both ways:

- `transfer_accuracy`: the target's classifier gives a translation the true label of its source item;
- `transfer_accuracy_all_draws`: the same over every held-out draw of a generator, where the items above
  are the draws its labeller is surest of (their "true" labels are its own);
- `transfer_agreement`: ... the class the source domain's classifier gives the source item (the reference's
  metric; only with that classifier);
- `class_consistency`: of the n translations of one input, the share in its most common class;
- `relative_diversity`: as for paired bridges (spread of an input's translations over the spread of
  target items of its class: all of them, also a generator's draws its labeller is less sure of), distances
  measured in each expert's `distance_view` (audio: spectrograms);
- `locality`: within a class, the Spearman rank correlation between the pairwise distances of source
  items and those of their translations, one independent draw each (a bridge that keeps only the class
  scores about 0);
- `locality_fixed_seed`: the same with every input translated alone with one seed, so that all share the
  same noise (what a user translating items one at a time with `--seed` sees): the source's geometry the
  bridge keeps apart from its own sampling noise. Equal to `locality` for a deterministic bridge;
- `cycle_accuracy`: source -> target -> source keeps the label (reversible bridges).
Source items are seen as their expert renders them (a VAE's reconstructions: the latents the bridge reads).
Keys of the reverse direction are prefixed `reverse_`.
"""

from __future__ import annotations

import torch

from ..bridge import Bridge
from ..data.build import Domain
from ..expert import Expert
from .metrics import (
    class_rows,
    decoded,
    predictions,
    relative_diversity,
    spread_by_class,
    translate_each_alone,
    translate_latents,
)

EVALUATED = 1000  # held-out items per direction at most (a seeded subset)
REFERENCE = 2000  # target items whose spread per class is the diversity reference


def ranks(x: torch.Tensor) -> torch.Tensor:
    """The rank of each entry of a vector [N] (from 1), tied entries sharing their average rank."""
    _, position, counts = torch.unique(x, return_inverse=True, return_counts=True)  # sorted distinct values
    last = counts.cumsum(0).float()  # [distinct]: the rank of each value's last occurrence
    return (last - (counts - 1) / 2)[position]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two vectors [N]; 0 when either is constant (every distance tied: a
    bridge that gives all items of a class one translation)."""
    first, second = (r - r.mean() for r in (ranks(a), ranks(b)))
    return ((first * second).sum() / (first.norm() * second.norm()).clamp(min=1e-12)).item()


def locality(sources: torch.Tensor, translations: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the rank correlation between pairwise distances of source items and of their
    translations (both [B, ...], row-aligned)."""
    scores = []
    for label in labels.unique():
        rows = torch.nonzero(labels == label)[:, 0]
        if len(rows) < 3:
            continue
        upper = torch.triu_indices(len(rows), len(rows), offset=1)
        distances = [torch.cdist(x[rows].flatten(1).float(), x[rows].flatten(1).float())[upper[0], upper[1]]
                     for x in (sources, translations)]
        scores.append(rank_correlation(*distances))
    return sum(scores) / len(scores) if scores else float("nan")


def evaluated(domain: Domain, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A domain's held-out latents and labels, at most EVALUATED of them (a seeded subset)."""
    latents, labels = domain.latents.load_all(), domain.labels
    if len(labels) > EVALUATED:
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:EVALUATED].sort().values
        latents, labels = latents[keep], labels[keep]
    return latents, labels


def judged(bridge: Bridge, latents: torch.Tensor, classifier: Expert, n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n translations of each latent [B * n, ...] and the class `classifier` gives each [B, n]."""
    outputs = translate_latents(bridge, latents, n_samples, seed).cpu()  # [B * n, ...]
    return outputs, predictions(classifier, outputs).view(len(latents), n_samples)


@torch.no_grad()
def direction_report(bridge: Bridge, source: Domain, target: Domain, classifier: Expert,
                     source_classifier: Expert | None = None, n_samples: int = 8, seed: int = 0,
                     reference: Domain | None = None, every_source: Domain | None = None) -> dict[str, float]:
    """Every transfer metric of the module docstring for one direction, on the domains' held-out items;
    `classifier` judges the target's outputs, `source_classifier` the source's (for agreement and the cycle);
    `reference`: the target items whose spread per class diversity is relative to (default: `target`);
    `every_source`: all held-out source items, when `source` keeps only some (a generator's surest draws)."""
    latents, labels = evaluated(source, seed)
    outputs, predicted = judged(bridge, latents, classifier, n_samples, seed)  # [B * n, ...], [B, n]
    report = {
        "transfer_accuracy": (predicted == labels[:, None]).float().mean().item(),
        "class_consistency": (predicted == predicted.mode(-1).values[:, None]).float().mean().item(),
    }
    if every_source is not None and len(every_source.labels) > len(source.labels):
        every_latents, every_labels = evaluated(every_source, seed)
        every_predicted = judged(bridge, every_latents, classifier, n_samples, seed)[1]
        report["transfer_accuracy_all_draws"] = (every_predicted == every_labels[:, None]).float().mean().item()
    first = outputs.view(len(labels), n_samples, *outputs.shape[1:])[:, 0]  # one translation per input
    if bridge.source.can_decode():
        originals = decoded(bridge.source, latents)
        if source_classifier is not None:  # what the source item is, by its own domain's classifier
            report["transfer_agreement"] = (predicted == predictions(source_classifier, originals)[:, None]).float().mean().item()
        seen = bridge.source.distance_view(originals)
        report["locality"] = locality(seen, bridge.target.distance_view(first), labels)
        fixed = translate_each_alone(bridge, latents, seed).cpu()  # [B, ...]: the same noise for every input
        report["locality_fixed_seed"] = locality(seen, bridge.target.distance_view(fixed), labels)
    spreads = None
    if bridge.target.can_decode():  # real target items as the target renders them (VAE: reconstructions)
        pool = reference or target
        rows = class_rows(pool.labels[:REFERENCE])
        rendered = decoded(bridge.target, pool.latents.load_all()[:REFERENCE][rows])
        spreads = spread_by_class(bridge.target.distance_view(rendered), pool.labels[:REFERENCE][rows])
    if spreads and n_samples > 1 and (
            diversity := relative_diversity(bridge.target.distance_view(outputs), labels, spreads)) is not None:
        report["relative_diversity"] = diversity
    if bridge.strategy.reversible and source_classifier is not None and bridge.source.can_decode():
        back_latents = bridge.reversed().sample(bridge.sample(latents, 1, seed), 1, seed)
        back = decoded(bridge.source, back_latents)
        report["cycle_accuracy"] = (predictions(source_classifier, back) == labels).float().mean().item()
    return report


def transfer_report(bridge: Bridge, source: Domain, target: Domain, classifiers: tuple[Expert, Expert | None],
                    n_samples: int = 8, seed: int = 0, references: tuple[Domain, Domain] | None = None) -> dict[str, float]:
    """`direction_report` source -> target (judged by `classifiers[0]`) and, for a reversible bridge
    with a classifier of the source's outputs (`classifiers[1]`), target -> source (`reverse_`);
    `references`: (source, target) items whose spread diversity is relative to, and every held-out item of
    each side (default: the domains)."""
    references = references or (source, target)
    report = direction_report(bridge, source, target, classifiers[0], classifiers[1], n_samples, seed, references[1],
                              references[0])
    if bridge.strategy.reversible and classifiers[1] is not None:
        backwards = direction_report(bridge.reversed(), target, source, classifiers[1], classifiers[0], n_samples, seed,
                                     references[0], references[1])
        report.update({f"reverse_{key}": value for key, value in backwards.items()})
    return report
