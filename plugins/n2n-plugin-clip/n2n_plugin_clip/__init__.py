"""n2n experts `clip-text` and `clip-image`: CLIP (transformers' CLIPModel) in its joint embedding space.

Both encode into the same space (the projected, L2-normalised embeddings CLIP compares by cosine), so a
bridge trained from one also reads the other. Preprocessing comes from the checkpoint's processor
(tokenizer; image resize, crop and normalisation). Default: `openai/clip-vit-base-patch32`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from n2n import Expert, hookimpl
from n2n.hub.weights import check_complete
from n2n.progress import quiet

DEFAULT = "openai/clip-vit-base-patch32"


class _CLIPExpert(Expert):
    latent_shape = (512,)  # clip-vit-base-patch32's projection; other checkpoints report theirs once loaded
    default_checkpoint = DEFAULT
    hub_allow_patterns = ("*.json", "*.txt", "model.safetensors")
    required_files = ("config.json", "model.safetensors")
    dtypes = (torch.float32, torch.bfloat16, torch.float16)  # half precision halves memory and time on GPUs

    def _load(self, path: Path) -> None:
        # transformers loads with the weights, not when the registry lists experts (seconds at every start)
        from transformers import CLIPModel, CLIPProcessor
        from transformers.utils import logging as transformers_logging

        with quiet(transformers_logging):
            self.model, loading_info = CLIPModel.from_pretrained(path, use_safetensors=True, output_loading_info=True)
            self.processor = CLIPProcessor.from_pretrained(path)
        check_complete(path, loading_info)
        self.latent_shape = (self.model.config.projection_dim,)


class CLIPTextExpert(_CLIPExpert):
    """Text -> CLIP's joint embedding (projected, L2-normalised)."""

    name = "clip-text"
    modality = "text"

    def _encode(self, texts: list[str]) -> torch.Tensor:
        limit = self.processor.tokenizer.model_max_length
        lengths = [len(ids) for ids in self.processor.tokenizer(texts)["input_ids"]]
        if (long := sum(length > limit for length in lengths)):
            self._warn_truncated(long, limit)
        batch = self.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        return _embedding(self.model.get_text_features(**batch))


class CLIPImageExpert(_CLIPExpert):
    """Images -> CLIP's joint embedding (projected, L2-normalised)."""

    name = "clip-image"
    modality = "image"
    image_channels = 3

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.processor.image_processor(images=list(images.cpu()), do_rescale=False, return_tensors="pt")
        return _embedding(self.model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))


def _embedding(features) -> torch.Tensor:
    """CLIP's projected features (a tensor, or an output object in newer transformers) -> unit vectors [B, D]."""
    tensor = features if isinstance(features, torch.Tensor) else features.pooler_output
    return torch.nn.functional.normalize(tensor, dim=-1)


@hookimpl
def register_experts(register):
    register(CLIPTextExpert)
    register(CLIPImageExpert)
