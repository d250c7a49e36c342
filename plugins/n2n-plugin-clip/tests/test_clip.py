"""Experts `clip-text` and `clip-image` on a tiny random CLIP written with transformers' save_pretrained."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

import n2n
from n2n.testing import ExpertTests


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A random CLIP (projection 24) with a character-level tokenizer and a 32-px image processor."""
    directory = tmp_path_factory.mktemp("clip")
    characters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    vocab = {token: index for index, token in enumerate(characters + [c + "</w>" for c in characters])}
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=16)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(directory)
    end = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                         max_position_embeddings=16, eos_token_id=end, bos_token_id=end - 1, pad_token_id=end),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=24,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(directory)
    return directory


class TestCLIPText(ExpertTests):
    expert_name = "clip-text"

    @pytest.fixture
    def checkpoint_dir(self, tiny_clip):
        return tiny_clip

    @pytest.fixture
    def inputs(self):
        return ["a cat", "two dogs", "a photo of 7 birds"]


class TestCLIPImage(ExpertTests):
    expert_name = "clip-image"

    @pytest.fixture
    def checkpoint_dir(self, tiny_clip):
        return tiny_clip

    @pytest.fixture
    def inputs(self):
        return torch.rand(3, 3, 40, 56, generator=torch.Generator().manual_seed(0))


def test_both_encode_clips_normalised_projections(tiny_clip):
    """The experts give CLIP's own projected features, L2-normalised, so text and image compare by dot product."""
    picture = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    text = n2n.load_expert("clip-text", checkpoint=tiny_clip).encode(["a cat"])
    image = n2n.load_expert("clip-image", checkpoint=tiny_clip).encode(picture)
    model, processor = CLIPModel.from_pretrained(tiny_clip).eval(), CLIPProcessor.from_pretrained(tiny_clip)
    with torch.no_grad():
        inputs = processor(text=["a cat"], images=list(picture), do_rescale=False, return_tensors="pt", padding=True)
        expected_text = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        expected_image = model.get_image_features(pixel_values=inputs["pixel_values"])
    for got, expected in ((text, expected_text), (image, expected_image)):
        expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
        torch.testing.assert_close(got, torch.nn.functional.normalize(expected, dim=-1), atol=1e-5, rtol=1e-4)
