"""Training data built from datasets, through the feature cache, for each kind of strategy.

- `paired_data`: a dataset whose records carry what both experts consume (caption + image): the source
  expert encodes its field, the target expert its own;
- `generated_pairs`: Net2Net's recipe for a target without an encoder (BigGAN): draw target latents from
  the target's prior, decode them, and encode (or first `describe`) the results with the source side;
- `unpaired_data`: each domain's latents with labels, no pairs: a labelled dataset encoded by its expert,
  or a generator's prior samples labelled by a classifier (`domain`);
- `loop_data`: a labelled dataset whose source field the source expert encodes, with the real
  target-modality items kept for strategies that judge generated ones against them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..dataset import Dataset
from ..errors import InvalidInputError
from ..expert import Expert
from ..images import opened
from ..inputs import prepare_inputs
from ..registry import load_dataset, load_expert
from .features import FeatureShards, cached_features, cached_tensor, fingerprint
from .streams import LoopData, PairedData, UnpairedData

GENERATED = 40_000  # prior samples drawn for a generator's domain (cheap; fewer overfit the bridge)
KEEP = 0.5  # the share of each class's samples, most confident first, that stays


def field_name(expert: Expert) -> str:
    """The name of the dataset field an expert consumes: its modality ("text", "image", "audio", "label")."""
    return expert.modality


def field_for(expert: Expert, dataset: Dataset) -> str:
    """The dataset field this expert consumes; one clear error when the dataset has none."""
    field = field_name(expert)
    if field not in dataset.fields:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has no {field!r} field for expert {expert.name!r} "
            f"(modality {expert.modality}); its fields: {', '.join(dataset.fields)}"
        )
    return field


def encoded_column(expert: Expert, dataset: Dataset, split: str, columns: dict[str, Sequence], progress: bool = True,
                   log_variance: bool = False) -> FeatureShards:
    """The expert's latents of its field of `dataset[split]` (with `log_variance`, its posterior's
    log-variances), through the feature cache."""
    field = field_for(expert, dataset)
    key = f"{dataset.name}:{dataset.version}:{split}:{field}:{fingerprint(columns[field])}"
    return cached_features(expert, columns[field], key, description=f"{dataset.name}/{split} with {expert.name}",
                           progress=progress, log_variance=log_variance)


def paired_data(dataset: Dataset, split: str, source: Expert, target: Expert, progress: bool = True) -> PairedData:
    """Pairs from a dataset whose records carry both experts' inputs."""
    columns = dataset.load(split)
    if not target.can_encode():
        raise InvalidInputError(
            f"target expert {target.name!r} cannot encode {target.modality}, so {dataset.name!r} cannot give its "
            "latents: train on generated pairs instead (draw target latents, decode, encode with the source)"
        )
    labels = columns.get("label")
    return PairedData(
        encoded_column(source, dataset, split, columns, progress),
        encoded_column(target, dataset, split, columns, progress),
        torch.as_tensor(labels) if labels is not None else None,
    )


class _Decoded(Sequence):
    """Target latents seen as the source expert's inputs: slicing decodes (and describes) on demand."""

    def __init__(self, target: Expert, latents: torch.Tensor, describe: Callable | None):
        self.target, self.latents, self.describe = target, latents, describe

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, index: slice) -> Any:
        latents = self.latents[index]
        outputs = self.target.decode(latents)
        return self.describe(latents, outputs) if self.describe else outputs


def generated_pairs(
    source: Expert, target: Expert, n: int, seed: int = 0, describe: Callable | None = None, progress: bool = True
) -> PairedData:
    """Net2Net's generator sampling: z ~ target prior, x = target.decode(z), pair (source.encode(x), z).
    `describe(z, x)` turns generated outputs into the source's modality first (e.g. captions for text)."""
    if n < 1:
        raise InvalidInputError(f"generated pairs: n must be at least 1, got {n}")
    if describe is None and (mismatch := cannot_read(source, target)):
        if source.modality == "text" and hasattr(target, "describe"):
            fix = (f"caption them first with describe= (lambda latents, outputs: {target.name}.describe(latents) names their "
                   "classes), or train on a dataset of pairs (--dataset, dataset=)")
        else:
            fix = "train on a dataset of pairs instead (--dataset, dataset=)"
            mismatch += " and cannot caption its samples" if source.modality == "text" else ""
        raise InvalidInputError(f"generated pairs (--generated, generated=) are samples of {target.name} encoded by "
                                f"{source.name}, but {mismatch}: {fix}")
    latents = target.sample_latents(n, torch.Generator().manual_seed(seed))  # [n, *T]
    key = f"generated:{target.fingerprint()}:{n}:{seed}:{describe_key(describe)}"
    return PairedData(
        cached_features(source, _Decoded(target, latents, describe), key, description=f"{n} generated samples", progress=progress),
        cached_tensor(latents, key),
    )


def cannot_read(source: Expert, target: Expert) -> str:
    """Why `source` cannot encode what `target` decodes (another modality; pictures of other channels or size),
    or ''."""
    if source.modality != target.modality:
        return f"{source.name} reads {source.modality!r} and {target.name} makes {target.modality!r}"
    if source.modality == "image":
        made = [target.image_channels or "C", *(target.image_size or ("H", "W"))]
        read = [source.image_channels or "C", *(source.image_size or ("H", "W"))]
        if any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(made, read)):
            return f"{source.name} reads [{', '.join(map(str, read))}] pictures and {target.name} makes [{', '.join(map(str, made))}]"
    return ""


def describe_key(describe: Callable | None) -> str:
    """What identifies a `describe` function in a cache key: its name and a digest of its code, its
    constants and the plain values (text, numbers) it closes over, takes as defaults, holds as attributes (a
    callable object) or is partially applied to, so that an edited function, another lambda or other
    arguments get their own features. Other objects count by their type, and globals by their name."""
    if describe is None:
        return ""
    if isinstance(describe, functools.partial):
        return f"partial({describe_key(describe.func)}|{_plain(describe.args)}|{_plain(sorted(describe.keywords.items()))})"
    function = describe if hasattr(describe, "__code__") else type(describe).__call__  # a callable object: its method
    code = getattr(function, "__code__", None)
    if code is None:  # a builtin: its name says what it does
        return f"{getattr(describe, '__module__', '')}.{getattr(describe, '__qualname__', repr(describe))}"
    values = ([cell.cell_contents for cell in function.__closure__ or ()], function.__defaults__, function.__kwdefaults__,
              getattr(describe, "__dict__", {}) if function is not describe else {})
    digest = hashlib.sha256(code.co_code + _plain((code.co_consts, code.co_names, values)).encode()).hexdigest()[:16]
    return f"{function.__module__}.{function.__qualname__}:{digest}"


def _plain(value: Any) -> str:
    """repr of text, numbers and containers of them; any other object by its type (its repr may be an address)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_plain(item) for item in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_plain(k)}:{_plain(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "co_code"):  # a nested function's code among the constants
        return hashlib.sha256(value.co_code + _plain(value.co_consts).encode()).hexdigest()[:16]
    return type(value).__qualname__


def labels_of(dataset: Dataset, split: str, columns: dict[str, Sequence]) -> torch.Tensor:
    """The `label` column of a split as a long tensor [N]; one clear error when the dataset has none."""
    if "label" not in columns:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has no 'label' field (its fields: {', '.join(dataset.fields)}); "
            "this strategy aligns the domains through labels"
        )
    return torch.as_tensor(columns["label"]).long()


@dataclass(frozen=True)
class Domain:
    """One side of unpaired data: latents with their labels (and posterior log-variances), and where
    they came from (printed by `n2n train`, recorded in the model card)."""

    latents: FeatureShards
    labels: torch.Tensor  # [N]
    logvar: FeatureShards | None
    origin: str


def domain(expert: Expert, dataset: Dataset | None, split: str, *, generated: int = GENERATED, seed: int = 0,
           keep: float = KEEP, progress: bool = True) -> Domain:
    """An expert's domain for unpaired training or evaluation: `dataset` (labelled, of its modality)
    encoded by it; else the expert's own `dataset`; else, for a generator, `generated` draws of its
    prior labelled by its `labeller`, the `keep` share of each class it is most confident about
    (Latent Translation's recipe for GANs; the test split draws other samples than the train split; a
    dataset's items are all kept)."""
    if dataset is None and expert.dataset is not None and expert.can_encode():
        dataset = load_dataset(expert.dataset)
    if dataset is not None:
        columns = dataset.load(split)
        logvar = encoded_column(expert, dataset, split, columns, progress, log_variance=True) if expert.has_posterior() else None
        return Domain(encoded_column(expert, dataset, split, columns, progress), labels_of(dataset, split, columns),
                      logvar, f"{dataset.name}/{split}")
    if not (expert.can_decode() and expert.labeller is not None):
        raise InvalidInputError(
            f"expert {expert.name!r} has neither a labelled dataset nor a classifier to label its samples: "
            "name a labelled dataset of its modality (--source-dataset / --target-dataset)"
        )
    classifier = load_expert(expert.labeller, device=expert.device)
    latents, labels = labelled_prior(expert, classifier, generated, split_seed(seed, split), keep, progress)
    share = "" if keep == 1 else f", the {keep:.0%} of each class it is surest of"
    return Domain(latents, labels, None, f"{generated} samples of {expert.name} labelled by {classifier.name}{share} ({split})")


def split_seed(seed: int, split: str) -> int:
    """A seed of its own for each (seed, split): prior samples drawn for one split never reappear in another,
    whatever seed either was drawn with."""
    return int(hashlib.sha256(f"{seed}:{split}".encode()).hexdigest()[:15], 16)


def evaluation_seed(seed: int) -> int:
    """The seed an evaluation samples with, given the run's `seed`: training seeds torch's generator with
    `seed` itself, so a generator-in-the-loop bridge evaluated at `seed` would be judged on the very z it
    was optimised on."""
    return split_seed(seed, "evaluation")


@torch.no_grad()
def labelled_prior(generator: Expert, classifier: Expert, n: int, seed: int, keep: float = KEEP,
                   progress: bool = True) -> tuple[FeatureShards, torch.Tensor]:
    """`n` draws of a generator's prior, decoded and labelled by `classifier`; of each class, the `keep`
    share it is most confident about stays (cached). Returns (latents, labels [M])."""
    if n < 1:
        raise InvalidInputError(f"labelled prior samples: n must be at least 1, got {n}")
    draws = f"labelled-prior:{generator.fingerprint()}:{classifier.fingerprint()}:{n}:{seed}"  # labelled once, whatever is kept
    latents = generator.sample_latents(n, torch.Generator().manual_seed(seed))  # [n, *T]
    outputs = _Decoded(generator, latents, None)
    logits = cached_features(classifier, outputs, draws, description=f"labelling {n} samples of {generator.name}",
                             progress=progress).load_all()  # [n, classes]
    confidence, labels = logits.softmax(-1).max(-1)
    kept = torch.cat([rows[confidence[rows].argsort(descending=True)[: max(1, round(keep * len(rows)))]]
                      for rows in (torch.nonzero(labels == c)[:, 0] for c in labels.unique())]).sort().values
    return cached_tensor(latents[kept], f"{draws}:{keep}"), labels[kept]


def unpaired_data(source: Expert, target: Expert, split: str = "train", *, source_dataset: Dataset | None = None,
                  target_dataset: Dataset | None = None, generated: int = GENERATED, seed: int = 0,
                  progress: bool = True) -> UnpairedData:
    """Each domain's latents with their labels (see `domain`): no pairs, only labels align them."""
    sides = [domain(e, d, split, generated=generated, seed=seed, progress=progress)
             for e, d in ((source, source_dataset), (target, target_dataset))]
    description = f"{source.name}: {sides[0].origin}; {target.name}: {sides[1].origin}"
    return UnpairedData(sides[0].latents, sides[0].labels, sides[1].latents, sides[1].labels, sides[0].logvar,
                        sides[1].logvar, description)


def loop_data(dataset: Dataset, split: str, source: Expert, target: Expert, progress: bool = True,
              labelled_fraction: float = 1.0, seed: int = 0) -> LoopData:
    """Source latents and labels of a labelled dataset, with its real items of the target's modality
    (when it has that field) prepared as the target expert's inputs; with `labelled_fraction` < 1, only
    that share of each class's items (at least one; a seeded choice)."""
    columns = dataset.load(split)
    labels = labels_of(dataset, split, columns)
    if labelled_fraction < 1:
        kept = labelled_subset(labels, labelled_fraction, seed)
        columns = {name: _rows(column, kept) for name, column in columns.items()}
        labels = labels[kept]
    real = None
    field = field_name(target)
    if field in columns and field != field_for(source, dataset):
        prepared = prepare_inputs(target, opened(columns[field]))
        real = prepared.cpu() if isinstance(prepared, torch.Tensor) else None  # texts stay out of tensor batches
    share = f"{dataset.name}/{split}, {labelled_fraction:.0%} of its labels ({len(labels)} items)" if labelled_fraction < 1 else ""
    return LoopData(encoded_column(source, dataset, split, columns, progress), labels, real, share)


def class_data(source: Expert) -> LoopData:
    """No dataset: every class of a label source once, for in-the-loop strategies that learn from the
    generator and a classifier alone (class-embedding optimisation)."""
    if source.modality != "label":
        raise InvalidInputError(f"without a dataset, an in-the-loop bridge learns from its source's classes, but {source.name!r} "
                                f"is a {source.modality} expert, not a label one: give a labelled dataset")
    labels = torch.arange(source.load().latent_shape[0])
    latents = source.encode(labels)  # [classes, classes]
    return LoopData(cached_tensor(latents, f"classes:{source.fingerprint()}"), labels, None,
                    f"the {len(labels)} classes of {source.name}:{source.checkpoint} (no dataset)")


def labelled_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted row indices of `fraction` of each class's rows (at least one), chosen by `seed`."""
    generator = torch.Generator().manual_seed(split_seed(seed, "labelled"))
    chosen = []
    for label in labels.unique().tolist():
        rows = torch.nonzero(labels == label)[:, 0]
        chosen.append(rows[torch.randperm(len(rows), generator=generator)[: max(1, round(fraction * len(rows)))]])
    return torch.cat(chosen).sort().values


def _rows(column: Sequence, rows: torch.Tensor) -> Sequence:
    return column[rows] if isinstance(column, torch.Tensor) else [column[i] for i in rows.tolist()]
