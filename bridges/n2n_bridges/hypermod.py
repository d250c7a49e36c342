"""Strategy `hypermod`: an unconditional GAN made class-conditional by a hypernetwork that modulates its
frozen weights.

Laria, Wang, van de Weijer, Raducanu, "Transferring Unconditional to Conditional GANs with
Hyper-Modulation", CVPR Workshops 2022 (arXiv:2112.02219). A learned code per class feeds a hypernetwork
that predicts, for every linear and convolutional layer of the frozen generator (but those named in
`unmodulated`, as the paper leaves StyleGAN's mapping network and to-RGB layers), a scale γ and shift β
applied to its standardised weights, W_c = μ + σ·(W_std ⊙ γ + β) (W_std: W standardised per output
filter, the slice along its first dimension, its second in a transposed convolution), and a shift of its
bias. The generator runs with W_c through `torch.func.functional_call`: any torch generator an expert
decodes with, never written to.

- Modulation granularity (`modulation`): "channel" (default) factorises γ and β per layer into an output-
  and an input-channel part, γ = (1 + s_out)(1 + s_in)ᵀ, β = t_out + t_inᵀ, so that the hypernetwork
  stays near the generator's size; "full" predicts one γ and β per (output, input) channel pair as the
  paper does — its output layer alone is ~60× the digits generator (the reference's, 10× StyleGAN's).
- Self-alignment without data (`initialize`): the hypernetwork starts random; one class code and the
  hypernetwork are fitted so that the modulated generator reproduces the frozen generator's layer
  outputs (L1, same z), then that code is copied to every class: training starts at the source GAN.
- Adversarial training: the expert's own discriminator (`Expert.discriminator`; a small convolutional
  one trained from scratch when it ships none) with its output layer widened to one head per class,
  non-saturating loss + R1, and a Barlow-Twins term on its penultimate features of two augmented views
  of the real images. Each class's images are judged as a batch of their own (`class_batches`), so that
  a discriminator with minibatch statistics sees a class collapsing onto one drawing; the bridge keeps
  an exponential moving average of the codes and hypernetwork (`ema`), as GAN generators do.
- Each step renders equally many fakes of every class (of `batch_size` random classes when there are
  more), uniformly over classes whatever the real batch holds, so that the classes' generators run as
  one batched call (`Expert.decode_variants`, through `torch.func.vmap`) and so do the discriminator's
  class batches of fakes (`vectorize`; a loop over the classes otherwise, the same arithmetic; random
  operations inside, such as noise injection, draw the same numbers for every class).
- One loss for the one trainer: the discriminator scores fakes detached from the generator for its own
  loss, and the generator's loss runs the discriminator with detached weights, so each side's gradients
  come from its own loss alone (a simultaneous update). Learning rates come from the config (the
  reference silently ignored its `--lr` flag). Defaults are the paper's where they worked on digits and
  measured values where they did not (each field says which).

The saved bridge holds the class codes and hypernetwork (their moving average); the discriminator and
the average exist only in training (`training_only`): training checkpoints include them and the
optimiser's state.
"""

from __future__ import annotations

import dataclasses
import fnmatch

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from n2n.batching import batchable, vmapped
from n2n.errors import InvalidInputError, UnsupportedOperationError, first_few
from n2n.expert import Expert
from n2n.images import random_translations
from n2n.progress import logger, progress_bar
from n2n.strategy import LoopConfig, Strategy, input_major_noise

from .cinn import mlp

VECTORIZE_HINT = (": run one class at a time with vectorize=False: `n2n train`/`n2n translate --set vectorize=false`, "
                  "or `bridge.with_settings(vectorize=False)`")
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)  # weights [in, out, *kernel]
MODULATED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, *TRANSPOSED)


@dataclasses.dataclass
class HypermodConfig(LoopConfig):
    modulation: str = "channel"  # "channel" (separable per output and input channel) or "full" (per pair)
    unmodulated: tuple = ()  # generator layers left as they are, by name or shell-style pattern; a module's name
    # covers its layers ("mapping"): the paper leaves StyleGAN's mapping network and to-RGB layers unmodulated (the
    # default modulates every layer: the digits and faces GANs have neither, their last convolution draws the image)
    code_dim: int = 64  # the class code (the paper: 64)
    hidden: int = 256  # width of the hypernetwork (ours)
    depth: int = 4  # hidden layers of the hypernetwork, so 5 linear layers (the paper: "a 4-layer MLP"; if it counts linear layers, that is depth=3)
    lr: float = 2e-4  # hypernetwork (the paper: 0.002; measured on digits: 0.002 collapses every class onto one)
    code_lr: float = 2e-3  # class codes (the paper: far lower than the hypernetwork's; measured on digits: ten
    # times higher separates the classes, which all start from the one aligned code, within 1,000 steps)
    d_lr: float = 1e-3  # discriminator (the paper: 0.002; measured on digits: 0.0002 lets each class collapse onto one drawing)
    r1: float = 0.2  # R1 penalty weight on real images (the paper: 10 at 256 pixels; the digits GAN's own: 0.2)
    contrastive: float = 0.01  # Barlow-Twins term on the discriminator's penultimate features, per feature (the
    # paper: 0.01 on the sum over features; measured on digits, that weight lowered diversity from 0.67 to 0.60)
    class_batches: bool = True  # the discriminator sees each class's images as a batch of their own, so that
    # its batch statistics (minibatch spread) measure diversity within a class (measured on digits: relative
    # diversity 0.67 -> 0.72 at batch 32)
    vectorize: bool = True  # run the classes' generators (and, with class_batches, the discriminator's class
    # batches) as one batched call through torch.func.vmap (ours: the same arithmetic, ~N× fewer calls); off for
    # a network with an operation vmap cannot batch
    shift: float = 0.125  # augmentation: random translations up to this share of the image size (the digits GAN's)
    init_scale: float = 0.1  # the hypernetwork's output layer starts at this share of its default initialisation
    # (ours: small, so that self-alignment converges; 0 starts every class exactly at the frozen generator)
    align_steps: int = dataclasses.field(default=500, metadata={"minimum": 0})  # self-alignment steps before adversarial training (measured on digits: 200 reach 1e-3)
    align_lr: float = 1e-3  # Adam, cosine-annealed over the alignment steps (ours)
    ema: float = 0.99  # decay of the moving average of the codes and hypernetwork that the bridge keeps (ours;
    # measured on digits at 1,000 steps: 0.99 gave diversity 0.79 and 0.995, which lags further, 0.74)
    batch_size: int = dataclasses.field(default=64, metadata={"minimum": 2})  # the paper: 10 (measured on digits: 64 gives each class's batch more items to compare)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.ema < 1:
            raise InvalidInputError(f"hypermod: ema is the moving average's decay, in [0, 1) (1 would never move), got {self.ema}")


@dataclasses.dataclass(frozen=True)
class Layer:
    """One modulated layer of the generator: its weight's name and shape, and its bias's name."""

    weight: str
    shape: tuple[int, ...]  # [d0, d1, *kernel]
    bias: str | None
    outputs: int  # hypernetwork outputs this layer takes
    output_dim: int  # the weight's output-channel dimension (1 for transposed convolutions)


class ConvDiscriminator(nn.Module):
    """A small discriminator for generators that ship none: image [B, C, H, W] -> realness logit [B, 1]; the
    batch's standard deviation joins the last features (a generator that collapses is easy to spot)."""

    def __init__(self, channels: int, size: tuple[int, int], width: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        (height, breadth), inputs = size, channels
        while min(height, breadth) > 4:  # halve to at most 4 pixels
            layers += [nn.Conv2d(inputs, width, 4, 2, 1), nn.LeakyReLU(0.2)]
            inputs, height, breadth, width = width, height // 2, breadth // 2, min(2 * width, 512)
        self.features = nn.Sequential(*layers, nn.Flatten())  # [B, inputs * height * breadth]
        self.head = nn.Linear(inputs * height * breadth + 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images * 2 - 1)  # [B, F]
        spread = (features.var(0, unbiased=False) + 1e-8).sqrt().mean().expand(len(features), 1)  # [B, 1]
        return self.head(torch.cat([features, spread], dim=-1))


class Conditioning(nn.Module):
    """What the saved bridge holds: a code per class [classes, code_dim] and the hypernetwork."""

    def __init__(self, classes: int, code_dim: int, hidden: int, outputs: int, depth: int, init_scale: float):
        super().__init__()
        self.codes = nn.Parameter(torch.randn(classes, code_dim))  # self-alignment sets one code for all
        self.hypernet = mlp(code_dim, hidden, outputs, depth)
        self.register_buffer("aligned", torch.tensor(False))  # self-alignment ran (not again on further training)
        with torch.no_grad():
            self.hypernet[-1].weight.mul_(init_scale)
            self.hypernet[-1].bias.mul_(init_scale)


class Hypermod(Strategy):
    """Label -> class-conditional samples of an unconditional GAN whose weights a hypernetwork modulates."""

    name = "hypermod"
    needs = "in_the_loop"
    Config = HypermodConfig
    sampling_settings = ("vectorize",)  # the same arithmetic either way
    training_only = ("discriminator", "average")
    paper = {
        "arxiv": "2112.02219",
        "title": "Transferring Unconditional to Conditional GANs with Hyper-Modulation",
        "citation": "@inproceedings{laria2022hypermodulation,\n  title={Transferring Unconditional to Conditional GANs "
                    "with Hyper-Modulation},\n  author={Laria, H{\\'e}ctor and Wang, Yaxing and van de Weijer, Joost and "
                    "Raducanu, Bogdan},\n  booktitle={CVPR Workshops},\n  year={2022}\n}",
    }

    def __init__(self, source: Expert, target: Expert, **config):
        super().__init__(source, target, **config)
        if self.config.modulation not in ("channel", "full"):
            raise InvalidInputError(f"hypermod: modulation must be 'channel' or 'full', got {self.config.modulation!r}")
        if source.modality != "label":
            raise InvalidInputError(f"hypermod conditions a generator on classes: its source must be a label expert, not {source.name!r} "
                                    f"({source.modality})")
        self.layers = self._layers(target)
        if not self.layers:
            raise InvalidInputError(f"hypermod: expert {target.name!r}'s decoder has no linear or convolutional layer to modulate"
                                    + (f" that unmodulated {list(self.config.unmodulated)} leaves" if self.config.unmodulated else ""))
        c = self.config
        self.conditioning = Conditioning(self.source_dim, c.code_dim, c.hidden, sum(layer.outputs for layer in self.layers), c.depth,
                                         c.init_scale)

    def _layers(self, target: Expert) -> list[Layer]:
        """The decoder's linear and convolutional layers whose weight is a plain parameter (a weight that a
        parametrisation such as spectral norm recomputes cannot be replaced, and is left as it is), but those
        named in `unmodulated`."""
        candidates = {name: module for name, module in target.decoder.named_modules() if isinstance(module, MODULATED)}
        patterns = self.config.unmodulated
        if not all(isinstance(pattern, str) for pattern in patterns):  # a list or tuple (`make_config` checks)
            raise InvalidInputError(f"hypermod: unmodulated is a list of layer names or patterns, such as [\"mapping\"], got {list(patterns)!r}")
        matched = {pattern: [name for name in candidates if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, f"{pattern}.*")]
                   for pattern in patterns}
        if unmatched := [pattern for pattern, names in matched.items() if not names]:
            shown = ", ".join(list(candidates)[:12]) + (f" and {len(candidates) - 12} more" if len(candidates) > 12 else "")
            raise InvalidInputError(f"hypermod: unmodulated {unmatched} matches no linear or convolutional layer of {target.name!r}'s "
                                    f"decoder; its layers: {shown}")
        excluded = {name for names in matched.values() for name in names}
        parameters, layers, skipped = dict(target.decoder.named_parameters()), [], []
        for name, module in candidates.items():
            if name in excluded:
                continue
            if f"{name}.weight" not in parameters:
                skipped.append(name)
                continue
            d0, d1 = module.weight.shape[:2]
            bias = f"{name}.bias" if f"{name}.bias" in parameters else None
            pairs = d0 * d1 if self.config.modulation == "full" else d0 + d1
            outputs = 2 * pairs + (module.bias.numel() if bias else 0)
            layers.append(Layer(f"{name}.weight", tuple(module.weight.shape), bias, outputs, int(isinstance(module, TRANSPOSED))))
        if skipped:
            logger.warning("hypermod: %d layers of %s have no plain weight parameter and stay unmodulated: %s",
                           len(skipped), target.name, first_few(skipped, 5))
        return layers

    # -- the modulated generator ----------------------------------------------------------------------
    def active(self) -> Conditioning:
        """The weights that render: the moving average of training's, once there is one, outside training."""
        average = self._modules.get("average")
        return average.module if average is not None and not self.training and average.n_averaged > 0 else self.conditioning

    def modulated(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class codes [K, code_dim] -> the generator's modulated weights and biases by name, each [K, *shape]."""
        frozen = dict(self.target.decoder.named_parameters())
        outputs = self.active().hypernet(codes).split([layer.outputs for layer in self.layers], dim=-1)  # [K, outputs] each
        tensors = {}
        for layer, out in zip(self.layers, outputs):
            weight, (d0, d1), k = frozen[layer.weight], layer.shape[:2], len(codes)
            others = [dim for dim in range(weight.ndim) if dim != layer.output_dim]
            unbiased = weight.numel() > weight.shape[layer.output_dim]  # a one-weight filter has no unbiased spread
            mean, std = weight.mean(others, keepdim=True), weight.std(others, keepdim=True, unbiased=unbiased) + 1e-8  # per output filter
            centred = weight - mean  # σ·W_std [d0, d1, *kernel]
            if self.config.modulation == "full":
                scale, shift, rest = out.split([d0 * d1, d0 * d1, out.shape[1] - 2 * d0 * d1], dim=1)
                scale, shift = 1 + scale.view(k, d0, d1), shift.view(k, d0, d1)
            else:
                s0, s1, t0, t1, rest = out.split([d0, d1, d0, d1, out.shape[1] - 2 * (d0 + d1)], dim=1)
                scale, shift = (1 + s0)[:, :, None] * (1 + s1)[:, None], t0[:, :, None] + t1[:, None]  # [K, d0, d1]
            kernel = (k, d0, d1) + (1,) * (weight.ndim - 2)
            offset = mean + std * shift.view(kernel)  # μ + σ·β [K, d0, d1, 1...]
            tensors[layer.weight] = torch.addcmul(offset, centred, scale.view(kernel))  # μ + σ·(W_std ⊙ γ + β)
            if layer.bias is not None:
                tensors[layer.bias] = frozen[layer.bias] + rest  # [K, n]
        return tensors

    def render(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """z [B, *T] and class vectors [B, classes] (one-hot, or mixtures) -> outputs, each row through the
        generator modulated by its class's code."""
        unique, which = classes.unique(dim=0, return_inverse=True)  # [K, classes], [B]
        modulated = self.modulated(unique @ self.active().codes)  # name -> [K, *shape]
        order = which.argsort(stable=True)  # rows grouped by class
        sizes = torch.bincount(which, minlength=len(unique)).tolist()
        if self.config.vectorize and len(set(sizes)) == 1:  # equal groups: one batched call for every class
            outputs = self._render_groups(z[order].view(len(unique), sizes[0], *z.shape[1:]), modulated).flatten(0, 1)
        else:
            outputs = torch.cat([self.target.decode(group, grad=True, parameters={name: tensor[k] for name, tensor in modulated.items()})
                                 for k, group in enumerate(z[order].split(sizes))])
        return outputs[order.argsort()]  # back in the rows' order

    def _render_groups(self, z: torch.Tensor, modulated: dict[str, torch.Tensor]) -> torch.Tensor:
        """z [K, m, *T] and K classes' modulated weights (name -> [K, *shape]) -> outputs [K, m, ...], the
        K generators run as one batched call (`Expert.decode_variants`)."""
        try:
            return self.target.decode_variants(z, modulated, grad=True)
        except UnsupportedOperationError as exc:
            raise UnsupportedOperationError(f"hypermod: {exc}{VECTORIZE_HINT}") from exc

    def sample(self, source, n_samples, generator=None):
        return input_major_noise(len(source), n_samples, self.target_shape, generator, source.device)  # z [B * n, *T]

    def decode(self, latents, source):
        return self.render(latents, source).detach()

    # -- self-alignment -------------------------------------------------------------------------------
    def _layer_outputs(self, z: torch.Tensor, parameters: dict[str, torch.Tensor] | None) -> list[torch.Tensor]:
        """The output of every modulated layer, and the generator's, for z."""
        captured: list[torch.Tensor] = []
        names = {layer.weight.removesuffix(".weight") for layer in self.layers}
        hooks = [module.register_forward_hook(lambda _m, _i, out: captured.append(out))
                 for name, module in self.target.decoder.named_modules() if name in names]
        try:
            output = self.target.decode(z, grad=parameters is not None, parameters=parameters)
        finally:
            for hook in hooks:
                hook.remove()
        return [*captured, output]

    def alignment_error(self, n: int = 256, seed: int = 0, classes: list[int] | None = None) -> float:
        """Max |modulated - frozen| over n generator outputs of each of `classes` (default: all; fresh z)."""
        z = torch.randn(n, *self.target_shape, generator=torch.Generator().manual_seed(seed)).to(self.conditioning.codes.device)
        with torch.no_grad():
            frozen = self.target.decode(z)
            return max((self.render(z, F.one_hot(torch.full((n,), c, device=z.device), self.source_dim).float()) - frozen)
                       .abs().max().item() for c in (range(self.source_dim) if classes is None else classes))

    def initialize(self, batch):
        if "real" not in batch:
            raise InvalidInputError(
                f"hypermod trains against real {self.target.modality} items of each class: the dataset needs a "
                f"field of the target's modality beside 'label'"
            )
        if self.conditioning.aligned:
            return  # a trained (or loaded) bridge trains on from where it is
        code = nn.Parameter(torch.randn(self.config.code_dim, device=self.conditioning.codes.device))
        optimizer = torch.optim.Adam([code, *self.conditioning.hypernet.parameters()], lr=self.config.align_lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, self.config.align_steps))
        for _ in progress_bar(range(self.config.align_steps), desc="self-alignment", leave=False):
            z = torch.randn(self.config.batch_size, *self.target_shape, device=code.device)
            with torch.no_grad():
                frozen = self._layer_outputs(z, None)
            modulated = self._layer_outputs(z, {name: t[0] for name, t in self.modulated(code[None]).items()})
            loss = torch.stack([F.l1_loss(m, f) for m, f in zip(modulated, frozen)]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        with torch.no_grad():
            self.conditioning.codes.copy_(code.expand_as(self.conditioning.codes))
            self.conditioning.aligned.fill_(True)
        logger.info("hypermod self-alignment: max |modulated - frozen| = %.2e (every class shares this code)",
                    self.alignment_error(classes=[0]))

    # -- adversarial training -------------------------------------------------------------------------
    def setup_training(self):
        pretrained = self.target.discriminator()
        if pretrained is None:
            if self.target.modality != "image" or self.target.image_size is None:
                raise InvalidInputError(f"hypermod: expert {self.target.name!r} ships no discriminator and is not a fixed-size image generator")
            pretrained = ConvDiscriminator(self.target.image_channels or 3, tuple(self.target.image_size))
        head = pretrained.head
        if not isinstance(head, nn.Linear):
            raise InvalidInputError(f"hypermod: the discriminator of {self.target.name!r} must end in an nn.Linear `head`")
        heads = nn.Linear(head.in_features, self.source_dim)  # one realness head per class, each the pretrained one
        with torch.no_grad():
            heads.weight.copy_(head.weight.expand_as(heads.weight))
            heads.bias.copy_(head.bias.expand_as(heads.bias))
        pretrained.head = heads
        self.discriminator = pretrained.requires_grad_(True).train()
        self.average = AveragedModel(self.conditioning, multi_avg_fn=get_ema_multi_avg_fn(self.config.ema)).requires_grad_(False)

    def bridge_state_dict(self):
        state = super().bridge_state_dict()
        if self._modules.get("average") is not None and self.average.n_averaged > 0:  # the averaged weights are the bridge
            state |= {f"conditioning.{name}": value for name, value in self.average.module.named_parameters()}
        return state

    def after_step(self):
        self.average.update_parameters(self.conditioning)

    def optimizer(self):
        if "discriminator" not in self._modules:
            raise UnsupportedOperationError("hypermod trains with a discriminator: call setup_training() first (the trainer does)")
        c = self.config
        groups = [{"params": self.conditioning.hypernet.parameters(), "lr": c.lr},
                  {"params": [self.conditioning.codes], "lr": c.code_lr},
                  {"params": self.discriminator.parameters(), "lr": c.d_lr}]
        return torch.optim.Adam(groups, betas=(0.0, 0.99))

    def _judge(self, images: torch.Tensor, labels: torch.Tensor, parameters=None) -> torch.Tensor:
        """Realness logits [B] of images under their class's head; with `class_batches`, the discriminator sees
        each class's images as a batch of their own (its batch statistics then measure one class)."""
        if not self.config.class_batches:
            return self._discriminate(images, parameters).gather(1, labels[:, None])[:, 0]
        order = labels.argsort(stable=True)
        sizes = torch.bincount(labels[order]).tolist()
        logits = torch.cat([self._discriminate(group, parameters)[:, c] for c, group in enumerate(images[order].split(sizes)) if len(group)])
        return logits[order.argsort()]

    def _judge_groups(self, images: torch.Tensor, classes: torch.Tensor, parameters=None) -> torch.Tensor:
        """Realness logits [K, m] of images [K, m, C, H, W], group k being of class classes[k]: each group
        judged as a batch of its own under its class's head, the K groups in one batched call."""
        if not self.config.class_batches or not self.config.vectorize:
            labels = classes.repeat_interleave(images.shape[1])
            return self._judge(images.flatten(0, 1), labels, parameters).view(images.shape[:2])
        with batchable(f"hypermod: the discriminator of {self.target.name!r}", VECTORIZE_HINT):
            logits = vmapped(lambda group: self._discriminate(group, parameters))(images)  # [K, m, heads]
        return logits.gather(2, classes[:, None, None].expand(-1, images.shape[1], 1))[..., 0]  # [K, m]

    def _discriminate(self, images: torch.Tensor, parameters=None) -> torch.Tensor:
        """Every head's realness logits [B, heads] (with `parameters`: the discriminator's weights replaced)."""
        d = self.discriminator
        return (d(images) if parameters is None else torch.func.functional_call(d, parameters, (images,))).reshape(len(images), -1)

    def _fake_classes(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """The classes a step renders fakes of, equally many of each (so that they batch in one call): every
        class, or a random `batch_size` of them when there are more classes than that."""
        if self.source_dim <= batch_size:
            return torch.arange(self.source_dim, device=device)
        return torch.randperm(self.source_dim, device=device)[:batch_size].sort().values

    def _penultimate(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's features entering its head, [B, F]."""
        captured = []
        hook = self.discriminator.head.register_forward_pre_hook(lambda _module, inputs: captured.append(inputs[0]))
        try:
            self.discriminator(images)
        finally:
            hook.remove()
        return captured[0]

    def training_step(self, batch):
        real, labels = batch["real"], batch["label"]  # [B, C, H, W], [B]
        drawn = self._fake_classes(len(labels), labels.device)  # [K]: equally many fakes of each
        per_class = -(-len(labels) // len(drawn))
        z = torch.randn(len(drawn) * per_class, *self.target_shape, device=labels.device)
        fake_classes = F.one_hot(drawn, self.source_dim).float().repeat_interleave(per_class, 0)  # [K * m, classes]
        fake = self.render(z, fake_classes)  # [K * m, C, H, W], gradients into the codes and hypernetwork

        real_in = random_translations(real, self.config.shift).requires_grad_(True)
        real_logits = self._judge(real_in, labels)
        (gradient,) = torch.autograd.grad(real_logits.sum(), real_in, create_graph=True)
        r1 = gradient.pow(2).flatten(1).sum(1).mean()
        grouped = (len(drawn), per_class, *fake.shape[1:])  # [K, m, C, H, W]
        fake_logits = self._judge_groups(random_translations(fake.detach(), self.config.shift).view(grouped), drawn)
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

        twins = (barlow_twins(*(self._penultimate(random_translations(real, self.config.shift)) for _ in range(2)))
                 if self.config.contrastive else d_loss.new_zeros(()))

        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        g_loss = F.softplus(-self._judge_groups(random_translations(fake, self.config.shift).view(grouped), drawn, frozen)).mean()
        loss = d_loss + 0.5 * self.config.r1 * r1 + self.config.contrastive * twins + g_loss
        return {"loss": loss, "d": d_loss, "g": g_loss, "r1": r1.detach(), "twins": twins.detach()}


def barlow_twins(a: torch.Tensor, b: torch.Tensor, off_diagonal: float = 5e-3) -> torch.Tensor:
    """Barlow Twins (Zbontar et al. 2021) between two views' features a, b [B, F]: the cross-correlation
    of the batch-standardised features pulled to the identity, per feature (so that its weight does not
    depend on the discriminator's width)."""
    a, b = (x.float() for x in (a, b))  # fp32 under bf16 training too: 1 - diagonal is small
    a, b = ((x - x.mean(0)) / (x.std(0) + 1e-4) for x in (a, b))
    with torch.autocast(a.device.type, enabled=False):
        correlation = a.T @ b / len(a)  # [F, F]
    diagonal = correlation.diagonal()
    return ((1 - diagonal).pow(2).sum() + off_diagonal * (correlation.pow(2).sum() - diagonal.pow(2).sum())) / len(diagonal)
