"""Likelihood and sample quality disagree: the two counter-examples of lecture 7, measured on the digits.

    A (poor likelihood, great samples):  p_1(x) = (1/n) sum_i N(x | x_i, eps I),  eps small
    B (great likelihood, poor samples):  p_2(x) = 0.01 p(x) + 0.99 p_noise(x)
                                         log p_2(x) >= log [0.01 p(x)] = log p(x) - log 100

Data: scikit-learn's 8x8 digits as vectors in [0, 1]^64, the stratified 898 / 899 train / test split of
``ganlab.data.images.load_digits_split``. ``p_1`` is a Gaussian kernel density estimate on the train split
(``eps`` is the kernel's variance, as on the slide). ``p`` is the same estimate with the variance that
maximizes the leave-one-out log-likelihood of the train split (no test image is used to choose it);
``p_noise`` is uniform on the cube [0, 1]^64 (log density 0 there).

Measured: the test log-likelihood (mean of log density over the 899 test images, nats per image) and two
measures of sample quality:

* FID between the samples and the test images in the features of the shipped digits classifier (the
  lectures' "Frechet Inception Distance" with a domain network): it sees both realism and diversity.
* the mean Euclidean distance from a sample to its nearest training image, beside the same distance for
  the test images (a real digit is about 1.1 from its nearest training digit): small means the sample
  looks like a training digit; far below the test images' value means copies.

Note: the classifier's confidence (the fraction of samples labelled with p(y|x) > 0.9) is recorded but not
used: this small CNN labels about half of the uniform-noise images with confidence above 0.9, so it cannot
tell noise from digits (the same over-confidence that makes the Inception Score blind to such samples).

Note: the digits are quantized (pixel values k/16); a continuous density can reach arbitrarily high
likelihood on quantized data. Both models are judged on the same images, so the comparison stands, but the
absolute numbers are not those of a dequantized protocol.

Passed when all three hold: (1) ``log p_2(x) >= log p(x) - log 100`` on every test image (to 1e-9 nats);
(2) B's test log-likelihood exceeds A's by at least ``ll_margin`` nats per image; (3) A's samples are
better by both quality measures: FID at most half of B's and nearest-training-image distance smaller.

Reference: lecture 004_a72885b194f54592.txt, slide "Likelihood based models" (also lecture
001_b56ff7e156eb3bba.txt, slide "Summary": "Likelihood is not a perfect criteria"); Theis, van den Oord &
Bethge 2016, "A note on the evaluation of generative models" (arXiv:1511.01844), Sec. 3.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.experiments import Experiment, Result, check_run
from ganlab.metrics.fid import fid_from_features
from ganlab.report import pyplot, save_figure

__all__ = [
    "EXPERIMENT",
    "kde_log_density",
    "kde_loo_log_likelihood",
    "kde_sample",
    "noisy_mixture_log_density",
    "run",
]

LOG100 = math.log(100.0)
#: Model A's kernel variances (the figure's sweep; the first is model A itself unless `eps` says otherwise).
_SWEEP = {"smoke": [1e-4, 1e-2, 1e-1], "full": [1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2, 1e-1, 2e-1]}
_N_SAMPLES = {"smoke": 400, "full": 2000}


# ----------------------------------------------------------------------------------------------
# the densities
# ----------------------------------------------------------------------------------------------
def _log_kde_from_sq(sq: torch.Tensor, n: int, dim: int, eps: float) -> torch.Tensor:
    """log (1/n) sum_i N(x | x_i, eps I) from the squared distances sq (M, n) of M points to the n centres."""
    return torch.logsumexp(-sq / (2.0 * eps), dim=1) - math.log(n) - 0.5 * dim * math.log(2.0 * math.pi * eps)


def _check_eps(eps: float) -> float:
    e = float(eps)
    if not (math.isfinite(e) and e > 0.0):
        raise ValueError(f"eps (the kernel variance) must be a positive finite number, got {eps!r}")
    return e


def kde_log_density(x: torch.Tensor, centres: torch.Tensor, eps: float) -> torch.Tensor:
    """log p_1(x) = logsumexp_i [-||x - x_i||^2 / (2 eps)] - log n - (d/2) log(2 pi eps).

    Shapes: x (M, d), centres (n, d) -> (M,), float64.

    Reference: lecture 004_a72885b194f54592.txt, slide "Likelihood based models" (p_1 with eps I).

    Note: a log-sum-exp, so a point far from every centre has a finite log density (about
    -min_i ||x - x_i||^2 / (2 eps)) instead of log(0).
    """
    e = _check_eps(eps)
    x64, c64 = x.double(), centres.double()
    if x64.ndim != 2 or c64.ndim != 2 or x64.shape[1] != c64.shape[1]:
        raise ValueError(f"x and centres must be (M, d) and (n, d), got {tuple(x.shape)} and {tuple(centres.shape)}")
    return _log_kde_from_sq(_sq_distances(x64, c64), c64.shape[0], c64.shape[1], e)


def kde_loo_log_likelihood(centres: torch.Tensor, eps: float) -> float:
    """(1/n) sum_j log [(1/(n-1)) sum_{i != j} N(x_j | x_i, eps I)], the leave-one-out log-likelihood.

    Shapes: centres (n, d), n >= 2 -> float (nats per point). Used to choose the bandwidth of the good
    density p without looking at the test split.
    """
    e = _check_eps(eps)
    c64 = centres.double()
    if c64.ndim != 2 or c64.shape[0] < 2:
        raise ValueError(f"centres must be (n, d) with n >= 2, got {tuple(centres.shape)}")
    return _loo_from_sq(_sq_distances(c64, c64), c64.shape[1], e)


def _sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 (M, n) in float64, by differences (no |x|^2 + |y|^2 - 2 x.y cancellation)."""
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist") ** 2


def _loo_from_sq(sq: torch.Tensor, dim: int, eps: float) -> float:
    """The leave-one-out log-likelihood from the (n, n) squared distances of the centres to each other."""
    off = sq.clone()
    off.fill_diagonal_(math.inf)
    return float(_log_kde_from_sq(off, sq.shape[0] - 1, dim, eps).mean())


def kde_sample(centres: torch.Tensor, eps: float, n: int, *, generator: torch.Generator) -> torch.Tensor:
    """x = x_c + sqrt(eps) e, c ~ Uniform{1..n_centres}, e ~ N(0, I): n samples of p_1. Shapes: -> (n, d) float64."""
    e = _check_eps(eps)
    c64 = centres.double()
    idx = torch.randint(c64.shape[0], (int(n),), generator=generator)
    return c64[idx] + math.sqrt(e) * torch.randn(int(n), c64.shape[1], generator=generator, dtype=torch.float64)


def noisy_mixture_log_density(log_p: torch.Tensor, log_noise: torch.Tensor, *, weight: float = 0.01) -> torch.Tensor:
    """log p_2(x) = log [w p(x) + (1 - w) p_noise(x)] = logaddexp(log w + log p, log(1 - w) + log p_noise).

    Shapes: log_p, log_noise (M,) -> (M,). Always >= log p - log(1/w) (= log p - log 100 for w = 0.01).

    Reference: lecture 004_a72885b194f54592.txt, slide "Likelihood based models" (p_2, w = 0.01).
    """
    w = float(weight)
    if not 0.0 < w < 1.0:
        raise ValueError(f"weight must lie in (0, 1), got {weight!r}")
    return torch.logaddexp(math.log(w) + log_p, math.log1p(-w) + log_noise)


# ----------------------------------------------------------------------------------------------
# sample quality
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def _quality(samples: torch.Tensor, train: torch.Tensor, test_features: np.ndarray,
             classifier: Any) -> dict[str, float]:
    """FID to the test split (digits features), mean distance to the nearest training image, confident fraction."""
    images = samples.float().reshape(-1, 1, 8, 8)
    feats, logits = classifier.features_and_logits(images)
    fid = float(fid_from_features(feats.double().numpy(), test_features))
    nearest = torch.cdist(samples.double(), train.double()).min(dim=1).values
    confident = float((torch.softmax(logits, dim=1).max(dim=1).values > 0.9).double().mean())
    return {"fid": fid, "nn_distance": float(nearest.mean()), "confident_fraction": confident}


# ----------------------------------------------------------------------------------------------
# the experiment
# ----------------------------------------------------------------------------------------------
def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    check_run(EXPERIMENT.name, params, size, EXPERIMENT.params)
    p = {**EXPERIMENT.params, **params}
    _check_eps(p["eps"])
    if not 0.0 < float(p["noise_weight"]) < 1.0:
        raise ValueError(f"noise_weight must lie in (0, 1), got {p['noise_weight']!r}")
    grid = [float(e) for e in p["bandwidth_grid"]]
    if not grid:
        raise ValueError("bandwidth_grid must name at least one kernel variance, got an empty list")
    for e in grid:
        _check_eps(e)
    if not (isinstance(p["n_samples"], int) and p["n_samples"] >= 0) or p["n_samples"] == 1:
        raise ValueError(f"n_samples must be 0 (the size's default) or an integer >= 2, got {p['n_samples']!r}")
    if not float(p["ll_margin"]) >= 0.0:
        raise ValueError(f"ll_margin must be >= 0 nats, got {p['ll_margin']!r}")
    return {**p, "bandwidth_grid": grid}


def _tradeoff_figure(path: Path, sweep: list[dict[str, float]], marks: dict[str, dict[str, float]],
                     real_fid: float) -> Path:
    """Test log-likelihood and FID of p_1 against eps, with p, p_2 and the train split's FID as horizontal lines."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=90)
    eps = [r["eps"] for r in sweep]
    styles = {"A": ("tab:red", "o"), "p": ("tab:green", "s"), "B": ("tab:blue", "^")}
    panels = ((axes[0], "test_ll", "test log-likelihood (nats / image)"),
              (axes[1], "fid", "FID to test (digits features)"))
    for ax, key, label in panels:
        ax.plot(eps, [r[key] for r in sweep], "k.-", lw=1, label="KDE p_1(eps)")
        for name, m in marks.items():
            color, marker = styles[name]
            ax.axhline(m[key], color=color, ls="--", lw=0.8)
            ax.plot([m["eps"]], [m[key]], marker=marker, color=color, ms=7, ls="none", label=m["label"])
        ax.set_xscale("log")
        ax.set_xlabel("kernel variance eps")
        ax.set_title(label, fontsize=9)
    axes[0].set_yscale("symlog", linthresh=10.0)
    axes[1].axhline(real_fid, color="0.5", ls=":", lw=1, label="train split (real digits)")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=7, loc="upper left")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("likelihood and sample quality on the 8x8 digits (test split)", fontsize=10)
    return save_figure(fig, path, tight=True)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Fit A = p_1(eps) and B = 0.01 p + 0.99 U[0,1]^64 on the digits; their test log-likelihood and samples.

    numbers: per model (``A``, ``p``, ``B``) its kernel variance, test log-likelihood (nats per image), FID,
    nearest-training-image distance and confident fraction; ``bound_min_slack`` = min over test images of
    ``log p_2 - (log p - log 100)`` (>= 0 is the slide's bound); ``test_nn_distance`` (the real digits'
    own distance to the train split); ``train_split_fid`` (FID of the train split to the test split, the
    floor for real digits); ``sweep`` (the same numbers for p_1 over eps); the LOO curve that
    chose p's variance.
    """
    p = _params(params, size)
    out = Path(out)
    from ganlab.data.images import digits_split, load_digits_images
    from ganlab.metrics.classifier import load_digits_classifier
    from ganlab.report import plot_image_grid

    images, labels = load_digits_images()
    train_idx, test_idx = digits_split(labels)  # the split of load_digits_split, the digits loaded once
    train = images[torch.as_tensor(train_idx)].reshape(-1, 64).double()
    test = images[torch.as_tensor(test_idx)].reshape(-1, 64).double()
    classifier, _ = load_digits_classifier()
    with torch.no_grad():
        test_features = classifier.features(test.float().reshape(-1, 1, 8, 8)).double().numpy()
    real = _quality(train, train, test_features, classifier)  # the train split itself: FID floor
    n_samples = p["n_samples"] or _N_SAMPLES[size]
    w_noise = float(p["noise_weight"])
    gen = torch.Generator().manual_seed(int(p["seed"]))

    # p: the bandwidth of best leave-one-out log-likelihood on the train split
    sq_train = _sq_distances(train, train)
    loo = {e: _loo_from_sq(sq_train, 64, e) for e in p["bandwidth_grid"]}
    eps_p = max(loo, key=loo.get)
    sq_test = _sq_distances(test, train)  # every test log-likelihood below comes from these distances

    def kde_model(eps: float) -> tuple[dict[str, float], torch.Tensor]:
        x = kde_sample(train, eps, n_samples, generator=gen)
        row = {"eps": eps, "test_ll": float(_log_kde_from_sq(sq_test, train.shape[0], 64, eps).mean())}
        return {**row, **_quality(x, train, test_features, classifier)}, x

    a, x_a = kde_model(float(p["eps"]))
    good, x_p = kde_model(eps_p)
    # B = (1 - w) p + w U[0,1]^64: log U = 0 on the cube, where every test image lies
    log_p = _log_kde_from_sq(sq_test, train.shape[0], 64, eps_p)
    log_b = noisy_mixture_log_density(log_p, torch.zeros_like(log_p), weight=1.0 - w_noise)
    slack = log_b - (log_p - math.log(1.0 / (1.0 - w_noise)))
    from_p = torch.rand(n_samples, generator=gen) < 1.0 - w_noise
    x_b = torch.where(from_p[:, None], kde_sample(train, eps_p, n_samples, generator=gen),
                      torch.rand(n_samples, 64, generator=gen, dtype=torch.float64))
    b = {"eps": eps_p, "test_ll": float(log_b.mean()), **_quality(x_b, train, test_features, classifier),
         "noise_fraction": float(1.0 - from_p.double().mean())}
    sweep = [a if e == a["eps"] else (good if e == eps_p else kde_model(e)[0]) for e in _SWEEP[size]]

    figures = []
    for name, x, title in (("A", x_a, f"A: p_1, eps={a['eps']:g}"), ("p", x_p, f"p: p_1, eps={eps_p:g} (LOO)"),
                           ("B", x_b, f"B: {1 - w_noise:g} p + {w_noise:g} noise")):
        figures.append(plot_image_grid(out / f"samples_{name}.png", x[:64].float().clamp(0, 1).reshape(-1, 1, 8, 8),
                                       nrow=8, title=title))
    marks = {"A": {**a, "label": "A"}, "p": {**good, "label": "p (LOO)"},
             "B": {**b, "label": f"B = {1 - w_noise:g} p + {w_noise:g} noise"}}
    figures.append(_tradeoff_figure(out / "likelihood_vs_quality.png", sweep, marks, real["fid"]))

    bound_ok = float(slack.min()) >= -1e-9
    ll_ok = b["test_ll"] - a["test_ll"] >= float(p["ll_margin"])
    quality_ok = a["fid"] <= 0.5 * b["fid"] and a["nn_distance"] < b["nn_distance"]
    passed = bool(bound_ok and ll_ok and quality_ok)
    numbers = {
        "A": a, "p": good, "B": b,
        "bound_min_slack": float(slack.min()),
        "log_inverse_weight": math.log(1.0 / (1.0 - w_noise)),
        "test_nn_distance": float(sq_test.min(dim=1).values.sqrt().mean()),
        "train_split_fid": real["fid"],
        "n_train": int(train.shape[0]), "n_test": int(test.shape[0]), "n_samples": n_samples,
        "loo_log_likelihood": {f"{e:g}": v for e, v in loo.items()},
        "sweep": sweep,
    }
    verdict = (
        f"A (KDE, eps={a['eps']:g}) scores {a['test_ll']:.1f} nats/image on the test digits but its samples lie "
        f"{a['nn_distance']:.2f} from a training image (FID {a['fid']:.2f}); B ({1 - w_noise:g} p + {w_noise:g} "
        f"uniform noise) scores {b['test_ll']:.1f} nats/image (p: {good['test_ll']:.1f}; log p_2 >= log p - "
        f"{numbers['log_inverse_weight']:.2f} on all {test.shape[0]} test images, min slack "
        f"{numbers['bound_min_slack']:.2g}) while {100 * b['noise_fraction']:.0f} % of its samples are noise "
        f"(FID {b['fid']:.1f}, {b['nn_distance']:.2f} from a training image): likelihood and sample quality "
        f"{'disagree' if passed else 'do not disagree as claimed'}."
    )
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=tuple(figures))


EXPERIMENT = Experiment(
    name="likelihood-vs-samples",
    lecture="004_a72885b194f54592.txt 'Likelihood based models'",
    claim=("A kernel density estimate with tiny eps gives great samples and a poor test likelihood; "
           "0.01 p + 0.99 noise keeps the likelihood within log 100 of p's while 99 % of its samples are noise."),
    params={"seed": 0, "eps": 1e-4, "noise_weight": 0.99,
            "bandwidth_grid": [0.003, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.07, 0.1],
            "n_samples": 0, "ll_margin": 100.0},
    run=run,
)
