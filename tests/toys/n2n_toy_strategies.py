"""Toy strategies of the two kinds n2n's built-ins do not cover yet, registered as a plugin by the tests:
they prove the `unpaired` and `in_the_loop` paths train, resume, save, load and translate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import n2n
from n2n.strategy import input_major_noise


class CentroidMatcher(n2n.Strategy):
    """Toy unpaired: a linear map that sends each source class centroid onto the target's."""

    name = "toy-centroids"
    needs = "unpaired"

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        self.linear = nn.Linear(self.source_dim, self.target_dim)

    def training_step(self, batch):
        mapped = self.linear(batch["source"].flatten(1))  # [B, T]
        classes = batch["source_label"].unique()
        gaps = [mapped[batch["source_label"] == c].mean(0) - batch["target"][batch["target_label"] == c].flatten(1).mean(0)
                for c in classes if (batch["target_label"] == c).any()]
        return {"loss": torch.stack(gaps).pow(2).sum(-1).mean()}

    def sample(self, source, n_samples, generator=None):
        return self.linear(source.flatten(1)).repeat_interleave(n_samples, 0).view(-1, *self.target_shape)


class ClassModulator(n2n.Strategy):
    """Toy in-the-loop: per class, a scale and shift of the target decoder's output layer, trained so
    that the frozen `classifier` recognises the class in G(z); the frozen weights are never written."""

    name = "toy-modulator"
    needs = "in_the_loop"
    roles = {"classifier": "judges the target's outputs (logits over the classes)"}

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        weight_name, weight = [(n, p) for n, p in target.decoder.named_parameters() if p.ndim == 2][-1]
        self.weight_name, self.bias_name = weight_name, weight_name.removesuffix("weight") + "bias"
        self.scale = nn.Parameter(torch.zeros(self.source_dim, weight.shape[0]))  # [classes, outputs]
        self.shift = nn.Parameter(torch.zeros(self.source_dim, weight.shape[0]))

    def modulated(self, c: int) -> dict[str, torch.Tensor]:
        decoder = dict(self.target.decoder.named_parameters())
        return {self.weight_name: decoder[self.weight_name] * (1 + self.scale[c]).unsqueeze(1),
                self.bias_name: decoder[self.bias_name] + self.shift[c]}

    def render(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """z [B, *T] and classes [B] -> images, each class through its own modulated decoder."""
        outputs = [None] * len(z)
        for c in classes.unique().tolist():
            rows = (classes == c).nonzero()[:, 0]
            for row, image in zip(rows.tolist(), self.target.decode(z[rows], grad=True, parameters=self.modulated(c))):
                outputs[row] = image
        return torch.stack(outputs)

    def training_step(self, batch):
        z = torch.randn(len(batch["label"]), *self.target_shape, device=batch["label"].device)
        images = self.render(z, batch["label"])
        logits = self.auxiliary["classifier"].encode(images, grad=True)
        return {"loss": F.cross_entropy(logits, batch["label"])}

    def sample(self, source, n_samples, generator=None):
        return input_major_noise(len(source), n_samples, self.target_shape, generator, source.device)

    def decode(self, latents, source):
        return self.render(latents, source.argmax(-1)).detach()


@n2n.hookimpl
def register_strategies(register):
    register(CentroidMatcher)
    register(ClassModulator)
