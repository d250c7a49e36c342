"""n2n-plugin-digits: n2n's embedded default world, built on scikit-learn's handwritten digits.

Experts `digits` (a small VAE), `digits-classifier`, `digits-gan`, `digits-cgan` and `digits-cgan-starved`;
datasets `digits` and `digits-captions`; the default `n2n demo` scene (text -> digits), `n2n demo transfer`
(VAE <-> GAN, no pairs), `n2n demo hypermod` (label -> GAN, from 10% of the labels) and `n2n demo
class-embed` (a class-conditional GAN re-purposed and repaired). The weights ship with the package;
`python -m n2n_plugin_digits.train`, `.train_gan` and `.train_cgan` reproduce them (`--replace-shipped`;
`--out DIR` elsewhere).
"""

from n2n import hookimpl

from .class_embed_demo import ClassEmbedDemo
from .data import DigitsCaptionsDataset, DigitsDataset
from .demo import DigitsDemo
from .experts import DigitsCGANExpert, DigitsClassifierExpert, DigitsExpert, DigitsGANExpert, DigitsStarvedCGANExpert
from .hypermod_demo import HypermodDemo
from .transfer_demo import TransferDemo


@hookimpl
def register_experts(register):
    register(DigitsExpert)
    register(DigitsClassifierExpert)
    register(DigitsGANExpert)
    register(DigitsCGANExpert)
    register(DigitsStarvedCGANExpert)


@hookimpl
def register_datasets(register):
    register(DigitsDataset)
    register(DigitsCaptionsDataset)


@hookimpl
def register_demos(register):
    register(DigitsDemo)
    register(TransferDemo)
    register(HypermodDemo)
    register(ClassEmbedDemo)
