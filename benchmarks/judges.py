"""An independent judge of the digits world for the benchmarks: an RBF support-vector machine on pixels,
trained here on the train split. `digits-classifier` labels the GAN's draws, and class-embed optimises
against it; an output that convinces that network without drawing the digit shows as a gap between the two
judges."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class PixelSVM:
    """The judge, with an n2n classifier expert's `classify`: images [B, 1, 8, 8] in [0, 1] -> one-hot logits."""

    name = "an RBF SVM on pixels"
    modality, image_channels, image_size = "image", 1, (8, 8)  # what it reads, as `check_judge` asks of a judge

    def __init__(self) -> None:
        from sklearn.svm import SVC

        from n2n_plugin_digits.data import digit_split

        images, labels = digit_split("train")
        self.svm = SVC(gamma="scale").fit(images.flatten(1).numpy(), labels.numpy())
        test, test_labels = digit_split("test")
        self.test_accuracy = (self.predict(test) == test_labels).float().mean().item()  # on real test digits

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 1, 8, 8] -> classes [B]."""
        return torch.from_numpy(self.svm.predict(images.detach().cpu().flatten(1).numpy())).long()

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 1, 8, 8] -> one-hot logits [B, 10] (its verdict, as `predictions` reads an expert's)."""
        return F.one_hot(self.predict(images), 10).float()
