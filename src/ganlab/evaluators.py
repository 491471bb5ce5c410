"""Evaluation during training, one evaluator per kind of data, and the figures that go with it.

An evaluator is called by the training loop at every evaluation step with the generator to judge
(the EMA generator when the run keeps one) and the critic; it returns the numbers logged to
`metrics.jsonl` and the samples it drew (the image evaluators: the first 512 of them, since they score G(z)
in chunks and never hold all N), and it draws the figure of those samples.

* `SampleEvaluator` (any data): x_i = G(z_i) on a fixed latent batch z_1..z_N and the critic's own
  estimate E f(x_real) - E f(G(z)) (for a WGAN critic, the Kantorovich-Rubinstein estimate of W1); the
  figure is an image grid for images.
* `ImageEvaluator` (images with a feature network: the shipped domain classifiers of digits, MNIST and
  Fashion-MNIST, a `ganlab classifier` file or the FID Inception-v3, `TrainConfig.eval_features`): the same, plus
  FID, KID and Inception Score of the N samples against the data set's held-out split, with the network's
  features and class probabilities (the reference statistics are computed once).
* `StackedMNISTEvaluator` (Stacked MNIST): the same estimate, plus the modes captured out of 1000 and the
  KL of the mode histogram to uniform (VEEGAN Sec. 5.2), each channel labelled by the MNIST classifier.
* `ToyEvaluator` (1-D and 2-D vector data): the same, plus the VEEGAN / PacGAN mode metrics (modes
  captured, % high quality, reverse KL of the mode histogram to uniform) where the distribution has
  modes and the exact W1 to the data (optimal transport, `ganlab.metrics.modes.w1_to_data`); the figure
  is the samples over the data with the critic's contours.

Reference: FID and IS, lecture 003_74d7f85fefbfef05.txt, slides "Frechet Inception Distance (FID)" and
"Inception Score"; KID, Binkowski et al. 2018 (arXiv:1801.01401); mode metrics, lecture 004_a72885b194f54592.txt "Mode collapse" and Srivastava et al. 2017
(VEEGAN, arXiv:1705.07761, Sec. 5.1); W1, lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from ganlab.data import Dataset
from ganlab.metrics.features import FeatureExtractor
from ganlab.metrics.fid import feature_statistics, fid_from_stats
from ganlab.metrics.inception_score import inception_score
from ganlab.metrics.kid import kid
from ganlab.metrics.modes import mode_metrics, w1_to_data
from ganlab.metrics.stacked_mnist import StackedModes, classify_stacked, stacked_mnist_modes
from ganlab.models.pack import packing_of
from ganlab.report import plot_figure

__all__ = ["Evaluator", "SampleEvaluator", "ToyEvaluator", "ImageEvaluator", "StackedMNISTEvaluator",
           "NonFiniteSamplesError", "make_evaluator"]

#: KID during training: subsets of at most this many rows (the paper's 1000), this many subsets.
KID_SUBSET_SIZE, KID_SUBSETS = 1000, 50
#: Evaluation draws G(z_eval) this many rows at a time; the image evaluators keep only each chunk's scores.
EVAL_CHUNK = 4096
#: Rows per forward of the generator and the critic inside a chunk: on a CPU, passes of a few hundred images keep
#: the activations in cache and run faster than passes of a whole chunk.
FORWARD_ROWS = 512
#: The samples an image evaluator returns (for the figure's 64 and the diagnostics' diversity of at most 500).
KEPT = 512

T = TypeVar("T")


class NonFiniteSamplesError(RuntimeError):
    """The generator produced NaN or infinite samples."""


class Evaluator(Protocol):
    """What the training loop calls at an evaluation step."""

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int,
                 raw: nn.Module | None = None) -> tuple[dict[str, float], Tensor]:
        """(metrics by name, the samples drawn, on the CPU). `generator` is the one judged (the EMA generator
        when the run keeps one); `raw`, when given, is the raw generator, whose scores an evaluator may add
        under `raw_<name>`."""

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path | None:
        """Write the figure of `samples` to `path` (None: no figure for this kind of data)."""

    def prepare(self) -> None:
        """Do the one-time work (load a feature network, the held-out split's features) now rather than at the
        first call: the training loop calls it before its first step, so that a missing weight file stops a run
        before it starts; a run loaded only to sample never pays it."""


def _critic_total(critic: nn.Module, batches: Iterable[Tensor]) -> tuple[float, int]:
    """(the sum of critic(x) over every output, the number of outputs) over `batches`. A packed critic
    (`ganlab.models.pack`) gives one output per k rows: it reads each batch in whole packs, its first
    ⌊len / k⌋ · k rows, and leaves the last len mod k out."""
    k = packing_of(critic)
    total, count = 0.0, 0
    for x in batches:
        packs = x.shape[0] // k
        for part in x[:packs * k].split(max(FORWARD_ROWS // k, 1) * k):
            total += float(critic(part).double().sum())
        count += packs
    return total, count


def _batched_mean(critic: nn.Module, x: Tensor, batch_size: int = 4096) -> float:
    """The mean of critic(x) over all its outputs, x read in batches of `batch_size` packs (memory bounded for
    26 000 images); a packed critic reads the first ⌊N / k⌋ · k rows in whole packs (`_critic_total`)."""
    k = packing_of(critic)
    n = x.shape[0] // k
    if n == 0:
        raise ValueError(f"a critic of packs of {k} samples needs at least {k} samples, got {x.shape[0]}")
    total, count = _critic_total(critic, x[:n * k].split(batch_size * k))
    return total / count


class SampleEvaluator:
    """The samples G(z_eval) and the critic's estimate E f(real) - E f(G(z_eval)), for data of any shape.

    Args:
        dataset: the training distribution.
        z_eval: (N, latent_dim) fixed latents, on the generator's device.
        seed: the real batch of the critic's estimate at step t is a fresh draw of N points from a
            generator seeded with seed + t.
    """

    def __init__(self, dataset: Dataset, z_eval: Tensor, *, seed: int) -> None:
        self.dataset, self.z_eval, self.seed = dataset, z_eval, seed

    @torch.no_grad()
    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int,
                 raw: nn.Module | None = None) -> tuple[dict[str, float], Tensor]:
        """Shapes: samples (N, *shape) on the CPU. Returns ({"critic_w"}, samples); `raw` is not judged. Both
        networks run in eval mode and are put back after. Raises NonFiniteSamplesError if a sample is NaN or infinite."""
        g_mode, c_mode = generator.training, critic.training
        generator.eval()
        critic.eval()
        try:
            samples = self._draw(generator)
            param = next(critic.parameters())
            real = self.dataset.sample(self.z_eval.shape[0], generator=torch.Generator().manual_seed(self.seed + step))
            real = real.to(device=param.device, dtype=param.dtype)
            critic_w = _batched_mean(critic, real) - _batched_mean(critic, samples)
        finally:
            generator.train(g_mode)
            critic.train(c_mode)
        return {"critic_w": critic_w}, samples.cpu()

    @torch.no_grad()
    def _draw(self, generator: nn.Module) -> Tensor:
        """G(z_eval) (N, *shape) on the generator's device; NonFiniteSamplesError if one is NaN or infinite."""
        return torch.cat(list(self._chunks(generator)))

    @torch.no_grad()
    def _chunks(self, generator: nn.Module, size: int = EVAL_CHUNK) -> Iterator[Tensor]:
        """G(z) for the fixed latents `size` rows at a time (on the generator's device); NonFiniteSamplesError
        as soon as one is NaN or infinite."""
        for z in self.z_eval.split(size):
            x = torch.cat([generator(part) for part in z.split(FORWARD_ROWS)])
            if not bool(torch.isfinite(x).all()):
                raise NonFiniteSamplesError("the generator produced NaN or infinite samples")
            yield x

    @torch.no_grad()
    def _stream(self, generator: nn.Module, each: Callable[[Tensor], T], *, critic: nn.Module | None = None,
                step: int = 0) -> tuple[list[T], Tensor, dict[str, float]]:
        """G(z_eval) chunk by chunk, never all N at once: (each(chunk) per chunk, the first `KEPT` samples on the
        CPU, {"critic_w"} when `critic` is given). The generator (and the critic) run in eval mode and are put
        back after. critic_w = E f(real) - E f(G(z)) over N real points drawn with seed + step, both sides
        read in chunks (a packed critic reads whole packs and leaves the last N mod k rows out, as
        `_batched_mean`)."""
        nets = [generator] + ([critic] if critic is not None else [])
        modes = [net.training for net in nets]
        for net in nets:
            net.eval()
        try:
            k = 1 if critic is None else packing_of(critic)
            size = max(EVAL_CHUNK // k, 1) * k
            results, kept, fake_sum, fake_n = [], [], 0.0, 0
            for x in self._chunks(generator, size):
                results.append(each(x))
                if sum(len(t) for t in kept) < KEPT:
                    kept.append(x[:KEPT - sum(len(t) for t in kept)].cpu())
                if critic is not None:
                    chunk_sum, chunk_n = _critic_total(critic, [x])
                    fake_sum, fake_n = fake_sum + chunk_sum, fake_n + chunk_n
            estimate: dict[str, float] = {}
            if critic is not None:
                if fake_n == 0:
                    raise ValueError(f"a critic of packs of {k} samples needs at least {k} samples, "
                                     f"got {self.z_eval.shape[0]}")
                real_sum, real_n = _critic_total(critic, self._real_chunks(critic, step, size))
                estimate["critic_w"] = real_sum / real_n - fake_sum / fake_n
        finally:
            for net, mode in zip(nets, modes):
                net.train(mode)
        return results, torch.cat(kept), estimate

    def _real_chunks(self, critic: nn.Module, step: int, size: int) -> Iterator[Tensor]:
        """N real points drawn with seed + step, `size` rows at a time, on the critic's device and dtype, N cut
        to whole packs of the critic's k rows."""
        param = next(critic.parameters())
        g = torch.Generator().manual_seed(self.seed + step)
        k = packing_of(critic)
        left = self.z_eval.shape[0] // k * k
        while left > 0:
            n = min(size, left)
            yield self.dataset.sample(n, generator=g).to(device=param.device, dtype=param.dtype)
            left -= n

    def prepare(self) -> None:
        """Nothing to prepare: the samples and the critic's estimate need no reference."""

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path | None:
        """An image grid of the first 64 samples (mapped from [-1, 1] to [0, 1]) for image data; no figure for
        other shapes."""
        if samples.ndim != 4:
            return None
        return plot_figure(path, _to_unit(samples[:64].clone()), None, title=title)


class ToyEvaluator(SampleEvaluator):
    """Mode metrics (or W1) of G(z_eval) and the critic's estimate E f(real) - E f(G(z_eval)), for vector
    data of 1 or 2 dimensions (arguments as `SampleEvaluator`)."""

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int,
                 raw: nn.Module | None = None) -> tuple[dict[str, float], Tensor]:
        """Returns ({"modes", "high_quality", "reverse_kl", "w1", "critic_w"} for data with modes,
        {"w1", "critic_w"} otherwise, samples (N, dim) on the CPU); `raw` is not judged."""
        estimate, samples = super().__call__(generator, critic, step=step)
        if self.dataset.modes is not None:
            metrics: dict[str, float] = dict(mode_metrics(samples, self.dataset).as_dict())
        else:
            metrics = {"w1": w1_to_data(samples, self.dataset)}
        return {**metrics, **estimate}, samples

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path:
        """Samples over 2500 (at most N) real points drawn with seed 0, with the critic's values."""
        real = self.dataset.sample(min(2500, samples.shape[0]), generator=torch.Generator().manual_seed(0))
        return plot_figure(path, samples, real, critic=critic, title=title, modes=self.dataset.modes)


def _to_unit(samples: Tensor) -> Tensor:
    """Generator outputs in [-1, 1] mapped to the evaluation convention [0, 1]: (x + 1) / 2, clipped."""
    return ((samples + 1.0) / 2.0).clamp_(0.0, 1.0)


class ImageEvaluator(SampleEvaluator):
    """FID, KID and IS of G(z_eval) against the held-out images of `dataset`, with a feature network.

        FID = ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 (S_r^1/2 S_g S_r^1/2)^1/2)   (features phi = the extractor's:
        a domain classifier's penultimate layer or Inception-v3's pool3; real = held-out split, generated = the
        N samples)
        KID = mean over subsets of the unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3
        IS  = exp(E_x KL(p(y|x) || p(y)))   (the extractor's softmax, 10 splits)

    Args (besides `SampleEvaluator`'s): extractor: a `ganlab.metrics.features` extractor of images in [0, 1]
    (`get_extractor`: a shipped classifier, "classifier" with a weight file, "inception-v3"); its weights'
    SHA-256 is `weights_sha256`. FID with N samples is biased upwards by O(1/N) (docs/EVALUATION.md): compare
    runs at the same `eval_samples`.
    """

    def __init__(self, dataset: Dataset, z_eval: Tensor, *, seed: int,
                 extractor: FeatureExtractor | Callable[[], FeatureExtractor]) -> None:
        super().__init__(dataset, z_eval, seed=seed)
        held_out = getattr(dataset, "held_out", None)  # image data sets have one (maybe empty); tensors do not
        real = held_out() if held_out is not None else None
        if real is None or len(real) < 2:
            raise ValueError(f"data set {dataset.name!r} has no held-out images to evaluate against (FID / KID / IS "
                             "need at least 2; a folder holds some out with data_params.test_fraction > 0)")
        is_built = hasattr(extractor, "features_and_logits")  # else a factory, called at the first use
        self._extractor, self._make_extractor = (extractor, None) if is_built else (None, extractor)
        self.real_features: np.ndarray | None = None
        self._reference_reported = False

    @property
    def extractor(self) -> FeatureExtractor:
        """The feature network, built on first use when a factory was given."""
        if self._extractor is None:
            self._extractor = self._make_extractor()
        return self._extractor

    @property
    def weights_sha256(self) -> str | None:
        """The SHA-256 of the feature network's weights."""
        return self.extractor.weights_sha256

    def prepare(self) -> None:
        """The feature network and the held-out split's features (mean, covariance), once; `reference_seconds` is
        their cost. ValueError naming the extractor and the data when the network does not take these images."""
        if self.real_features is not None:
            return
        t0 = time.perf_counter()
        extractor = self.extractor
        try:
            self.real_features, _ = extractor.features_and_logits(self.dataset.held_out())
        except ValueError as exc:
            raise ValueError(f"the {extractor.name!r} features cannot score data set {self.dataset.name!r} "
                             f"(images {tuple(self.dataset.shape)}): {exc}") from exc
        self.real_mu, self.real_sigma = feature_statistics(self.real_features)
        self.reference_seconds = time.perf_counter() - t0

    def _features(self, samples: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(features, logits) of generator outputs in [-1, 1]."""
        return self.extractor.features_and_logits(_to_unit(samples))

    def scores(self, samples: Tensor) -> dict[str, float]:
        """{"fid", "kid", "kid_std", "is", "is_std"} of samples (N, C, H, W) in [-1, 1], the data's shape."""
        self.prepare()
        return self._scores(*self._features(samples))

    def _scores(self, feats: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        """The scores of generated features (N, D) and logits (N, C)."""
        mu, sigma = feature_statistics(feats)
        fid = fid_from_stats(mu, sigma, self.real_mu, self.real_sigma)
        subset = min(KID_SUBSET_SIZE, len(feats), len(self.real_features))
        k = kid(self.real_features, feats, num_subsets=KID_SUBSETS, subset_size=subset, seed=0)
        score = inception_score(logits, from_logits=True, splits=min(10, len(feats)))
        return {"fid": float(fid.fid), "kid": k.mean, "kid_std": k.std, "is": score.mean, "is_std": score.std}

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int,
                 raw: nn.Module | None = None) -> tuple[dict[str, float], Tensor]:
        """Returns ({"fid", "kid", "kid_std", "is", "is_std", "critic_w", "eval_seconds"}, and the same scores
        of the raw generator as "raw_fid", ... when `raw` is given; the first `KEPT` samples (n, C, H, W) of
        `generator`). Both generators are scored chunk by chunk (`_stream`): only the network's features and
        logits of the N samples are kept.
        The first call also returns "reference_seconds", the one-time cost of the held-out split's features."""
        self.prepare()
        t0 = time.perf_counter()
        chunks, samples, estimate = self._stream(generator, self._features, critic=critic, step=step)
        metrics = {**self._scores(*_joined(chunks)), **estimate}
        if raw is not None:
            raw_chunks, _, _ = self._stream(raw, self._features)
            metrics.update({f"raw_{k}": v for k, v in self._scores(*_joined(raw_chunks)).items()})
        metrics["eval_seconds"] = time.perf_counter() - t0
        if not self._reference_reported:
            metrics["reference_seconds"] = self.reference_seconds
            self._reference_reported = True
        return metrics, samples


def _joined(chunks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The chunks' (features, logits) stacked row-wise."""
    return np.concatenate([f for f, _ in chunks]), np.concatenate([lg for _, lg in chunks])


class StackedMNISTEvaluator(SampleEvaluator):
    """Modes captured (of 1000) and KL(q || uniform) of G(z_eval) on Stacked MNIST (VEEGAN Sec. 5.2), with the
    part of the KL that is the channels' digit imbalance: each of the R, G, B channels labelled by the MNIST
    classifier, mode = 100 l_R + 10 l_G + l_B. The protocol's N is 26 000 samples (set `eval_samples`)."""

    def __init__(self, dataset: Dataset, z_eval: Tensor, *, seed: int, classifier: nn.Module,
                 weights_sha256: str = "") -> None:
        super().__init__(dataset, z_eval, seed=seed)
        self.classifier = classifier.to(z_eval.device).requires_grad_(False).eval()
        self.weights_sha256 = weights_sha256

    def modes(self, samples: Tensor) -> StackedModes:
        """The Stacked-MNIST mode metric of samples (N, 3, H, W) in [-1, 1] (mapped to [0, 1], each channel
        labelled by the classifier)."""
        return stacked_mnist_modes(classify_stacked(_to_unit(samples), self.classifier))

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int,
                 raw: nn.Module | None = None) -> tuple[dict[str, float], Tensor]:
        """Returns ({"modes", "mode_kl", "mode_kl_channels", "critic_w", "eval_seconds"}, plus "raw_modes",
        "raw_mode_kl", "raw_mode_kl_channels" when `raw` is given; the first `KEPT` samples (n, 3, H, W) of
        `generator`; the N samples are labelled chunk by chunk, only their labels kept).
        mode_kl_channels is the part of mode_kl that is the channels' digit imbalance, sum_c KL(q_c || U_10);
        the rest is their dependence (`ganlab.metrics.stacked_mnist`)."""
        t0 = time.perf_counter()

        def labels(x: Tensor) -> np.ndarray:
            return classify_stacked(_to_unit(x), self.classifier)

        chunks, samples, estimate = self._stream(generator, labels, critic=critic, step=step)
        metrics: dict[str, float] = {}
        judged = [("", chunks)] + ([("raw_", self._stream(raw, labels)[0])] if raw is not None else [])
        for prefix, parts in judged:
            result = stacked_mnist_modes(np.concatenate(parts))
            metrics.update({f"{prefix}modes": float(result.modes), f"{prefix}mode_kl": float(result.kl),
                            f"{prefix}mode_kl_channels": float(sum(result.channel_kl))})
        metrics.update(estimate)
        metrics["eval_seconds"] = time.perf_counter() - t0
        return metrics, samples


def make_evaluator(dataset: Dataset, z_eval: Tensor, *, seed: int, features: str = "auto",
                   weights: str = "") -> Evaluator:
    """The evaluator for `dataset`'s kind of data: `ToyEvaluator` for vectors (D,) with D <= 2; for images,
    by `features` (`TrainConfig.eval_features`, with `weights` its file):
    "auto": with a shipped domain classifier (`dataset.classifier`), `ImageEvaluator` on it (or
    `StackedMNISTEvaluator`), else `SampleEvaluator`; "inception-v3": `ImageEvaluator` on the FID Inception-v3
    (weights at `weights` or $GANLAB_INCEPTION_WEIGHTS); "classifier": on the `ganlab classifier` file `weights`;
    "none": `SampleEvaluator`. Vector data take "auto" or "none" and get the same either way (`ToyEvaluator`
    up to 2 dimensions, else `SampleEvaluator`). The networks of "inception-v3" and "classifier" are loaded at
    the first evaluation (`prepare`), their errors prefixed by the two config values. ValueError for another
    name, or for a feature network on vector data."""
    from ganlab.config import EVAL_FEATURES

    if features not in EVAL_FEATURES:
        raise ValueError(f"eval_features must be one of {list(EVAL_FEATURES)}, got {features!r}")
    if len(dataset.shape) == 1:
        if features not in ("auto", "none"):
            raise ValueError(f"eval_features = {features!r} scores images; data set {dataset.name!r} holds vectors "
                             f"of shape {tuple(dataset.shape)} (use 'auto')")
        return ToyEvaluator(dataset, z_eval, seed=seed) if dataset.shape[0] <= 2 else SampleEvaluator(
            dataset, z_eval, seed=seed)
    from ganlab.metrics.features import get_extractor

    device = z_eval.device
    if features == "none":
        return SampleEvaluator(dataset, z_eval, seed=seed)
    if features in ("inception-v3", "classifier"):
        def extractor() -> FeatureExtractor:  # built at the first evaluation (or `prepare`), not by load_run
            try:
                if features == "inception-v3":
                    return get_extractor("inception-v3", inception_weights=weights or None, device=device)
                return get_extractor("classifier", classifier_weights=weights, device=device)
            except (ValueError, FileNotFoundError) as exc:
                given = f"eval_weights = {weights!r}" if weights else "no eval_weights"
                raise type(exc)(f"eval_features = {features!r} with {given}: {exc}") from exc
    else:
        name = getattr(dataset, "classifier", None)
        if name is None:
            return SampleEvaluator(dataset, z_eval, seed=seed)
        if name == "stacked-mnist":
            from ganlab.metrics.classifier import load_shipped_classifier

            model, sha = load_shipped_classifier("mnist")
            return StackedMNISTEvaluator(dataset, z_eval, seed=seed, classifier=model, weights_sha256=sha)
        extractor = get_extractor(name, device=device)
    return ImageEvaluator(dataset, z_eval, seed=seed, extractor=extractor)
