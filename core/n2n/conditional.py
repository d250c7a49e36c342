"""Class-conditional generators whose latent is [z ‖ class embedding], as BigGAN's.

Such an expert decodes the concatenation of a noise vector z [z_dim] and one row of its class-embedding
table [classes, E]: a bridge can pick the class as well as the noise, and a strategy can optimise a new
row (class-embedding optimisation re-purposes the generator for classes it was never trained on). A
plugin subclasses `ConditionalGenerator`, sets `z_dim` when it loads, and implements `_embedding_table`
and `_class_index`; it may override `sample_z` when its prior is not a standard normal (truncation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InvalidInputError, N2NError, PluginError, UnsupportedOperationError
from .expert import Expert


class ConditionalGenerator(Expert):
    """A generator of latent [z (z_dim) ‖ class embedding (E)] with an embedding table of its classes."""

    z_dim: int  # the length of z; `_load` sets it (the latent is z_dim + E long)

    @property
    def embedding_table(self) -> torch.Tensor:
        """Every class's embedding [classes, E] (frozen; the generator's own)."""
        self.load()
        return self._embedding_table().detach()

    def class_index(self, label: int | str) -> int:
        """The table row of a class, by index or name; one clear error for a class it does not have."""
        self.load()
        classes = len(self._embedding_table())
        if isinstance(label, int) and not isinstance(label, bool):
            if not 0 <= label < classes:
                raise InvalidInputError(f"expert {self.name!r} ({self.checkpoint}): class index {label} is out of range 0..{classes - 1}")
            return label
        if not isinstance(label, str):
            raise InvalidInputError(f"expert {self.name!r}: a class is an index or a name, got {label!r}")
        return self._class_index(label)

    def has_class(self, label: int | str) -> bool:
        """Whether the generator's table has a row for this class."""
        try:
            self.class_index(label)
        except N2NError:
            return False
        return True

    def class_embedding(self, label: int | str) -> torch.Tensor:
        """The embedding [E] of a class, by index or name."""
        return self.embedding_table[self.class_index(label)]

    def latents(self, z: torch.Tensor, labels: Sequence[int | str]) -> torch.Tensor:
        """[z ‖ embedding of each label]: z [B, z_dim] and B labels (indices or names, or an integer tensor)
        -> [B, z_dim + E]."""
        self.load()
        if isinstance(labels, torch.Tensor) and not labels.is_floating_point():
            labels = labels.reshape(-1).tolist()
        elif isinstance(labels, (int, str)):  # one label
            labels = [labels]
        if not isinstance(z, torch.Tensor) or not z.is_floating_point() or z.ndim != 2 or z.shape[1] != self.z_dim:
            shape = list(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InvalidInputError(f"expert {self.name!r}: z must be a float tensor [B, {self.z_dim}], got {shape}")
        if len(labels) != len(z) or not len(z):
            raise InvalidInputError(f"expert {self.name!r}: {len(z)} z for {len(labels)} labels: give one label for each z (at least one)")
        embeddings = torch.stack([self.class_embedding(label) for label in labels])  # [B, E]
        return torch.cat([z.to(embeddings), embeddings], dim=-1)

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws [n, z_dim] of the noise prior (a standard normal unless the expert overrides it)."""
        self.load()
        return torch.randn(n, self.z_dim, generator=generator)

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of the prior: z from `sample_z` with the embedding of a uniformly drawn class."""
        z = self.sample_z(n, generator)
        labels = torch.randint(len(self.embedding_table), (n,), generator=generator).tolist()
        return self.latents(z, labels)

    # -- what a plugin implements ------------------------------------------------------------------
    @classmethod
    def spec(cls, plugin: str):
        """`Expert.spec`, and a `PluginError` for a subclass that leaves out the table or the class lookup."""
        missing = [name for name in ("_embedding_table", "_class_index") if getattr(cls, name) is getattr(ConditionalGenerator, name)]
        if missing:
            raise PluginError(f"expert {cls.name!r}: a ConditionalGenerator implements {', '.join(missing)}")
        return super().spec(plugin)

    def _embedding_table(self) -> torch.Tensor:
        """The loaded table [classes, E] (its parameter: `embedding_table` detaches it)."""
        raise UnsupportedOperationError(f"expert {self.name!r} does not implement _embedding_table")

    def _class_index(self, name: str) -> int:
        """The row of the class called `name`; an `N2NError` naming what exists when there is none."""
        raise UnsupportedOperationError(f"expert {self.name!r} does not implement _class_index")
