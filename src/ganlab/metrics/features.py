"""Feature extractors: x -> phi(x), the representation FID, KID and precision/recall compare.

FID compares the first two moments of phi(x) under the data and the model ("representations are
outputs of intermediate layer from pretrained classification model": lecture
000_b0081a5cac0268ab.txt, slide "Frechet Inception Distance"); the Inception Score needs the
classifier's p(y|x) (same lecture, slide "Inception Score"). Which phi is used decides the number,
so each extractor carries a ``name`` and the SHA-256 of its weights, recorded with every result.

Three extractors, one interface (:class:`FeatureExtractor`), built in ONE place
(:func:`get_extractor`):

* ``"inception-v3"``: pool3 (N, 2048) and logits (N, 1008) of the FID Inception network
  (``ganlab.metrics.inception``), from a weight file the user provides; images (N, C, H, W) in [0, 1].
* ``"digits"``, ``"mnist"``, ``"fashion-mnist"``: the small CNNs shipped for the bundled 8x8 digits and for
  28x28 MNIST and Fashion-MNIST (``ganlab.metrics.classifier``): penultimate features and logits (N, 10);
  ``"classifier"``: the same with weights the user trained (``ganlab classifier``).
* ``"identity"``: phi(x) = x flattened, for low-dimensional data (the 2-D toy suite): no logits.

Extraction runs in eval mode under ``torch.inference_mode`` in batches, returns float64 numpy,
and switches CUDA TF32 off while it runs (and restores it after).
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ganlab.metrics.classifier import EVAL_BATCH
from ganlab.metrics.inception import FID_WEIGHTS_SHA256_PREFIX, no_tf32

__all__ = [
    "EXTRACTOR_NAMES",
    "FeatureExtractor",
    "IdentityExtractor",
    "InceptionExtractor",
    "ClassifierExtractor",
    "get_extractor",
]

EXTRACTOR_NAMES = ("inception-v3", "digits", "mnist", "fashion-mnist", "classifier", "identity")
#: Extractors backed by a classifier shipped in assets/.
SHIPPED_EXTRACTORS = ("digits", "mnist", "fashion-mnist")


@runtime_checkable
class FeatureExtractor(Protocol):
    """What every extractor offers.

    ``name``: recorded with results; ``weights_sha256``: full hex digest of the weights or None;
    ``dim``: feature width (None until known, for identity); ``num_classes``: logit width or None;
    ``input_kind``: "images" ((N, C, H, W) in [0, 1]) or "vectors" ((N, ...) flattened);
    ``features_and_logits(x)``: one forward pass -> ((N, dim) float64, (N, C) float64 or None).
    """

    name: str
    weights_sha256: str | None
    input_kind: str

    @property
    def dim(self) -> int | None: ...

    @property
    def num_classes(self) -> int | None: ...

    def features_and_logits(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]: ...

    def features(self, x: torch.Tensor) -> np.ndarray: ...

    def logits(self, x: torch.Tensor) -> np.ndarray: ...

    def describe(self) -> dict: ...


class _Base:
    name: str = ""
    weights_sha256: str | None = None
    input_kind: str = "images"
    batch_size: int = 64

    def features_and_logits(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> np.ndarray:
        """phi(x): (N, ...) -> (N, dim) float64."""
        return self.features_and_logits(x)[0]

    def logits(self, x: torch.Tensor) -> np.ndarray:
        """Classifier logits (N, num_classes) float64; ValueError for extractors without a classifier."""
        out = self.features_and_logits(x)[1]
        if out is None:
            raise ValueError(f"the {self.name!r} extractor has no classifier, so no logits (and no Inception Score)")
        return out

    def describe(self) -> dict:
        """The protocol record: name, weight hash, feature and logit widths, input preprocessing."""
        return {
            "extractor": self.name,
            "weights_sha256": self.weights_sha256,
            "dim": self.dim,
            "num_classes": self.num_classes,
        }


class IdentityExtractor(_Base):
    """phi(x) = x reshaped to (N, D): for 2-D toy data FID is then the W2 distance between Gaussian fits."""

    name = "identity"
    input_kind = "vectors"
    batch_size = 4096

    def __init__(self, dim: int | None = None) -> None:
        self._dim = dim

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def num_classes(self) -> None:
        return None

    def features_and_logits(self, x: torch.Tensor) -> tuple[np.ndarray, None]:
        t = torch.as_tensor(x)
        if t.ndim < 2:
            raise ValueError(f"identity features need (N, D) (or (N, ...)), got shape {tuple(t.shape)}")
        f = t.detach().reshape(t.shape[0], -1).to("cpu", torch.float64).numpy()
        if self._dim is None:
            self._dim = f.shape[1]
        elif f.shape[1] != self._dim:
            raise ValueError(f"identity features: got dimension {f.shape[1]}, but earlier inputs had {self._dim}")
        return f, None


class _TorchExtractor(_Base):
    """Runs a module batch by batch on ``device`` (eval mode, inference mode, TF32 off)."""

    def __init__(self, device: str | torch.device, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(x)
        if t.ndim != 4:
            raise ValueError(f"the {self.name!r} extractor takes images (N, C, H, W) in [0, 1], got shape {tuple(t.shape)}")
        return t

    def features_and_logits(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """One pass: images (N, C, H, W) in [0, 1] -> (features (N, dim), logits (N, C)) float64."""
        t = self._check_input(x)
        feats, logits = [], []
        with no_tf32(), torch.inference_mode():
            for start in range(0, t.shape[0], self.batch_size):
                chunk = t[start : start + self.batch_size].to(self.device, torch.float32)
                f, lg = self._forward(chunk)
                feats.append(f.to("cpu", torch.float64))
                logits.append(lg.to("cpu", torch.float64))
        return torch.cat(feats).numpy(), torch.cat(logits).numpy()


class InceptionExtractor(_TorchExtractor):
    """pool3 (N, 2048) + logits (N, 1008) of the FID Inception-v3; images (N, C, H, W) in [0, 1], C in {1, 3}.

    Preprocessing (recorded in ``describe()``): resize to 299 x 299 (``resize="bilinear"``:
    pytorch-fid; ``"tf1"``: torch-fidelity), then 2 x - 1.
    """

    name = "inception-v3"

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        sha256: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 50,
        resize: str = "bilinear",
    ) -> None:
        from ganlab.metrics.inception import build_inception

        super().__init__(device, batch_size)
        if resize not in ("bilinear", "tf1"):
            raise ValueError(f"resize must be 'bilinear' or 'tf1', got {resize!r}")
        self.resize = resize
        self.model, self.weights_sha256 = build_inception(weights, sha256=sha256, device=self.device)
        # channels-last activations: the same numbers to float32 rounding; oneDNN's convolutions and torch's max
        # and average pooling run faster on them (benchmarks/feature_speed.py)
        self.model = self.model.to(memory_format=torch.channels_last)

    @property
    def dim(self) -> int:
        return 2048

    @property
    def num_classes(self) -> int:
        return 1008

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from ganlab.metrics.inception import preprocess_for_inception

        return self.model(preprocess_for_inception(x, resize=self.resize).contiguous(memory_format=torch.channels_last))

    def describe(self) -> dict:
        d = super().describe()
        d.update(
            resize=f"{self.resize} to 299x299, then 2x-1",
            reference_weights=self.weights_sha256 is not None
            and self.weights_sha256.startswith(FID_WEIGHTS_SHA256_PREFIX),
        )
        return d


class ClassifierExtractor(_TorchExtractor):
    """Penultimate features and logits of a ganlab SmallCNN; grey images (N, 1, S, S) in [0, 1]."""

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        name: str = "classifier",
        sha256: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = EVAL_BATCH,
    ) -> None:
        from ganlab.metrics.classifier import SHIPPED_CLASSIFIERS, load_classifier, load_shipped_classifier

        super().__init__(device, batch_size)
        self.name = name
        if weights is None:
            if name not in SHIPPED_CLASSIFIERS:
                raise ValueError("the 'classifier' extractor needs --classifier-weights PATH (from `ganlab classifier`)")
            model, self.weights_sha256 = load_shipped_classifier(name)
        else:
            model, self.weights_sha256 = load_classifier(weights, sha256=sha256)
        self.model = model.to(self.device)

    @property
    def dim(self) -> int:
        return self.model.config.feature_dim

    @property
    def num_classes(self) -> int:
        return self.model.config.num_classes

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(x)
        s = self.image_size
        if t.ndim == 4 and t.shape[1] == 3 and tuple(t.shape[2:]) == (s, s):
            raise ValueError(f"the {self.name!r} classifier takes grey images (N, 1, {s}, {s}); got RGB {tuple(t.shape)}")
        if t.ndim != 4 or tuple(t.shape[1:]) != (1, s, s):
            raise ValueError(f"the {self.name!r} classifier takes grey images (N, 1, {s}, {s}), got shape {tuple(t.shape)}")
        return t

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.features_and_logits(x)

    def describe(self) -> dict:
        d = super().describe()
        d["input"] = f"grey {self.image_size}x{self.image_size} in [0, 1]"
        return d


def get_extractor(
    name: str,
    *,
    inception_weights: str | os.PathLike | None = None,
    inception_sha256: str | None = None,
    classifier_weights: str | os.PathLike | None = None,
    resize: str = "bilinear",
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
) -> FeatureExtractor:
    """The one place a name becomes an extractor: "inception-v3", a shipped classifier ("digits", "mnist",
    "fashion-mnist"), "classifier" or "identity".

    ``inception-v3`` reads its weights from ``inception_weights`` or $GANLAB_INCEPTION_WEIGHTS
    (hash-checked, see ``ganlab.metrics.inception``); ``digits`` loads the shipped classifier;
    ``classifier`` needs ``classifier_weights``.
    """
    if name == "identity":
        return IdentityExtractor()
    if name == "inception-v3":
        return InceptionExtractor(
            inception_weights, sha256=inception_sha256, device=device, batch_size=batch_size or 50, resize=resize
        )
    if name in SHIPPED_EXTRACTORS or name == "classifier":
        weights = classifier_weights if name == "classifier" else None
        if name != "classifier" and classifier_weights is not None:
            raise ValueError(f"--classifier-weights goes with --extractor classifier; {name!r} uses the shipped weights")
        return ClassifierExtractor(weights, name=name, device=device, batch_size=batch_size or EVAL_BATCH)
    raise ValueError(f"unknown feature extractor {name!r}; expected one of {', '.join(EXTRACTOR_NAMES)}")
