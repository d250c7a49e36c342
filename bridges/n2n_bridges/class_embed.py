"""Strategy `class-embed`: a class-conditional GAN re-purposed (or repaired) by optimising only class embeddings.

Li, Mai, Alcorn, Nguyen, "A cost-effective method for improving and re-purposing large, pre-trained GANs
by fine-tuning their class-embeddings", ACCV 2020 (arXiv:1910.04760). The generator G(z, e) takes
[z ‖ class embedding] (`n2n.ConditionalGenerator`: BigGAN, `digits-cgan`) and stays frozen, as does a
classifier over the source's classes. For each requested class c, one embedding vector e is optimised:

    loss(e) = CE(classifier(G(z, e)), c) - α · diversity(e),
    diversity(e) = mean over pairs i ≠ j of ‖φ(G(z_i, e)) - φ(G(z_j, e))‖ / ‖z_i - z_j‖,

with φ the image itself or the classifier's penultimate features. Each candidate's loss is a scalar (the
reference's diversity term broadcast the loss into a vector, and its backward pass crashed). Adam with the
paper's weight decay (an L2 pull on e), a fresh batch of z every `refresh` steps, and e clamped to the
[min, max] of the generator's own table after every step, so that it stays where the generator was
trained. Several restarts per class start from the mean of the table plus noise (or from the classes
the classifier already scores highest, or from a given class); at the end of training each restart is
judged on the same fixed z and the best is kept.

The bridge maps a label to [z ~ the generator's prior ‖ the class's embedding]: its optimised one, or,
for a class it did not optimise, the generator's own row for that class.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from n2n.conditional import ConditionalGenerator
from n2n.errors import InvalidInputError, UnsupportedOperationError
from n2n.expert import Expert
from n2n.images import random_translations
from n2n.label import LabelExpert
from n2n.progress import logger
from n2n.settings import is_whole
from n2n.strategy import Strategy, StrategyConfig

INITS = ("mean", "top")  # or the name or index of one of the generator's classes
SPACES = ("image", "features")


@dataclasses.dataclass
class ClassEmbedConfig(StrategyConfig):
    classes: tuple = ()  # the source's classes to optimise, by name or index (default: those the generator's table lacks)
    lr: float = 0.1  # Adam (the paper's)
    weight_decay: float = 0.9  # Adam's L2 term, pulling the embedding towards 0 (the paper's)
    alpha: float = 0.1  # weight of the diversity term (the paper's)
    diversity: str = "image"  # distance of "image"s or of the classifier's penultimate "features" (the paper: either)
    batch_size: int = dataclasses.field(default=10, metadata={"minimum": 2})  # z per embedding and step (the paper's;
    # at least 2: diversity compares pairs)
    refresh: int = 20  # a fresh batch of z every this many steps (the paper's)
    restarts: int = 3  # independent starts per class, the best kept (the paper's)
    init: str = "mean"  # "mean" of the table + noise (the paper's default), "top" (the classes the classifier
    # scores highest for the wanted class, one per restart), or one of the generator's classes ("3", "goldfish")
    init_noise: float = 0.1  # the noise added to the start, times the table's standard deviation
    shift: float = 0.0  # the classifier sees the images moved at random by up to this share of their size (ours;
    # the paper: none, 0): an embedding must draw the class, not a pattern that only this classifier reads as it
    select_samples: int = dataclasses.field(default=100, metadata={"minimum": 2})  # z on which the restarts are compared
    # at the end (drawn when training starts)


class ClassEmbed(Strategy):
    """Label -> a class-conditional GAN's samples, re-purposed by optimising class embeddings against a classifier."""

    name = "class-embed"
    needs = "in_the_loop"
    data_free = True  # the generator and the classifier are all it learns from
    default_steps = 200  # the paper's (`n2n train` without --steps)
    Config = ClassEmbedConfig
    roles = {"classifier": "judges the generator's images: its logits are the label source's classes, in order"}
    training_only = ("candidates", "z", "steps", "select_z")
    paper = {
        "arxiv": "1910.04760",
        "title": "A cost-effective method for improving and re-purposing large, pre-trained GANs by fine-tuning "
                 "their class-embeddings",
        "citation": "@inproceedings{li2020classembeddings,\n  title={A cost-effective method for improving and re-purposing "
                    "large, pre-trained GANs by fine-tuning their class-embeddings},\n  author={Li, Qi and Mai, Long and "
                    "Alcorn, Michael A. and Nguyen, Anh},\n  booktitle={Asian Conference on Computer Vision (ACCV)},\n"
                    "  year={2020}\n}",
    }

    def __init__(self, source: Expert, target: Expert, **config):
        super().__init__(source, target, **config)
        c = self.config
        if not isinstance(source, LabelExpert):
            raise InvalidInputError(f"class-embed optimises class embeddings: its source must be the label expert, not {source.name!r}")
        if not isinstance(target, ConditionalGenerator):
            raise InvalidInputError(f"class-embed needs a generator of latent [z ‖ class embedding] with an embedding table "
                                    f"(an n2n.ConditionalGenerator such as biggan or digits-cgan), not {target.name!r}")
        if c.diversity not in SPACES:
            raise InvalidInputError(f"class-embed: diversity must be one of {SPACES}, got {c.diversity!r}")
        if c.init not in INITS and not target.has_class(c.init):
            raise InvalidInputError(f"class-embed: init must be one of {INITS} or a class of {target.name!r}, got {c.init!r}")
        classifier = self.classifier
        if not classifier.can_classify():
            raise InvalidInputError(f"class-embed: the classifier role needs an expert that gives class logits; {classifier.name!r} gives none")
        if c.diversity == "features" and not classifier.has_features():
            raise InvalidInputError(f"class-embed: diversity='features' needs a classifier with features; {classifier.name!r} has none")
        self.rows = [self._row(k) for k in range(self.source_dim)]  # source class -> the generator's row, or None
        self.optimised = self._optimised_classes()
        # what config.json and the model card record: names that mean one class each
        self.config = dataclasses.replace(c, classes=tuple(source.unique_name(k) for k in self.optimised))
        table = target.embedding_table
        start = torch.stack([table[self.rows[k]] if self.rows[k] is not None else table.mean(0) for k in self.optimised])
        self.register_buffer("embeddings", start.clone())  # [K, E]: what the bridge keeps
        self.register_buffer("chosen", torch.full((len(self.optimised),), -1))  # [K]: the restart kept (-1: untrained)

    @property
    def classifier(self) -> Expert:
        return self.auxiliary["classifier"]

    def _row(self, k: int) -> int | None:
        """The generator's row of source class k: by the first of k's names that means k alone in the source
        and that the generator knows (a shared name, such as ImageNet's two "crane"s, would mean another)."""
        names = [name for name in self.source.classes[k] if self.source.index_of(name) == k]
        return next((self.target.class_index(name) for name in names if self.target.has_class(name)), None)

    def _optimised_classes(self) -> list[int]:
        requested = self.config.classes
        if requested:
            if wrong := [label for label in requested if not (isinstance(label, str) or is_whole(label))]:
                raise InvalidInputError(f"class-embed: classes lists the source's classes by name or index, got {wrong[0]!r}")
            return sorted({self.source.index_of(label) for label in requested})
        new = [k for k, row in enumerate(self.rows) if row is None]
        if not new:
            raise InvalidInputError(f"class-embed: the generator {self.target.name!r} has every class of the label source; name the "
                                    "ones to improve (--set 'classes=[\"5\"]')")
        return new

    # -- translation ----------------------------------------------------------------------------------
    def class_embeddings(self, classes: torch.Tensor) -> torch.Tensor:
        """Source class indices [B] -> their embeddings [B, E]: the optimised one, else the generator's own."""
        table, slot = self.target.embedding_table.to(self.embeddings), {k: i for i, k in enumerate(self.optimised)}
        rows = []
        for k in classes.tolist():
            if k in slot:
                rows.append(self.embeddings[slot[k]])
            elif self.rows[k] is not None:
                rows.append(table[self.rows[k]])
            else:
                raise InvalidInputError(
                    f"class-embed: class {self.source.class_names[k]!r} was not optimised and {self.target.name!r} has no such class; "
                    f"this bridge knows {', '.join(repr(self.source.class_names[i]) for i in self.optimised)} and the generator's own classes"
                )
        return torch.stack(rows)

    def sample(self, source, n_samples, generator=None):
        embeddings = self.class_embeddings(source.argmax(-1)).repeat_interleave(n_samples, 0)  # [B * n, E]
        z = torch.cat([self.target.sample_z(n_samples, generator) for _ in range(len(source))]).to(embeddings)  # input-major
        return torch.cat([z, embeddings], dim=-1)  # [B * n, z_dim + E]

    # -- optimisation ---------------------------------------------------------------------------------
    def setup_training(self):
        c, table = self.config, self.target.embedding_table
        self._check_classifier()
        trained = bool((self.chosen >= 0).all())  # a trained (or loaded) bridge trains on from its embeddings
        starts = self.embeddings.expand(c.restarts, -1, -1) if trained else self._starts(table)  # [R, K, E]
        noise = torch.randn(starts.shape).to(table) * c.init_noise * table.std()
        if trained:
            noise[0] = 0  # one restart goes on exactly where training stopped
        self.bounds = (table.min().item(), table.max().item())  # the generator's table: where embeddings stay
        self.candidates = nn.Parameter((starts + noise).clamp(*self.bounds))
        self.register_buffer("z", torch.zeros(c.batch_size, self.target.z_dim))
        self.register_buffer("steps", torch.tensor(0))
        self.register_buffer("select_z", self.target.sample_z(c.select_samples).to(table))  # judges the restarts at the end

    def _check_classifier(self):
        """One image through the classifier: its logits must be the label source's classes."""
        latents = self.target.sample_latents(1, torch.Generator().manual_seed(0))
        classes = self.classifier.classify(self.target.decode(latents)).shape[-1]
        if classes != self.source_dim:
            raise InvalidInputError(f"class-embed: the classifier {self.classifier.name!r} gives {classes} logits, but the label "
                                    f"source has {self.source_dim} classes: its logits must be the source's classes, in order")

    def _starts(self, table: torch.Tensor) -> torch.Tensor:
        """Where each restart of each optimised class starts [R, K, E] (before noise)."""
        c = self.config
        if c.init == "mean":
            return table.mean(0).expand(c.restarts, len(self.optimised), -1)
        if c.init != "top":
            return self.target.class_embedding(c.init).expand(c.restarts, len(self.optimised), -1)
        # "top": the generator's classes whose samples the classifier scores highest for each wanted class
        # (batch_size images of every class of the table: for BigGAN's 1,000, a job for a GPU)
        with torch.no_grad():
            z = self.target.sample_z(c.batch_size)  # [n, z_dim]
            scores = torch.stack([self._probabilities(z, row) for row in table])  # [classes, source classes]
        best = scores[:, self.optimised].topk(min(c.restarts, len(table)), dim=0).indices  # [R', K]
        return table[best[torch.arange(c.restarts) % len(best)]]  # [R, K, E]

    def _probabilities(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Mean classifier probabilities [source classes] of the generator's images for z [n, z_dim] and one embedding."""
        latents = torch.cat([z.to(embedding), embedding.expand(len(z), -1)], dim=-1)
        return self.classifier.classify(self.target.decode(latents)).softmax(-1).mean(0)

    def optimizer(self):
        if "candidates" not in self._parameters:
            raise UnsupportedOperationError("class-embed optimises its candidates: call setup_training() first (the trainer does)")
        return torch.optim.Adam([self.candidates], lr=self.config.lr, weight_decay=self.config.weight_decay)

    def losses(self, candidates: torch.Tensor, z: torch.Tensor, grad: bool = True) -> tuple[torch.Tensor, ...]:
        """The loss of each candidate embedding [R, K, E] (K: the optimised classes) on the same z [n, z_dim]:
        (loss, cross-entropy, diversity), each [R, K]."""
        (r, k, e), n = candidates.shape, len(z)
        latents = torch.cat([z.expand(r, k, n, -1), candidates[:, :, None].expand(r, k, n, e)], dim=-1)  # [R, K, n, z_dim + E]
        images = self.target.decode(latents.flatten(0, 2), grad=grad)  # [R * K * n, *image]
        judged = random_translations(images, self.config.shift) if grad else images
        logits = self.classifier.classify(judged, grad=grad)  # [R * K * n, classes]
        wanted = torch.tensor(self.optimised, device=logits.device).view(1, k, 1).expand(r, k, n).flatten()
        cross_entropy = F.cross_entropy(logits, wanted, reduction="none").view(r, k, n).mean(-1)  # [R, K]
        embedded = images.flatten(1) if self.config.diversity == "image" else self.classifier.features(images, grad=grad)
        diversity = diversity_ratio(embedded.view(r * k, n, -1), z).view(r, k)
        return cross_entropy - self.config.alpha * diversity, cross_entropy, diversity

    def training_step(self, batch):
        if self.steps % self.config.refresh == 0:  # a fresh batch of z (in the checkpoint: resuming mid-way keeps it)
            self.z.copy_(self.target.sample_z(self.config.batch_size))
        self.steps += 1
        loss, cross_entropy, diversity = self.losses(self.candidates, self.z)
        return {"loss": loss.sum(), "cross_entropy": cross_entropy.mean().detach(), "diversity": diversity.mean().detach()}

    def after_step(self):
        with torch.no_grad():
            self.candidates.clamp_(*self.bounds)  # where the generator was trained

    def end_training(self):
        """Judge every restart on the same z (drawn when training started) and keep each class's best."""
        with torch.no_grad():  # one restart at a time: R * K * select_samples images of a large generator do not fit at once
            loss, cross_entropy = (torch.cat(values) for values in zip(*[
                self.losses(self.candidates[r : r + 1], self.select_z, grad=False)[:2] for r in range(len(self.candidates))]))  # [R, K]
            best = loss.argmin(0)  # [K]
            self.embeddings.copy_(self.candidates[best, torch.arange(len(best))])
            self.chosen.copy_(best)
        for i, k in enumerate(self.optimised):
            logger.info("class-embed: class %r keeps restart %d of %d (loss %.3f, cross-entropy %.3f)", self.source.class_names[k],
                        best[i].item(), len(loss), loss[best[i], i].item(), cross_entropy[best[i], i].item())


def diversity_ratio(features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per group of outputs features [G, n, F] made from the same z [n, z_dim]: the mean over pairs i ≠ j
    of ‖f_i - f_j‖ / ‖z_i - z_j‖ [G] (a scalar per group: the reference's version broadcast it into a
    vector loss)."""
    n = len(z)
    pairs = torch.triu_indices(n, n, offset=1, device=z.device)  # [2, n(n-1)/2]
    # pairwise distances without an [G, pairs, F] difference tensor (BigGAN's images are 200k values each); exact, not
    # through matrix products, and with a zero gradient where two outputs coincide (a collapsed class)
    output_distance = torch.cdist(features, features, compute_mode="donot_use_mm_for_euclid_dist")[:, pairs[0], pairs[1]]  # [G, pairs]
    z_distance = (z[pairs[0]] - z[pairs[1]]).norm(dim=-1)  # [pairs]
    return (output_distance / z_distance).mean(-1)
