"""n2n-plugin-speech: spoken digits, n2n's first sound, offline.

Dataset `spoken-digits` (the ten digit words spoken by espeak-ng, split by voice) and experts
`digits-speech` (a VAE over log-mel spectrograms; decodes to sound by Griffin-Lim) and
`digits-speech-classifier`; `n2n demo speech` translates handwritten digits into spoken ones and back
with a `latent-vae` bridge. The clips and weights ship with the package;
`python -m n2n_plugin_speech.make_dataset` (needs espeak-ng) and `.train` reproduce them
(`--replace-shipped`; `--out DIR` elsewhere).
"""

from n2n import hookimpl

from .data import SpokenDigitsDataset
from .demo import SpeechDemo
from .experts import SpokenDigitsClassifierExpert, SpokenDigitsExpert


@hookimpl
def register_experts(register):
    register(SpokenDigitsExpert)
    register(SpokenDigitsClassifierExpert)


@hookimpl
def register_datasets(register):
    register(SpokenDigitsDataset)


@hookimpl
def register_demos(register):
    register(SpeechDemo)
