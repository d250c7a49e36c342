"""n2n's built-in bridge strategies, registered through the same hook as any plugin's."""

from n2n import hookimpl

from .cinn import CINN
from .class_embed import ClassEmbed
from .closed_form import Affine, Procrustes
from .flow import Flow
from .hypermod import Hypermod
from .latent_vae import LatentVAE
from .mlp import MLP


@hookimpl
def register_strategies(register):
    register(Affine)
    register(CINN)
    register(ClassEmbed)
    register(Flow)
    register(Hypermod)
    register(LatentVAE)
    register(MLP)
    register(Procrustes)
