"""How good is a bridge: transfer accuracy, NLL per dimension, and sample diversity relative to the
target expert's own reconstructions.

- transfer accuracy: a classifier expert on the target side gives the translated sample the label of
  the source item (Latent Translation's metric);
- NLL per dimension (nats), for strategies with a `log_prob` (the cINN);
- relative diversity: the mean pairwise distance of the n samples for one input, divided by the same
  measure over the target expert's reconstructions of real items of that input's class. 1 means the
  bridge covers the class as widely as the expert's reconstructions do, which are narrower than the data
  (the digits VAE's keep ~0.93 of real test digits' spread); a deterministic bridge scores 0;
- per class, for bridges from labels (`class_report`): accuracy of many samples of the class, the
  Fréchet distance between their classifier features and real items' of the class (FID computed on the
  judging classifier's penultimate features), and relative diversity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..bridge import Bridge, evaluating
from ..data.build import encoded_column, field_for, field_name, paired_data
from ..data.streams import PairedData
from ..dataset import Dataset
from ..expert import Expert
from ..images import opened
from ..inputs import prepare_inputs
from ..progress import logger
from ..registry import experts, load_expert

DECODE_BATCH = 512
PER_CLASS = 64  # items per class whose spread is a class's reference
FEW_ITEMS = 50  # an evaluation on fewer held-out items says its metrics are noisy


@torch.no_grad()
def translate_latents(bridge: Bridge, source_latents: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    """Decoded samples [B * n, ...] for source latents [B, *S], input-major, in batches."""
    return decode_translations(bridge, bridge.sample(source_latents, n_samples, seed), source_latents)


@torch.no_grad()
def translate_each_alone(bridge: Bridge, source_latents: torch.Tensor, seed: int) -> torch.Tensor:
    """One decoded translation per source latent [B, *S] -> [B, ...], each input translated alone with the same
    seed: every row gets the same noise, as for a user who translates items one at a time with a fixed seed."""
    latents = torch.cat([bridge.sample(latent[None], 1, seed) for latent in source_latents])  # [B, *T]
    return decode_translations(bridge, latents, source_latents)


def decode_translations(bridge: Bridge, latents: torch.Tensor, source_latents: torch.Tensor) -> torch.Tensor:
    """Sampled target latents [B * n, *T] of source latents [B, *S] (input-major) -> outputs, in batches."""
    bridge.check_sampled(latents)
    sources = source_latents.repeat_interleave(len(latents) // len(source_latents), 0)  # [B * n, *S]: each row's source
    return torch.cat([bridge.decode(latents[i : i + DECODE_BATCH], sources[i : i + DECODE_BATCH])
                      for i in range(0, len(latents), DECODE_BATCH)])


@torch.no_grad()
def predictions(classifier: Expert, outputs: torch.Tensor) -> torch.Tensor:
    """The class `classifier` gives each of `outputs` [N, ...] -> [N] (on the CPU), in batches."""
    return torch.cat([classifier.classify(chunk).argmax(-1).cpu() for chunk in outputs.split(DECODE_BATCH)])


@torch.no_grad()
def decoded(expert: Expert, latents: torch.Tensor) -> torch.Tensor:
    """`expert.decode` of latents [N, ...] in batches, on the CPU."""
    return torch.cat([expert.decode(chunk).cpu() for chunk in latents.split(DECODE_BATCH)])


def transfer_accuracy(outputs: torch.Tensor, labels: torch.Tensor, classifier: Expert) -> float:
    """Share of outputs [B * n, ...] that `classifier` assigns the label of their input (labels [B])."""
    n = len(outputs) // len(labels)
    return (predictions(classifier, outputs) == labels.repeat_interleave(n)).float().mean().item()


def pairwise_spread(outputs: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Mean pairwise L2 distance within each group of n samples: outputs [B * n, ...] -> [B]."""
    groups = outputs.flatten(1).view(-1, n_samples, outputs[0].numel()).float()  # [B, n, P]
    distances = torch.cdist(groups, groups)  # [B, n, n]
    return distances.sum((1, 2)) / (n_samples * (n_samples - 1))


@torch.no_grad()
def class_spread(target: Expert, inputs: Sequence, labels: torch.Tensor, per_class: int = PER_CLASS) -> dict[int, float]:
    """Per class: the pairwise spread of real items of that class (`inputs`: a tensor batch, or image
    paths) as the target expert renders them — its reconstructions when it encodes and decodes, the
    items themselves when it only decodes (a GAN) — seen as distances are measured (`distance_view`). An
    item the dataset holds several times (an image with three captions) counts once."""
    distinct = first_occurrences(inputs)
    rows = distinct[class_rows(labels[distinct], per_class)]
    rendered = []
    for chunk in rows.split(per_class):  # per_class items at a time (memory stays bounded)
        items = inputs[chunk] if isinstance(inputs, torch.Tensor) else opened([inputs[i] for i in chunk.tolist()])
        rendered.append(target.decode(target.encode(items)) if target.can_encode() else prepare_inputs(target, items))
    return spread_by_class(target.distance_view(torch.cat(rendered).float().cpu()), labels[rows])


def first_occurrences(inputs: Sequence) -> torch.Tensor:
    """Sorted rows of `inputs` (a tensor batch, or a list of paths or tensors) that repeat no earlier row: a
    spread over repeated items would count the distance 0 between an item and itself."""
    keys = [row.numpy().tobytes() for row in inputs.cpu()] if isinstance(inputs, torch.Tensor) else [
        item.cpu().numpy().tobytes() if isinstance(item, torch.Tensor) else item for item in inputs]
    first: dict = {}
    for row, key in enumerate(keys):
        first.setdefault(key, row)
    return torch.tensor(sorted(first.values()), dtype=torch.long)


def class_rows(labels: torch.Tensor, per_class: int = PER_CLASS) -> torch.Tensor:
    """Sorted rows of the first `per_class` items of each class of labels [N]: what a class's spread is
    measured on (decode only these)."""
    return torch.cat([torch.nonzero(labels == label)[:per_class, 0] for label in labels.unique()]).sort().values


def spread_by_class(outputs: torch.Tensor, labels: torch.Tensor, per_class: int = PER_CLASS) -> dict[int, float]:
    """Per class with at least two items: the pairwise spread of its outputs [N, ...] (one item has none)."""
    spread = {}
    for label in labels.unique().tolist():
        rows = torch.nonzero(labels == label)[:per_class, 0]
        if len(rows) > 1:
            spread[label] = pairwise_spread(outputs[rows], len(rows)).item()
    return spread


def relative_diversity(outputs: torch.Tensor, labels: torch.Tensor, reference: dict[int, float]) -> float | None:
    """Mean over inputs of (spread of its samples) / (reference spread of its class), over the inputs
    whose class has a reference spread (None when none has)."""
    known = torch.tensor([reference.get(label, 0.0) > 0 for label in labels.tolist()])
    if not known.any():
        return None
    spread = pairwise_spread(outputs, len(outputs) // len(labels))  # [B]
    return (spread[known] / torch.tensor([reference[label] for label in labels[known].tolist()])).mean().item()


def nll_per_dim(bridge: Bridge, data: PairedData, batch_size: int = 1024) -> float | None:
    """Mean negative log-likelihood of the target latents given the source latents, nats per dimension."""
    return latents_nll(bridge, data.source.load_all(), data.target.load_all(), batch_size)


@torch.no_grad()
def latents_nll(bridge: Bridge, source: torch.Tensor, target: torch.Tensor, batch_size: int = 1024) -> float | None:
    """Mean negative log-likelihood of target latents [N, ...] given source latents [N, ...], nats per
    dimension; None for a strategy without `log_prob`."""
    log_prob = getattr(bridge.strategy, "log_prob", None)
    if log_prob is None:
        return None
    source, target = source.to(bridge.device), target.to(bridge.device)
    with evaluating(bridge.strategy):
        total = sum(log_prob(target[i : i + batch_size], source[i : i + batch_size]).sum().item()
                    for i in range(0, len(source), batch_size))
    return -total / (len(source) * bridge.strategy.target_dim)


def translation_report(
    bridge: Bridge,
    source_latents: torch.Tensor,
    labels: torch.Tensor,
    classifier: Expert | None,
    reference: dict[int, float] | None,
    n_samples: int = 8,
    seed: int = 0,
    prefix: str = "",
) -> dict[str, float]:
    """Transfer accuracy and relative diversity of `n_samples` translations of each source latent."""
    outputs = translate_latents(bridge, source_latents, n_samples, seed)
    report = {}
    if classifier is not None:
        report[f"{prefix}transfer_accuracy"] = transfer_accuracy(outputs, labels, classifier)
    if reference is not None and n_samples > 1:
        if (diversity := relative_diversity(bridge.target.distance_view(outputs.cpu()), labels, reference)) is not None:
            report[f"{prefix}relative_diversity"] = diversity
    return report


def seen_in_training(texts: Sequence[str], training: Sequence[str]) -> float:
    """The share of evaluated `texts` that the `training` texts hold too. A caption dataset whose test split
    reuses the training phrasings (new images, the same words) measures how well a text bridge fits them,
    not how it generalises: the bridge reads only the text."""
    seen = set(training)
    return sum(text in seen for text in texts) / len(texts)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features a [N, F] and b [M, F]:
    |μa - μb|² + Tr(Σa + Σb - 2 (Σa^½ Σb Σa^½)^½), in float64."""
    a, b = a.double(), b.double()
    mean_a, mean_b, cov_a, cov_b = a.mean(0), b.mean(0), torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T  # Σa^½
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return ((mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross).item()


@torch.no_grad()
def class_report(outputs: Mapping[int, torch.Tensor], real: torch.Tensor, labels: torch.Tensor,
                 classifier: Expert) -> dict[str, float]:
    """How well samples of each class `outputs[c]` [n, ...] (of a bridge from labels, or any conditional
    generator) show their class, judged by `classifier` against the real items `real` [N, ...] with
    `labels` [N]: accuracy, FID on the classifier's features (when it has them) and relative diversity
    (the spread of 64 samples / the spread of the class's real items). Each class's
    (`class_C_accuracy`, ...), and the worst and mean over classes."""
    reference = spread_by_class(real.flatten(1).float(), labels)
    columns: dict[str, list[float]] = {"accuracy": [], "fid": [], "relative_diversity": []}
    for c, samples in outputs.items():
        columns["accuracy"].append((predictions(classifier, samples) == c).float().mean().item())
        if classifier.has_features():
            columns["fid"].append(frechet_distance(features(classifier, samples), features(classifier, real[labels == c])))
        spread = pairwise_spread(samples[:64].cpu(), len(samples[:64])).item()
        columns["relative_diversity"].append(spread / reference[c] if reference.get(c) else float("nan"))
    count = len(outputs)
    report = {"class_accuracy_min": min(columns["accuracy"]), "class_accuracy_mean": sum(columns["accuracy"]) / count,
              "class_relative_diversity_mean": sum(columns["relative_diversity"]) / count}
    if columns["fid"]:
        report |= {"class_fid_mean": sum(columns["fid"]) / count, "class_fid_max": max(columns["fid"])}
    for name, values in columns.items():
        report |= {f"class_{c}_{name}": value for c, value in zip(outputs, values)}
    return report


@torch.no_grad()
def features(classifier: Expert, inputs: torch.Tensor) -> torch.Tensor:
    """`classifier.features` of inputs [N, ...] in batches, on the CPU."""
    return torch.cat([classifier.features(chunk).cpu() for chunk in inputs.split(DECODE_BATCH)])


def default_classifier(target: Expert) -> Expert | None:
    """The classifier expert that judges an expert's outputs: the one it names (`Expert.labeller`),
    else `<name>-classifier` when installed."""
    name = target.labeller or f"{target.name}-classifier"
    return load_expert(name, device=target.device) if name in experts() else None


def evaluate(
    bridge: Bridge,
    dataset: Dataset,
    split: str = "test",
    classifier: Expert | None = None,
    n_samples: int = 8,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Every metric that applies, translating the source items of `dataset[split]`: NLL per dimension
    (when the dataset also carries the target's field and the strategy has `log_prob`), transfer
    accuracy (with a classifier) and relative diversity (against the target expert's renderings of the
    dataset's target items of the same class: its reconstructions when it encodes), and the same on held-out
    probe inputs (`heldout_`)."""
    columns = dataset.load(split)
    labels = torch.as_tensor(columns["label"]) if "label" in columns else None
    if (items := len(next(iter(columns.values())))) < FEW_ITEMS:
        logger.warning("%s/%s holds only %d item(s): its metrics are noisy", dataset.name, split, items)
    metrics: dict[str, float] = {}
    target_field = field_name(bridge.target)
    if target_field in dataset.fields and bridge.target.can_encode():
        data = paired_data(dataset, split, bridge.source, bridge.target, progress)
        source_latents = data.source.load_all()
        if (nll := nll_per_dim(bridge, data)) is not None:
            metrics["nll_per_dim"] = nll
    else:
        source_latents = encoded_column(bridge.source, dataset, split, columns, progress).load_all()
    reference = None
    if target_field in columns and labels is not None:
        reference = class_spread(bridge.target, columns[target_field], labels)
    if labels is not None:
        metrics.update(translation_report(bridge, source_latents, labels, classifier, reference, n_samples, seed))
    if bridge.source.modality == "text" and split != "train" and "train" in dataset.splits:
        field = field_for(bridge.source, dataset)
        metrics["inputs_seen_in_training"] = seen_in_training(columns[field], dataset.load("train")[field])
    probe = dataset.probe()
    if probe is not None and (field := field_for(bridge.source, dataset)) in probe:  # held-out inputs of the source's kind
        probe_latents = bridge.source.encode(probe[field])
        metrics.update(translation_report(
            bridge, probe_latents, torch.as_tensor(probe["label"]), classifier, reference, n_samples, seed, "heldout_"
        ))
    return metrics
