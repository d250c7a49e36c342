"""n2n-plugin-digits: n2n's embedded default world, built on scikit-learn's handwritten digits.

Experts `digits` (a small VAE), `digits-classifier` and `digits-gan`; datasets `digits` and `digits-captions`; the
default `n2n demo` scene (text -> digits), `n2n demo transfer` (VAE <-> GAN, no pairs) and `n2n demo
hypermod` (label -> GAN, from 10% of the labels). The
weights ship with the package; `python -m n2n_plugin_digits.train` reproduces them.
"""

from n2n import hookimpl

from .data import DigitsCaptionsDataset, DigitsDataset
from .demo import DigitsDemo
from .experts import DigitsClassifierExpert, DigitsExpert, DigitsGANExpert
from .hypermod_demo import HypermodDemo
from .transfer_demo import TransferDemo


@hookimpl
def register_experts(register):
    register(DigitsExpert)
    register(DigitsClassifierExpert)
    register(DigitsGANExpert)


@hookimpl
def register_datasets(register):
    register(DigitsDataset)
    register(DigitsCaptionsDataset)


@hookimpl
def register_demos(register):
    register(DigitsDemo)
    register(TransferDemo)
    register(HypermodDemo)
