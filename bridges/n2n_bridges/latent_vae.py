"""Strategy `latent-vae`: Latent Translation's bridging VAE between two frozen generative models.

Tian, Engel, Gulrajani, Bahdanau et al., "Latent Translation: Crossing Modalities by Bridging Generative
Models", 2019 (arXiv:1902.08261). One *shared* VAE sits between the two frozen latent spaces: its encoder
takes [domain latent ‖ one-hot domain id], its decoder emits a domain's latent from [shared code ‖
one-hot domain id]. Each domain is trained to reconstruct itself (L2 + β_KL·KL to N(0, I)); the two
domains' shared codes are pulled together by the sliced Wasserstein distance (β_SWD) and made
class-aware by a classifier on the shared code (β_cls) — from labels alone, never from pairs. Transfer
encodes with the source's id and decodes with the target's, so one trained bridge runs both ways
(`Bridge.reversed()`).

Unlike the reference code, the shared-space classifier is trained (its weights are in the optimiser),
inputs are resampled from the source expert's posterior when the data carries its log-variances, and
evaluation uses held-out items only.

Inside, domain 0 is the source the bridge was trained from and domain 1 its target; `reverse` swaps
which one a bridge translates from. Latents are standardised per domain (statistics from the first
training batch, kept as buffers) and zero-padded to the larger domain's size; with `pullback`, a
generator's latents are first mapped by its output metric (`LatentVAEConfig.pullback`). With
`beta_isometry`, the shared codes are also pulled towards the geometry of the experts' outputs (`isometry`).
Neither is in the paper; both are off by default. `correlation`, `class_confidence`, `keep_widest` and
`residual_noise` only change how a trained bridge samples (`Bridge.with_settings`).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from n2n.errors import InvalidInputError, UnsupportedOperationError
from n2n.strategy import Strategy, StrategyConfig, input_major_noise

from .cinn import mlp

SIDES = ("source", "target")
TRACKING = 0.01  # the rate of the moving averages tracked in training (residual spread, class statistics)
PULLBACK_SAMPLES = 2048  # prior draws that estimate a generator's E[JᵀJ] (`pullback`)
PULLBACK_BATCH = 256
PULLBACK_FLOOR = 0.1  # E[JᵀJ]'s eigenvalues are floored at this share of the largest: a direction the generator
# barely uses keeps some weight, so decoding errors there grow at most 1/√0.1 ≈ 3.2× on the way back (a floor of
# 1e-6 cost forward accuracy 0.02, measured: benchmarks/latent_translation.py)
CONFIDENCE_SHRINK, CONFIDENCE_TRIES = 0.8, 12  # `class_confidence`: a draw the shared classifier is unsure of
# has its spread scaled by 0.8, at most 12 times (to 0.8¹² ≈ 0.07 of it)


@dataclasses.dataclass
class LatentVAEConfig(StrategyConfig):
    shared_dim: int = 8  # the shared code (the paper: 8 image<->image, 16 image<->audio)
    hidden: int = 512  # width of the encoder, decoder and classifier MLPs (the paper: 512; 1024 for audio)
    depth: int = 4  # hidden layers of the encoder and decoder (the paper: 4; 8 for audio)
    beta_kl: float = 0.005  # KL(q(z | x, d) || N(0, I))
    beta_swd: float = 1.0  # sliced Wasserstein distance between the domains' shared codes
    beta_cls: float = 0.05  # cross-entropy of the shared-code classifier
    projections: int = 128  # random directions of the sliced Wasserstein distance
    classes: int = 10  # classes the labels run over
    residual_noise: float = 0.0  # translations add this share of the target decoder's residual spread (its
    # reconstruction error per dimension, tracked in training): the part of a target latent the shared
    # code does not explain is sampled, not set to its mean (0: the reference's deterministic decoder)
    correlation: float = 1.0  # 1: a translation decodes a draw of the source's shared posterior (the paper's).
    # Below 1, it decodes the centre of the source's class among the target's shared codes (tracked in training;
    # the class is the shared classifier's call on the source) plus this share of the source code's offset from
    # it plus sqrt(1 - correlation²) of a draw of the class's spread: 0 keeps only the class. Lower values trade
    # locality for diversity at about the same accuracy down to ~0.7 (measured: benchmarks/latent_translation.py)
    class_confidence: float = 0.0  # with correlation < 1: a draw whose class the shared classifier gives a probability
    # below this has its share of the class's spread scaled by CONFIDENCE_SHRINK until it gives at least this (at most
    # CONFIDENCE_TRIES times; the share of the source it keeps stays): draws stay where the class is clear, as the
    # generator's training draws are (the surest of each class). Not in the paper; 0.99 keeps accuracy >= 0.96 down to
    # correlation 0 (measured: benchmarks/latent_translation.py)
    keep_widest: int = 0  # with correlation < 1: along this many of the class's widest principal directions (of the
    # target's tracked shared codes) a translation keeps the source's whole offset and draws nothing; `correlation`
    # holds along the others. A class's widest directions carry most of its style (slant, stroke), so at the same
    # diversity more of which sources are near each other survives independent draws than with one correlation
    # throughout. Not in the paper (measured: benchmarks/latent_translation.py)
    pullback: bool = False  # a generator's latents (a domain whose expert only decodes) are first mapped by
    # A = E_z[JᵀJ]^½, J the Jacobian of the generator's outputs (as `distance_view` measures them) at z: distances
    # between mapped latents then follow distances between the outputs, so the shared code spends itself on
    # what changes the output, not on prior directions the generator ignores (estimated at initialisation from
    # PULLBACK_SAMPLES prior draws, one random projection each). Not in the paper; raises locality, most of all
    # from the GAN's side (measured: benchmarks/latent_translation.py)
    beta_isometry: float = 0.0  # within each class, the pairwise distances of a domain's shared codes (posterior
    # means) are pulled towards those of the items' outputs as its expert renders them (`distance_view`), each
    # scaled by its mean (`isometry`): both domains' codes then measure what their outputs measure, so a translation
    # keeps which items are near each other. Not in the paper; raises locality from a GAN's side, where its outputs
    # vary most unevenly over its prior, at the same accuracy (measured: benchmarks/latent_translation.py)
    isometry_rows: int = 128  # items of each domain's batch whose outputs the isometry decodes, every step
    reverse: bool = False  # translate from the trained target back to the trained source
    lr: float = 1e-3
    batch_size: int = dataclasses.field(default=512, metadata={"minimum": 2})  # a batch's spread standardises

    def __post_init__(self) -> None:
        if not 0 <= self.correlation <= 1:
            raise InvalidInputError(f"latent-vae: correlation must be in [0, 1], got {self.correlation}")
        if not 0 <= self.class_confidence < 1:
            raise InvalidInputError(f"latent-vae: class_confidence must be in [0, 1), got {self.class_confidence}")
        if not 0 <= self.keep_widest <= self.shared_dim:
            raise InvalidInputError(f"latent-vae: keep_widest counts directions of the shared code: an integer in "
                                    f"[0, shared_dim={self.shared_dim}], got {self.keep_widest}")


def tracked_share(updates: torch.Tensor) -> torch.Tensor:
    """The share of a moving average (rate TRACKING, started at zero) that `updates` updates have filled
    with data: what the average is divided by to correct for its zero start."""
    return (1 - (1 - TRACKING) ** updates).clamp(min=1e-12)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int) -> torch.Tensor:
    """Sliced Wasserstein distance between samples a [N, D] and b [M, D]: L1 between the sorted
    projections onto `projections` random unit directions (the smaller sample set decides N)."""
    n = min(len(a), len(b))
    directions = F.normalize(torch.randn(a.shape[1], projections, device=a.device), dim=0)  # [D, P]
    with torch.autocast(a.device.type, enabled=False):  # in fp32 under bf16 training: near alignment the sorted
        # projections differ by less than bf16 resolves
        sorted_a = (a[:n].float() @ directions).sort(0).values  # [n, P]
        sorted_b = (b[:n].float() @ directions).sort(0).values
    return (sorted_a - sorted_b).abs().mean()


def isometry(codes: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How far codes [B, S] are from an isometry of outputs [B, F] within each class of labels [B]: the mean
    squared difference between same-class pairwise distances of the two, each divided by its mean (scale is
    free). 0 when no two items share a class."""
    pairs = (labels[:, None] == labels[None, :]).triu(1)  # [B, B]: each same-class pair once
    if not pairs.any():
        return codes.new_zeros(())
    with torch.autocast(codes.device.type, enabled=False):
        codes = codes.float()
        code_distances = (codes[:, None] - codes[None, :]).pow(2).sum(-1)[pairs].add(1e-8).sqrt()  # [P]: finite gradients at 0
        output_distances = torch.cdist(outputs, outputs)[pairs]  # [P]
        return (code_distances / code_distances.mean() - output_distances / output_distances.mean().clamp(min=1e-12)).pow(2).mean()


class LatentVAE(Strategy):
    """Latent Translation's bridging VAE: one shared latent space between two frozen models, from labels alone."""

    name = "latent-vae"
    needs = "unpaired"
    Config = LatentVAEConfig
    reversible = True
    default_steps = 3000  # `n2n train` without --steps: the demo's and the benchmarks' on the digits world (the
    # paper trains 20k-50k steps between MNIST-sized models: larger domains want more)
    sampling_settings = ("correlation", "class_confidence", "keep_widest", "residual_noise")
    added_tensors = {"trained_steps": 10**6}  # a bridge saved before steps were counted had trained: its averages
    # read as they were then (no correction for their zero start), and initialize leaves it alone
    paper = {
        "arxiv": "1902.08261",
        "title": "Latent Translation: Crossing Modalities by Bridging Generative Models",
        "citation": (
            "@article{tian2019latent,\n  title={Latent Translation: Crossing Modalities by Bridging Generative Models},\n"
            "  author={Tian, Yingtao and Engel, Jesse and others},\n  journal={arXiv preprint arXiv:1902.08261},\n"
            "  year={2019}\n}"
        ),
    }

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        c = self.config
        self.dims = (self.target_dim, self.source_dim) if c.reverse else (self.source_dim, self.target_dim)
        width = max(self.dims)
        self.encoder = mlp(width + 2, c.hidden, 2 * c.shared_dim, c.depth)  # [x ‖ domain] -> (mean, log-variance)
        self.decoder = mlp(c.shared_dim + 2, c.hidden, width, c.depth)  # [z ‖ domain] -> x
        self.classifier = mlp(c.shared_dim, c.hidden, c.classes, 1)  # z -> class logits (trained, unlike the reference)
        self.register_buffer("trained_steps", torch.tensor(0))  # training steps taken: the moving averages' age
        for domain, dim in enumerate(self.dims):
            self.register_buffer(f"mean_{domain}", torch.zeros(dim))
            self.register_buffer(f"std_{domain}", torch.ones(dim))
            self.register_buffer(f"residual_{domain}", torch.zeros(dim))  # standardised units
            # each class's shared codes in training: moving averages of z and z zᵀ, and how many batches fed them
            self.register_buffer(f"class_mean_{domain}", torch.zeros(c.classes, c.shared_dim))
            self.register_buffer(f"class_moment_{domain}", torch.zeros(c.classes, c.shared_dim, c.shared_dim))
            self.register_buffer(f"class_batches_{domain}", torch.zeros(c.classes))
            if c.beta_isometry and not self._expert_of(domain).can_decode():
                raise InvalidInputError(f"latent-vae: beta_isometry compares the outputs of both experts, but "
                                        f"{self._expert_of(domain).name!r} does not decode: set beta_isometry=0")
            if c.pullback and not self._expert_of(domain).can_encode():
                self.register_buffer(f"pullback_{domain}", torch.eye(dim))  # A [dim, dim], symmetric
                self.register_buffer(f"pullback_inverse_{domain}", torch.eye(dim))

    def domain_of(self, side: str) -> int:
        """The internal domain (0: trained source, 1: trained target) of this bridge's `side`."""
        return SIDES.index(side) ^ int(self.config.reverse)

    def _expert_of(self, domain: int):
        return getattr(self, SIDES[domain ^ int(self.config.reverse)])

    @torch.no_grad()
    def initialize(self, batch):
        """Each domain's standardisation from the first training batch: the spread of the inputs as
        training sees them (posterior means plus their resampling noise, when the data carries it), so
        that a latent dimension the source expert leaves unused is not blown up. With `pullback`, each
        generator's A first (the standardisation is of the mapped latents). A bridge that has trained keeps
        its own: its networks were trained in those units."""
        if self.trained_steps:
            return
        for side in SIDES:
            domain = self.domain_of(side)
            if hasattr(self, f"pullback_{domain}"):
                self._estimate_pullback(domain)
            x = self._mapped(batch[side].flatten(1), domain)
            variance = x.var(0)
            if f"{side}_logvar" in batch:
                variance = variance + batch[f"{side}_logvar"].flatten(1).exp().mean(0)
            getattr(self, f"mean_{domain}").copy_(x.mean(0))
            getattr(self, f"std_{domain}").copy_(variance.sqrt().clamp(min=1e-4))

    @torch.no_grad()
    def _estimate_pullback(self, domain: int) -> None:
        """A = E_z[JᵀJ]^½ of the domain's generator, by Hutchinson's estimator: for u ~ N(0, I) over the
        outputs, E[(Jᵀu)(Jᵀu)ᵀ] = JᵀJ, and Jᵀu is one backward pass of <u, outputs> (seeded draws)."""
        expert, generator = self._expert_of(domain), torch.Generator().manual_seed(0)
        metric = torch.zeros(self.dims[domain], self.dims[domain])
        for start in range(0, PULLBACK_SAMPLES, PULLBACK_BATCH):
            z = expert.sample_latents(min(PULLBACK_BATCH, PULLBACK_SAMPLES - start), generator)  # [b, *latent_shape]
            with torch.enable_grad(), torch.autocast(expert.device.type, enabled=False):
                z = z.to(expert.device).requires_grad_(True)
                outputs = expert.distance_view(expert.decode(z, grad=True)).float()
                u = torch.randn(outputs.shape, generator=generator).to(outputs.device)
                (projected,) = torch.autograd.grad((outputs * u).sum(), z)  # [b, ...]: Jᵀu per draw
            projected = projected.flatten(1).float().cpu()
            metric += projected.T @ projected
        values, vectors = torch.linalg.eigh(metric / PULLBACK_SAMPLES)
        values = values.clamp(min=values.max() * PULLBACK_FLOOR)
        getattr(self, f"pullback_{domain}").copy_(vectors @ torch.diag(values.sqrt()) @ vectors.T)
        getattr(self, f"pullback_inverse_{domain}").copy_(vectors @ torch.diag(values.rsqrt()) @ vectors.T)

    def _mapped(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """A domain's latents [B, dim] in the coordinates the VAE sees (A x with `pullback`, else x)."""
        return x @ getattr(self, f"pullback_{domain}") if hasattr(self, f"pullback_{domain}") else x

    def standardise(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """A domain's latents [B, dim] -> the standardised units the VAE reconstructs."""
        return (self._mapped(x, domain) - getattr(self, f"mean_{domain}")) / getattr(self, f"std_{domain}")

    def unstandardise(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """Standardised units [B, dim] -> the domain's latents."""
        x = x * getattr(self, f"std_{domain}") + getattr(self, f"mean_{domain}")
        return x @ getattr(self, f"pullback_inverse_{domain}") if hasattr(self, f"pullback_{domain}") else x

    def encode(self, x: torch.Tensor, domain: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A domain's latents [B, dim] -> (mean, log-variance) of the shared code, each [B, shared_dim]."""
        x = F.pad(self.standardise(x, domain), (0, max(self.dims) - x.shape[1]))  # [B, width]
        # fp32 under bf16 training too: near the prior the KL's terms cancel to less than bf16 resolves
        mean, logvar = self.encoder(torch.cat([x, self._one_hot(domain, len(x), x)], -1)).float().chunk(2, -1)
        return mean, logvar.clamp(-12, 8)

    def decode_standardised(self, z: torch.Tensor, domain: int) -> torch.Tensor:
        """Shared codes [B, shared_dim] -> the domain's latents [B, dim], in standardised units."""
        return self.decoder(torch.cat([z, self._one_hot(domain, len(z), z)], -1))[:, : self.dims[domain]]

    def training_step(self, batch):
        c, codes, losses = self.config, [], {}
        reconstruction = kl = classification = distortion = 0.0
        for side in SIDES:
            domain, x = self.domain_of(side), batch[side].flatten(1)  # [B, dim]
            if self.training and f"{side}_logvar" in batch:  # resample from the expert's posterior
                x = x + torch.randn_like(x) * (0.5 * batch[f"{side}_logvar"].flatten(1)).exp()
            mean, logvar = self.encode(x, domain)
            z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()  # [B, shared_dim]
            error = (self.decode_standardised(z, domain) - self.standardise(x, domain)).pow(2)  # [B, dim]
            reconstruction = reconstruction + error.mean()  # per element, as the reference
            if self.training:
                with torch.no_grad():
                    getattr(self, f"residual_{domain}").lerp_(error.mean(0), TRACKING)
            kl = kl + 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
            labels = batch[f"{side}_label"]
            if labels.max() >= c.classes:
                raise InvalidInputError(f"latent-vae: a {side} label is {labels.max().item()}, but classes={c.classes}: "
                                        "set --set classes=N to the number of classes")
            classification = classification + F.cross_entropy(self.classifier(z), labels)
            if self.training:
                self._track_classes(z.detach(), labels, domain)
            codes.append(z)
            if c.beta_isometry:
                rows = slice(0, c.isometry_rows)
                distortion = distortion + isometry(mean[rows], self._outputs(x[rows], domain), labels[rows])
        if self.training:
            self.trained_steps += 1
        swd = sliced_wasserstein(codes[0], codes[1], c.projections)
        loss = reconstruction + c.beta_kl * kl + c.beta_swd * swd + c.beta_cls * classification + c.beta_isometry * distortion
        if c.beta_isometry:
            losses["isometry"] = distortion.detach()
        losses.update(loss=loss, reconstruction=reconstruction.detach(), kl=kl.detach(), swd=swd.detach(),
                      classification=classification.detach())
        return losses

    @torch.no_grad()
    def _outputs(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        """A domain's latents [B, dim] -> its expert's outputs as distances see them [B, F], in fp32."""
        expert = self._expert_of(domain)
        with torch.autocast(expert.device.type, enabled=False):
            outputs = expert.distance_view(expert.decode(x.view(-1, *expert.latent_shape)))
        return outputs.flatten(1).float().to(x.device)

    @torch.no_grad()
    def _track_classes(self, z: torch.Tensor, labels: torch.Tensor, domain: int) -> None:
        """Moving averages of each class's shared codes z [B, shared_dim] and of their second moment, for the
        classes this batch holds (in fp32, also under mixed precision)."""
        with torch.autocast(z.device.type, enabled=False):
            z = z.float()
            one_hot = F.one_hot(labels, self.config.classes).float()  # [B, C]
            counts = one_hot.sum(0)  # [C]
            present = counts > 0
            means = (one_hot.T @ z)[present] / counts[present, None]  # [C', S]
            moments = torch.einsum("bc,bi,bj->cij", one_hot, z, z)[present] / counts[present, None, None]  # [C', S, S]
            for name, value in ((f"class_mean_{domain}", means), (f"class_moment_{domain}", moments)):
                tracked = getattr(self, name)
                tracked[present] = tracked[present].lerp(value, TRACKING)
            getattr(self, f"class_batches_{domain}")[present] += 1

    def class_statistics(self, domain: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A domain's tracked shared codes per class: mean [C, S], principal directions [C, S, S] (orthonormal
        columns, narrowest first), the standard deviation along each [C, S], and which classes training saw [C]
        (the averages corrected for their zero start)."""
        batches = getattr(self, f"class_batches_{domain}")
        weight = tracked_share(batches)  # [C]
        mean = getattr(self, f"class_mean_{domain}") / weight[:, None]
        covariance = getattr(self, f"class_moment_{domain}") / weight[:, None, None] - mean[:, :, None] * mean[:, None, :]
        values, vectors = torch.linalg.eigh(covariance)  # symmetric: a factorisation that cannot fail on rounding
        return mean, vectors, values.clamp(min=0).sqrt(), batches > 0

    def _class_codes(self, mean: torch.Tensor, noise: torch.Tensor, domain: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared codes [B * n, S] for source codes `mean` [B, S] and noise [B * n, S]: the centre of the class
        the shared classifier calls each source, plus `correlation` of the source's offset from that centre,
        plus sqrt(1 - correlation²) of a draw of the class's spread (shrunk where the shared classifier is less sure
        of the class than `class_confidence`), except along the class's `keep_widest` widest directions, where the
        whole offset is kept and nothing drawn; and which rows [B * n] had a class that training saw in this domain
        (the others are left to the caller)."""
        rho, n, widest = self.config.correlation, len(noise) // len(mean), self.config.keep_widest
        centres, directions, deviations, seen = self.class_statistics(domain)
        if not seen.any():
            raise UnsupportedOperationError("latent-vae: correlation < 1 draws from each class's shared codes, which "
                                            "training tracks: train the bridge first, or translate with correlation=1")
        classes = self.classifier(mean).argmax(-1).repeat_interleave(n)  # [B * n]
        centre, axes = centres[classes], directions[classes]  # [B * n, S], [B * n, S, S] (columns: widest last)
        offset = mean.repeat_interleave(n, 0) - centre  # [B * n, S]
        drawn = axes.shape[-1] - widest  # the directions a share of the class's spread is drawn along
        kept = centre + rho * offset  # [B * n, S]
        if widest:
            along = axes[:, :, drawn:]  # [B * n, S, k]
            kept = kept + (1 - rho) * (along @ (along.transpose(1, 2) @ offset[:, :, None]))[:, :, 0]  # whole along them
        scale = axes[:, :, :drawn] * deviations[classes][:, None, :drawn]  # [B * n, S, drawn]
        spread = (1 - rho**2) ** 0.5 * (scale @ noise[:, :drawn, None])[:, :, 0]  # [B * n, S]
        return self._shrink_unsure(kept, spread, classes), seen[classes]

    def _shrink_unsure(self, kept: torch.Tensor, spread: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Codes kept + s * spread [N, S]: s = 1, scaled row by row by CONFIDENCE_SHRINK (at most CONFIDENCE_TRIES
        times) while the shared classifier gives the row its class [N] a probability below `class_confidence`."""
        if not self.config.class_confidence:
            return kept + spread
        share = kept.new_ones(len(kept), 1)  # [N, 1]
        for _ in range(CONFIDENCE_TRIES):
            probability = self.classifier(kept + share * spread).softmax(-1).gather(1, classes[:, None])  # [N, 1]
            unsure = probability < self.config.class_confidence
            if not unsure.any():
                break
            share = torch.where(unsure, share * CONFIDENCE_SHRINK, share)
        return kept + share * spread

    def sample(self, source, n_samples, generator=None):
        c, source_domain, target_domain = self.config, self.domain_of("source"), self.domain_of("target")
        mean, logvar = self.encode(source.flatten(1), source_domain)  # [B, shared_dim] each
        noise = input_major_noise(len(source), n_samples, (c.shared_dim + self.dims[target_domain],), generator,
                                  source.device)  # [B * n, shared + T]
        z = mean.repeat_interleave(n_samples, 0) + noise[:, : c.shared_dim] * (0.5 * logvar).exp().repeat_interleave(n_samples, 0)
        if c.correlation < 1:  # rows whose class training never saw in the target keep the posterior draw
            drawn, seen = self._class_codes(mean, noise[:, : c.shared_dim], target_domain)
            z = torch.where(seen[:, None], drawn, z)
        residual = getattr(self, f"residual_{target_domain}") / tracked_share(self.trained_steps)  # [T], standardised units
        spread = c.residual_noise * residual.sqrt()
        x = self.decode_standardised(z, target_domain) + noise[:, c.shared_dim :] * spread  # [B * n, T]
        return self.unstandardise(x, target_domain).view(-1, *self.target_shape)

    def reversed(self) -> LatentVAE:
        """The same weights, translating the other way (target -> source)."""
        config = {**dataclasses.asdict(self.config), "reverse": not self.config.reverse}
        with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten: draw no numbers of the caller's
            other = type(self)(self.target, self.source, auxiliary=dict(self.auxiliary), **config)
        other.load_state_dict(self.state_dict())
        return other.train(self.training)

    def _one_hot(self, domain: int, rows: int, like: torch.Tensor) -> torch.Tensor:
        return F.one_hot(torch.full((rows,), domain, device=like.device), 2).to(like.dtype)  # [rows, 2]
