"""A small CNN classifier for domain FID / KID / precision-recall and a domain Inception Score.

Inception-v3 features mean little for 8x8 or 28x28 grey digits. The usual remedy (e.g. the MNIST
"FID" of many GAN papers) is a classifier trained on the domain itself: its penultimate layer
gives the features phi(x) for FID, KID and precision/recall, and its softmax gives p(y|x) for the
Inception Score, IS = exp(E_x KL(p(y|x) || p(y))) (lecture 000_b0081a5cac0268ab.txt, slide
"Inception Score"). Numbers computed with it are comparable only with numbers computed with the
same weights: the SHA-256 of the weight file is recorded with every result.

Architecture (``SmallCNN``), for grey images (N, 1, S, S) in [0, 1]:
    conv3x3(1 -> c1) ReLU, conv3x3(c1 -> c2) ReLU, maxpool 2 (`max_pool2`)
    [conv3x3(c2 -> c2) ReLU, maxpool 2]   (only when S >= 16, e.g. 28x28)
    flatten -> linear(feature_dim) ReLU = h(x) (N, feature_dim)   -> linear(num_classes) = logits (N, C)
    features phi(x) = h(x) / s, with the constant s = sqrt(mean_train ||h||^2 / feature_dim) fixed after
    training (so KID's cubic kernel sees x.y/D = O(1), as with Inception features; FID scales by 1/s^2).

ganlab ships one trained instance: ``assets/digits_classifier.safetensors`` for scikit-learn's
8x8 digits, trained by ``ganlab classifier --data digits --out PATH`` (seed 0, the stratified
50/50 split of ``ganlab.data.images.digits_split``); its JSON records the test accuracy, the
SHA-256 and the command. Users train their own for 28x28 data with ``--data FILE.npz``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.files import atomic_write
from ganlab.metrics.inception import sha256_of_file

__all__ = [
    "ClassifierConfig",
    "SmallCNN",
    "EVAL_BATCH",
    "max_pool2",
    "TrainSettings",
    "train_classifier",
    "accuracy",
    "save_classifier",
    "load_classifier",
    "digits_classifier_paths",
    "load_digits_classifier",
    "SHIPPED_CLASSIFIERS",
    "shipped_classifier_paths",
    "load_shipped_classifier",
]

DIGITS_WEIGHTS_NAME = "digits_classifier.safetensors"
#: The classifiers shipped in assets/ (NAME_classifier.safetensors + .json), named after their data sets.
SHIPPED_CLASSIFIERS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist")


@dataclass(frozen=True)
class ClassifierConfig:
    """Shape of a SmallCNN: input side S (images (N, 1, S, S)), classes, conv widths, feature width."""

    image_size: int = 8
    num_classes: int = 10
    c1: int = 16
    c2: int = 32
    feature_dim: int = 64

    def __post_init__(self) -> None:
        for name in ("image_size", "num_classes", "c1", "c2", "feature_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.image_size < 4:
            raise ValueError(f"image_size must be >= 4, got {self.image_size}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

    @property
    def num_pools(self) -> int:
        return 2 if self.image_size >= 16 else 1

    @property
    def flat_dim(self) -> int:
        side = self.image_size
        for _ in range(self.num_pools):
            side //= 2
        return self.c2 * side * side


#: Grey images per forward pass when the classifier scores a data set (evaluation, accuracy, features): on the
#: CPU, batches of about a hundred keep a layer's activations in cache and run two to three times as fast as
#: batches of a thousand (`benchmarks/feature_speed.py`).
EVAL_BATCH = 128


def max_pool2(h: torch.Tensor) -> torch.Tensor:
    """y[n, c, i, j] = max(h[n, c, 2i + a, 2j + b] : a, b in {0, 1}): F.max_pool2d(h, 2) (a last odd row or
    column left out, as there), as two element-wise maxima of strided views. The same values, and about twice
    the classifier's speed on the CPU, where torch's max_pool2d kernel for contiguous (N, C, H, W) tensors was
    the slowest op of its forward (`benchmarks/feature_speed.py`). Its gradient equals max_pool2d's except
    at exact ties in a window, where torch.maximum shares it equally instead of giving it to one element."""
    h = h[:, :, : h.shape[2] // 2 * 2, : h.shape[3] // 2 * 2]
    rows = torch.maximum(h[:, :, 0::2], h[:, :, 1::2])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


class SmallCNN(nn.Module):
    """Grey images (N, 1, S, S) in [0, 1] -> logits (N, C); ``features`` gives the penultimate (N, feature_dim)."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.conv1 = nn.Conv2d(1, config.c1, 3, padding=1)
        self.conv2 = nn.Conv2d(config.c1, config.c2, 3, padding=1)
        self.conv3 = nn.Conv2d(config.c2, config.c2, 3, padding=1) if config.num_pools == 2 else None
        self.fc1 = nn.Linear(config.flat_dim, config.feature_dim)
        self.fc2 = nn.Linear(config.feature_dim, config.num_classes)
        # phi(x) = embed(x) / feature_scale, fixed after training so that E ||phi||^2 / D = 1 on the training
        # images: KID's kernel (x.y/D + 1)^3 assumes x.y/D = O(1), as for Inception's pool3 features.
        self.register_buffer("feature_scale", torch.ones(()))

    def _check(self, x: torch.Tensor) -> None:
        s = self.config.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, s, s):
            raise ValueError(
                f"this classifier takes grey {s}x{s} images (N, 1, {s}, {s}), got shape {tuple(x.shape)}"
            )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: (N, 1, S, S) -> (N, feature_dim), the ReLU output feeding the last linear layer."""
        self._check(x)
        h = max_pool2(F.relu(self.conv2(F.relu(self.conv1(x)))))
        if self.conv3 is not None:
            h = max_pool2(F.relu(self.conv3(h)))
        return F.relu(self.fc1(torch.flatten(h, 1)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x) = embed(x) / feature_scale: (N, 1, S, S) -> (N, feature_dim)."""
        return self.embed(x) / self.feature_scale

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(phi(x) (N, feature_dim), logits (N, num_classes)) from one forward pass."""
        h = self.embed(x)
        return h / self.feature_scale, self.fc2(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes)."""
        return self.fc2(self.embed(x))


LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


@dataclass(frozen=True)
class TrainSettings:
    """How the classifier is trained (Adam, cross-entropy, fixed seed); the defaults made the shipped weights."""

    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.5
    #: "constant" keeps lr; "cosine" decays it per step as lr * (1 + cos(pi t / T)) / 2 over the T steps of training.
    schedule: str = "constant"
    #: Mirror each training image left-right with probability 1/2 (for data whose classes are mirror-symmetric,
    #: like Fashion-MNIST's garments; not for digits).
    hflip: bool = False

    def __post_init__(self) -> None:
        if self.schedule not in LR_SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")


def scheduled_lr(settings: TrainSettings, step: int, total_steps: int) -> float:
    """The learning rate of 0-based step t of T: lr ("constant") or lr * (1 + cos(pi t / T)) / 2 ("cosine")."""
    if settings.schedule == "cosine":
        return settings.lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    return settings.lr


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
             batch_size: int = EVAL_BATCH) -> float:
    """Fraction of argmax predictions equal to the labels: (N, 1, S, S), (N,) -> float."""
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        pred = model(images[start : start + batch_size]).argmax(1)
        correct += int((pred == labels[start : start + batch_size]).sum())
    return correct / len(images)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    settings: TrainSettings = TrainSettings(),
    config: ClassifierConfig | None = None,
    progress: bool = False,
) -> tuple[SmallCNN, dict]:
    """Train a SmallCNN on ``images[train_idx]``; report accuracy on ``images[test_idx]``.

    Shapes: images (N, 1, S, S) float in [0, 1], labels (N,) int64 in 0..C-1.
    Returns (model in eval mode, info dict with train/test accuracy, sizes, settings, seconds).
    Seeded: one torch.Generator (init and shuffling), CPU; the same seed and thread count give
    the same weights.
    """
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[2] != images.shape[3]:
        raise ValueError(f"expected square grey images (N, 1, S, S), got shape {tuple(images.shape)}")
    num_classes = int(labels.max()) + 1
    if config is None:
        config = ClassifierConfig(image_size=int(images.shape[2]), num_classes=num_classes)
    if config.image_size != images.shape[2] or config.num_classes < num_classes:
        raise ValueError(f"config {config} does not fit images {tuple(images.shape)} with {num_classes} classes")
    gen = torch.Generator().manual_seed(settings.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = SmallCNN(config)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    x_train, y_train = images[torch.as_tensor(train_idx)], labels[torch.as_tensor(train_idx)]
    x_test, y_test = images[torch.as_tensor(test_idx)], labels[torch.as_tensor(test_idx)]
    t0 = time.perf_counter()
    # Subnormal floats (|x| < 1.2e-38) are flushed to zero while training: weight decay drives the weights of dead
    # units towards 0 through the subnormal range, where every CPU kernel touching them runs many times slower (an
    # earlier Fashion-MNIST run slowed from 23 s to over 6 min per epoch; its weights held 56 420 subnormals).
    torch.set_flush_denormal(True)
    try:
        steps_per_epoch = -(-len(x_train) // settings.batch_size)
        total_steps, step = settings.epochs * steps_per_epoch, 0
        for epoch in range(settings.epochs):
            model.train()
            perm = torch.randperm(len(x_train), generator=gen)
            for start in range(0, len(perm), settings.batch_size):
                idx = perm[start : start + settings.batch_size]
                x = x_train[idx]
                if settings.hflip:
                    mirror = torch.rand(len(x), generator=gen) < 0.5
                    x = torch.where(mirror[:, None, None, None], x.flip(3), x)
                for group in opt.param_groups:
                    group["lr"] = scheduled_lr(settings, step, total_steps)
                step += 1
                loss = F.cross_entropy(model(x), y_train[idx])
                if not bool(torch.isfinite(loss)):
                    raise ValueError(f"the classifier's training diverged (loss {float(loss.detach())} in epoch "
                                     f"{epoch + 1}) with lr {settings.lr}; use a smaller learning rate")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                try:
                    opt.step()
                except RuntimeError as exc:  # Adam's step size lr / (1 - beta1^t) overflows float32 (lr ~ 1e38)
                    raise ValueError(f"the classifier's training diverged (Adam's step failed in epoch {epoch + 1}: "
                                     f"{exc}) with lr {settings.lr}; use a smaller learning rate") from None
            if progress and (settings.epochs <= 20 or (epoch + 1) % 10 == 0):
                print(f"epoch {epoch + 1}/{settings.epochs}: loss {float(loss.detach()):.4f}, "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    finally:
        torch.set_flush_denormal(False)  # torch's default
    model.eval()
    with torch.no_grad():
        h = torch.cat([model.embed(x_train[i : i + 1024]) for i in range(0, len(x_train), 1024)])
        model.feature_scale.fill_(float(h.pow(2).sum(1).mean().div(config.feature_dim).sqrt()))
    info = {
        "train_accuracy": accuracy(model, x_train, y_train),
        "test_accuracy": accuracy(model, x_test, y_test),
        "n_train": int(len(x_train)),
        "feature_scale": float(model.feature_scale),
        "n_test": int(len(x_test)),
        "config": asdict(config),
        "settings": asdict(settings),
        "seconds": round(time.perf_counter() - t0, 2),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    return model, info


def save_classifier(model: SmallCNN, path: str | os.PathLike, *, info: dict | None = None) -> dict:
    """Write ``path`` (.safetensors, architecture in its metadata) and ``path`` with ``.json`` (info + sha256).

    Returns the JSON record written.
    """
    from safetensors.torch import save_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise ValueError(f"classifier weights are written as .safetensors, got {str(p)!r}")
    # one metadata entry: safetensors writes several in hash order, which would change the file's SHA-256
    meta = {"ganlab_classifier_config": json.dumps(asdict(model.config), sort_keys=True)}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}

    def write(tmp: Path) -> None:
        save_file(state, str(tmp), metadata=meta)
        os.chmod(tmp, 0o644)  # safetensors creates files private to the user; weights are meant to be shared

    atomic_write(p, write)
    record = dict(info or {})
    record["file"] = p.name
    record["sha256"] = sha256_of_file(p)
    p.with_suffix(".json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def load_classifier(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[SmallCNN, str]:
    """A SmallCNN from a .safetensors file written by :func:`save_classifier`; returns (model in eval mode, sha256).

    When ``sha256`` is given the file's digest must start with it (ValueError otherwise).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"classifier weights {str(p)!r} do not exist (train them with `ganlab classifier`)")
    digest = sha256_of_file(p)
    if sha256 is not None and not digest.startswith(sha256.lower()):
        raise ValueError(f"{str(p)!r} has SHA-256 {digest}, expected {sha256!r}")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
        state = load_file(str(p))
    except Exception as exc:
        raise ValueError(f"could not read {str(p)!r} as safetensors: {exc}") from exc
    fields = ("image_size", "num_classes", "c1", "c2", "feature_dim")
    try:
        cfg = json.loads(meta["ganlab_classifier_config"])
        config = ClassifierConfig(**{k: int(cfg[k]) for k in fields})
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(p)!r} lacks ganlab's classifier metadata (fields {list(fields)})") from exc
    model = SmallCNN(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{str(p)!r} does not match its SmallCNN architecture: {exc}") from exc
    model.requires_grad_(False)
    model.eval()
    return model, digest


def shipped_classifier_paths(name: str) -> tuple[Path, Path]:
    """(weights, json) of the shipped classifier `name` (one of `SHIPPED_CLASSIFIERS`) inside the installed package."""
    if name not in SHIPPED_CLASSIFIERS:
        raise ValueError(f"no shipped classifier {name!r}; expected one of {', '.join(SHIPPED_CLASSIFIERS)}")
    root = Path(str(resources.files("ganlab"))) / "assets"
    return root / f"{name}_classifier.safetensors", root / f"{name}_classifier.json"


def load_shipped_classifier(name: str) -> tuple[SmallCNN, str]:
    """The shipped classifier `name`, its SHA-256 checked against the shipped JSON; (model, sha256)."""
    weights, record = shipped_classifier_paths(name)
    if not weights.is_file() or not record.is_file():
        raise FileNotFoundError(
            f"the shipped {name} classifier is missing ({weights}); reinstall ganlab or rebuild it with "
            f"`ganlab classifier --data {name} --out src/ganlab/assets/{weights.name}`"
        )
    expected = json.loads(record.read_text())["sha256"]
    return load_classifier(weights, sha256=expected)


def digits_classifier_paths() -> tuple[Path, Path]:
    """(weights, json) of the shipped digits classifier inside the installed package."""
    return shipped_classifier_paths("digits")


def load_digits_classifier() -> tuple[SmallCNN, str]:
    """The shipped digits classifier, its SHA-256 checked against the shipped JSON; (model, sha256)."""
    return load_shipped_classifier("digits")
