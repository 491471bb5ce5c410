"""Mode collapse: minimax and non-saturating GANs cover fewer modes, or hop between them, than WGAN-GP and SN-GAN.

    modes_t      = #{k : c_k(t) >= 1}                     modes captured at snapshot t (VEEGAN / PacGAN)
    coverage     = (1/T) sum_t modes_t / K                fraction of the K modes, averaged over the T snapshots
    hopping      = mean_t TV(q_t, q_{t+1}),  q_t = c(t) / sum_k c_k(t)   how far the mode histogram moves
                   between consecutive snapshots (pairs where either histogram is empty are left out)
    null         = E modes_t, E high quality of N samples of N(mean(P), cov(P)): a generator that has learnt
                   the data's first two moments and nothing of its modes (``null_model``)

For each recipe of ``recipes`` (default ``gan``, ``nsgan``, ``wgan-gp-toy``, ``sngan``) and each data set
of ``datasets`` (``ring``: 8 modes, ``grid``: 25), one run of the library's training loop
(``ganlab.train.train``, config from ``ganlab.recipes.resolve_config`` with ``threads=1``) is taken to
``steps`` generator steps in ``snapshots`` equal segments: each segment resumes the run from its checkpoint
(bit-identical to one uninterrupted run: ``ganlab.runs.RESUMABLE_FIELDS``). At every snapshot the
generator is applied to the run's own ``eval_samples`` evaluation latents (``ganlab.build.eval_latents``,
the same points the loop's evaluator scores), and the samples are scored with
``ganlab.metrics.modes.mode_metrics``: modes captured, % high quality, reverse KL of the mode histogram
to uniform and the per-mode counts c_k; W1 is the loop evaluator's.

The recipes fall in two groups by their resolved config: *classic* (a minimax or non-saturating loss, no
Lipschitz constraint: ``gan``, ``nsgan``) and *Lipschitz* (a gradient penalty, weight clipping or
spectral norm: ``wgan-gp-toy``, ``sngan``). The claim holds on a data set when the Lipschitz group's mean
coverage exceeds the classic group's by at least ``coverage_margin`` (a fraction of the modes), or the
classic group's mean hopping exceeds the Lipschitz group's by at least ``hopping_margin``, and the
Lipschitz group has learnt the modes: its mean final high-quality fraction is at least ``learnt_factor``
times the null model's (below that, modes are captured by chance, and a difference in coverage says how
widely the samples are spread, not whether a generator collapsed). Passed when it holds on every data set;
whatever the outcome, the numbers are reported as measured.

Why the null model. At 1500 steps with the recipes' own learning rates (1e-4, 2e-4) every recipe's
samples on the grid were still a cloud over the square: 2-3 % high quality and 11-19 of 25 modes, where
the null model expects 10.7 modes at 1.5 % (1000 samples): a cloud hits half of the 25 small discs (3 std
= 0.15) by chance, so those mode counts (mean coverage 0.43-0.48 against the null's 0.43) measured chance,
not collapse. The grid's 25 islands take longer to form than the ring's 8 (the tuned grid config,
configs/toy/grid.toml, trains 27 000 steps at lr 1e-3), so at full size the grid runs use lr 1e-3 for
both networks of every recipe (the tuned config's rate, 5-10x the recipes'; the same for both groups)
and 3000 steps, what fits a few minutes on one core per run.

Measured at full size (seeds 0-2; docs/experiments/mode-collapse): on the ring the claim holds (mean coverage
+0.30 and hopping +0.26 for the Lipschitz group: the minimax and NS GANs sat on 0-2 modes for the first 500-1250
steps). On the grid every run learnt (6-54 % high quality against the null's 1.5 %) and the rule does not hold
(coverage +0.02, hopping -0.08), for one recipe: WGAN-GP covers more than both classic GANs on average (mean
coverage 0.69 against 0.53 and 0.50: above both on seeds 0 and 1, level with GAN on seed 2; 22-24 of 25 modes at
step 3000 against 11-22), while SN-GAN covers the least (0.37; 11-19 modes) and hops the most, at lr 1e-3 (5x
its paper's rate), as it also did on one ring seed at its own rate (1 mode at step 1500). So the measurement
supports the claim for the gradient penalty and not, at these short runs, for spectral normalization.

Deviations from the recipes, for time: both networks are MLPs of ``width`` units (default 128; the recipes
keep the WGAN-GP toy script's 512), ``eval_samples`` = 1000 (the VEEGAN / PacGAN protocol uses 2500), and the
runs are short (``full``: 1500 steps on the ring, ``_FULL_STEPS`` on the grid; the papers train 10^5 and
more), so the claim is measured early in training, where the Unrolled GAN figure shows it; on the grid
the learning rate above. ``smoke`` runs tens of steps on the first data set only: nothing has been learnt
by then, and its verdict says so.

Reference: lecture 004_a72885b194f54592.txt, slide "Mode collapse" (Metz et al. 2016, Unrolled GAN,
arXiv:1611.02163, Figure 1: samples of a GAN over training on a ring of Gaussians); lecture
001_b56ff7e156eb3bba.txt, slide "Summary" ("Mode collapse and vanishing gradients are the two main problems
of vanilla GAN"); Srivastava et al. 2017 (VEEGAN, arXiv:1705.07761), Sec. 5.1 (metrics).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.stats
import torch

from ganlab.experiments import Experiment, Result, check_run
from ganlab.files import atomic_write
from ganlab.metrics.modes import HIGH_QUALITY_STDS, mode_metrics
from ganlab.report import pyplot, save_figure

__all__ = ["EXPERIMENT", "coverage", "hopping", "claim_holds", "is_lipschitz", "null_model", "run"]

_DATASETS = ("ring", "grid", "8gaussians", "25gaussians")
#: generator steps at full size by data set: 25 islands take longer to form than 8
_FULL_STEPS = {"ring": 1500, "8gaussians": 1500, "grid": 3000, "25gaussians": 3000}
#: learning rate of both networks at full size by data set (None: each recipe's own)
_FULL_LR: dict[str, float | None] = {"ring": None, "8gaussians": None, "grid": 1e-3, "25gaussians": 1e-3}
_SMOKE_STEPS = 30
_SNAPSHOTS = {"smoke": 2, "full": 6}
_SEEDS = {"smoke": 1, "full": 3}
_PLOT_POINTS = 500


# ----------------------------------------------------------------------------------------------
# the measures
# ----------------------------------------------------------------------------------------------
def coverage(modes: Sequence[int], num_modes: int) -> float:
    """(1/T) sum_t modes_t / K: the fraction of the K modes captured, averaged over the T snapshots."""
    if not modes:
        raise ValueError("coverage needs at least one snapshot, got none")
    if num_modes < 1:
        raise ValueError(f"num_modes must be >= 1, got {num_modes!r}")
    return float(np.mean(np.asarray(modes, dtype=np.float64)) / num_modes)


def hopping(counts: Sequence[Sequence[int]]) -> float | None:
    """mean_t TV(q_t, q_{t+1}) = mean_t (1/2) sum_k |q_t,k - q_{t+1},k|,  q_t = c(t) / sum_k c_k(t).

    Shapes: counts (T, K), the high-quality samples per mode at each snapshot. Pairs in which either
    histogram is empty are left out; None when no pair is left (fewer than two non-empty snapshots in a row).
    0 means the same modes in the same proportions throughout; 1 means the mass moved to other modes.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or np.any(c < 0):
        raise ValueError(f"counts must be a (T, K) array of non-negative counts, got shape {c.shape}")
    tvs = []
    for a, b in zip(c[:-1], c[1:]):
        if a.sum() > 0 and b.sum() > 0:
            tvs.append(0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum()))
    return float(np.mean(tvs)) if tvs else None


def _mean(runs: Sequence[dict[str, Any]], key: str) -> float:
    """The mean of the runs' ``key`` (a value None counts as 0)."""
    return float(np.mean([r[key] if r[key] is not None else 0.0 for r in runs]))


def _by_recipe(runs: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The runs grouped by recipe (one run per seed), recipes in the order they first appear."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r["recipe"], []).append(r)
    return groups


def claim_holds(classic: Sequence[dict[str, Any]], lipschitz: Sequence[dict[str, Any]], *, coverage_margin: float,
                hopping_margin: float, null_quality: float = 0.0, learnt_factor: float = 0.0) -> dict[str, Any]:
    """The claim on one data set, from the runs' {"coverage", "hopping", "final_high_quality"} (hopping None
    counts as 0).

    Returns {"coverage_gap": mean Lipschitz coverage - mean classic coverage, "hopping_gap": mean classic
    hopping - mean Lipschitz hopping, "lipschitz_quality": mean final high quality of the Lipschitz group,
    "learnt": lipschitz_quality >= learnt_factor * null_quality, "holds": (coverage_gap >= coverage_margin or
    hopping_gap >= hopping_margin) and learnt}. With the defaults (0, 0) the group counts as learnt.
    """
    if not classic or not lipschitz:
        raise ValueError("the claim compares two groups of recipes; each needs at least one run")
    cov_gap = _mean(lipschitz, "coverage") - _mean(classic, "coverage")
    hop_gap = _mean(classic, "hopping") - _mean(lipschitz, "hopping")
    quality = _mean(lipschitz, "final_high_quality")
    learnt = bool(quality >= learnt_factor * null_quality)
    return {"coverage_gap": cov_gap, "hopping_gap": hop_gap, "lipschitz_quality": quality, "learnt": learnt,
            "holds": bool((cov_gap >= coverage_margin or hop_gap >= hopping_margin) and learnt)}


def null_model(dataset: Any, n: int) -> dict[str, float]:
    """E modes captured and E high quality of n samples of N(m, s^2 I), m and s^2 I the data's mean and covariance.

    A mode k is captured by a sample within 3 sigma_k of mu_k (the discs are disjoint, so that sample's
    nearest mode is k), which one sample hits with probability
        pi_k = P(||x - mu_k||^2 < 9 sigma_k^2) = F_ncx2(9 sigma_k^2 / s^2; df 2, nc ||m - mu_k||^2 / s^2),
    so E modes = sum_k 1 - (1 - pi_k)^n and E high quality = sum_k pi_k. Returns {"modes", "high_quality"}.

    Raises ValueError unless the data set is a 2-D mixture with isotropic covariance (``ring``, ``grid``,
    ``8gaussians``, ``25gaussians``) whose 3-std discs are disjoint.
    """
    mu, w = np.asarray(dataset.modes, np.float64), np.asarray(dataset.weights, np.float64)
    sigma = dataset.std_per_mode()
    mean = w @ mu
    centred = mu - mean
    cov = (w[:, None, None] * np.einsum("ki,kj->kij", centred, centred)).sum(0) + float(w @ sigma**2) * np.eye(2)
    s2 = float(np.trace(cov)) / 2
    if mu.shape[1] != 2 or not np.allclose(cov, s2 * np.eye(2), rtol=1e-9, atol=1e-12):
        raise ValueError(f"null_model needs a 2-D mixture with isotropic covariance, got {dataset.name!r}")
    gaps = np.linalg.norm(mu[:, None] - mu[None], axis=-1) + np.diag(np.full(len(mu), np.inf))
    if np.any(gaps < HIGH_QUALITY_STDS * (sigma[:, None] + sigma[None])):
        raise ValueError(f"null_model needs disjoint {HIGH_QUALITY_STDS:g}-std discs around the modes of {dataset.name!r}")
    nc = ((mu - mean) ** 2).sum(1) / s2
    pi = scipy.stats.ncx2.cdf(HIGH_QUALITY_STDS**2 * sigma**2 / s2, 2, nc)
    return {"modes": float(np.sum(1.0 - (1.0 - pi) ** n)), "high_quality": float(pi.sum())}


def is_lipschitz(config: Any) -> bool:
    """A config whose critic is kept Lipschitz: gradient penalty, weight clipping or spectral norm."""
    return bool(config.gp_weight > 0 or config.clip_value is not None or config.spectral_norm)


# ----------------------------------------------------------------------------------------------
# the runs
# ----------------------------------------------------------------------------------------------
def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    check_run(EXPERIMENT.name, params, size, EXPERIMENT.params)
    p = {**EXPERIMENT.params, **params}
    for key in ("steps", "snapshots", "seeds"):
        if not (isinstance(p[key], int) and p[key] >= 0):
            raise ValueError(f"{key} must be 0 (the size's default) or a positive integer, got {p[key]!r}")
    for key in ("width", "eval_samples"):
        if not (isinstance(p[key], int) and p[key] >= 1):
            raise ValueError(f"{key} must be a positive integer, got {p[key]!r}")
    for key in ("coverage_margin", "hopping_margin", "lr", "learnt_factor"):
        if not (isinstance(p[key], (int, float)) and math.isfinite(float(p[key])) and float(p[key]) >= 0):
            raise ValueError(f"{key} must be a number >= 0, got {p[key]!r}")
    from ganlab.recipes import recipe_config

    recipes, datasets = list(p["recipes"]), list(p["datasets"])
    if not recipes or not datasets:
        raise ValueError(f"recipes and datasets must each name at least one, got {recipes!r} and {datasets!r}")
    groups = {is_lipschitz(recipe_config(r)) for r in recipes}  # recipe_config: ValueError for unknown names
    if groups != {False, True}:
        raise ValueError(f"recipes {recipes} must include a classic GAN (gan, nsgan) and a Lipschitz one "
                         f"(wgan-gp-toy, sngan, ...) for the comparison")
    for d in datasets:
        if d not in _DATASETS:
            raise ValueError(f"datasets: {d!r} is not a 2-D mixture with modes; expected one of {list(_DATASETS)}")
    datasets = datasets if size == "full" else datasets[:1]
    steps = {d: p["steps"] or (_FULL_STEPS[d] if size == "full" else _SMOKE_STEPS) for d in datasets}
    lr = {d: float(p["lr"]) or (_FULL_LR[d] if size == "full" else None) for d in datasets}
    snapshots = p["snapshots"] or _SNAPSHOTS[size]
    seeds = list(range(int(p["seed"]), int(p["seed"]) + (p["seeds"] or _SEEDS[size])))
    if snapshots > min(steps.values()):
        raise ValueError(f"snapshots={snapshots} is more than steps={min(steps.values())}; a snapshot needs at "
                         f"least one step")
    return {**p, "recipes": recipes, "datasets": datasets, "steps": steps, "lr": lr, "snapshots": snapshots,
            "seeds": seeds}


def _train_with_snapshots(recipe: str, data: str, seed: int, p: dict[str, Any],
                          run_dir: Path) -> tuple[dict[str, Any], dict[int, np.ndarray], Any]:
    """One run of the training loop in snapshot segments: (its record, samples by step, the data set)."""
    from ganlab.build import eval_latents
    from ganlab.recipes import resolve_config
    from ganlab.runs import load_run
    from ganlab.train import train

    if run_dir.exists():  # this experiment's own run folder from an earlier call
        shutil.rmtree(run_dir)
    steps, lr = p["steps"][data], p["lr"][data]
    rates = {} if lr is None else {"lr_g": lr, "lr_d": lr}
    base = resolve_config(recipe=recipe, data=data, steps=steps, out=str(run_dir), seed=seed,
                          threads=1, eval_every=0, ckpt_every=0, log_every=max(1, steps),
                          eval_samples=p["eval_samples"],
                          model={"family": "mlp", "g_width": p["width"], "d_width": p["width"]}, **rates)
    ends = np.linspace(0, steps, p["snapshots"] + 1).round().astype(int)[1:]
    snaps, samples = [], {}
    for i, end in enumerate(ends):
        summary = train(replace(base, steps=int(end)), resume=i > 0, progress=False)
        loaded = load_run(run_dir, ema=False)
        setup = loaded.setup
        with torch.no_grad():
            x = loaded.sampler(eval_latents(setup.seeds, setup.latent_dim, p["eval_samples"])).double()
        m = mode_metrics(x, setup.dataset, compute_w1=False)
        snaps.append({"step": int(end), "modes": m.modes, "high_quality": m.high_quality, "reverse_kl": m.reverse_kl,
                      "w1": summary.get("w1"), "counts": list(m.counts)})
        samples[int(end)] = x.float().numpy()
    k = int(setup.dataset.num_modes)
    return {"recipe": recipe, "data": data, "seed": seed, "lipschitz": is_lipschitz(base), "lr_g": base.lr_g,
            "lr_d": base.lr_d, "num_modes": k, "snapshots": snaps,
            "coverage": coverage([s["modes"] for s in snaps], k), "hopping": hopping([s["counts"] for s in snaps]),
            "final_modes": snaps[-1]["modes"], "final_high_quality": snaps[-1]["high_quality"],
            "wall_seconds": summary["wall_seconds"]}, samples, setup.dataset


def _snapshot_figure(path: Path, data: str, runs: list[dict[str, Any]], samples: dict[str, dict[int, np.ndarray]],
                     dataset: Any) -> Path:
    """One row of scatter plots per run (one seed of each recipe), one column per snapshot: samples over the
    modes."""
    plt = pyplot()
    cols = len(runs[0]["snapshots"])
    fig, axes = plt.subplots(len(runs), cols, figsize=(max(2.1 * cols, 4.5), 2.2 * len(runs)), dpi=80,
                             squeeze=False)
    modes = np.asarray(dataset.modes)
    span = float(np.abs(modes).max()) * 1.5
    for row, run in zip(axes, runs):
        for ax, snap in zip(row, run["snapshots"]):
            x = samples[run["recipe"]][snap["step"]][:_PLOT_POINTS]
            ax.scatter(modes[:, 0], modes[:, 1], s=30, facecolors="none", edgecolors="k", linewidths=0.6)
            ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:green", alpha=0.5)
            ax.set_xlim(-span, span)
            ax.set_ylim(-span, span)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {snap['step']}: {snap['modes']}/{run['num_modes']}, "
                         f"{100 * snap['high_quality']:.0f} %", fontsize=7)
        row[0].set_ylabel(run["recipe"], fontsize=9)
    fig.suptitle(f"{data}, seed {runs[0]['seed']}: samples over training\n(modes captured, high quality)", fontsize=9)
    return save_figure(fig, path, tight=True)


def _curves_figure(path: Path, by_data: dict[str, list[dict[str, Any]]], null: dict[str, dict[str, float]]) -> Path:
    """Modes captured over training per data set, one line per recipe (the mean over its seeds, their range
    shaded), the null model's expectation dashed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(by_data), figsize=(5 * len(by_data), 3.6), dpi=90, squeeze=False)
    for ax, (data, runs) in zip(axes[0], by_data.items()):
        groups = _by_recipe(runs)
        for recipe, mine in groups.items():
            steps = [s["step"] for s in mine[0]["snapshots"]]
            modes = np.array([[s["modes"] for s in r["snapshots"]] for r in mine], dtype=np.float64)
            hop = "-" if all(r["hopping"] is None for r in mine) else f"{_mean(mine, 'hopping'):.2f}"
            line, = ax.plot(steps, modes.mean(0), "o-" if mine[0]["lipschitz"] else "s--", ms=3,
                            label=f"{recipe} (hopping {hop})")
            if len(mine) > 1:
                ax.fill_between(steps, modes.min(0), modes.max(0), color=line.get_color(), alpha=0.15, lw=0)
        ax.axhline(runs[0]["num_modes"], color="0.6", lw=0.8, ls=":")
        ax.axhline(null[data]["modes"], color="tab:red", lw=0.8, ls="--", label=f"null ({null[data]['modes']:.1f})")
        ax.set_xlabel("generator step")
        ax.set_ylabel(f"modes captured (mean of {len(mine)} seeds)")
        ax.set_title(data, fontsize=9)
        ax.legend(fontsize=7)
    return save_figure(fig, path, tight=True)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Train every recipe on every data set with snapshots; mode metrics over training and the claim per data set.

    Each recipe runs once per seed of ``seeds`` (``seeds`` consecutive seeds from ``seed``; 0: the size's
    default, 1 at smoke and 3 at full size); the groups' means in ``claim_holds`` are over all their runs.

    numbers: ``runs`` (per seed, recipe and data set: ``seed``, ``lipschitz``, ``lr_g``, ``lr_d``, ``num_modes``,
    ``snapshots`` (step, modes, high_quality, reverse_kl, w1, counts), ``coverage``, ``hopping``, ``final_modes``,
    ``final_high_quality``, ``wall_seconds``), ``claim`` (per data set: ``coverage_gap``, ``hopping_gap``,
    ``lipschitz_quality``, ``learnt``, ``holds``), ``null`` (per data set: ``modes``, ``high_quality``),
    ``steps`` and ``lr`` (per data set; lr None: the recipes' own), ``snapshots``, ``datasets``, ``seeds``. The
    snapshots' samples are written to ``OUT/snapshots.npz`` (arrays named ``DATA__RECIPE__sSEED__STEP``), the
    run folders to ``OUT/runs/RECIPE-DATA-sSEED``.
    """
    p = _params(params, size)
    out = Path(out)
    runs_by_data: dict[str, list[dict[str, Any]]] = {}
    arrays: dict[str, np.ndarray] = {}
    figures, claim, null = [], {}, {}
    for data in p["datasets"]:
        runs, samples = [], {}
        for seed in p["seeds"]:
            for recipe in p["recipes"]:
                summary, snaps, dataset = _train_with_snapshots(recipe, data, seed, p,
                                                                out / "runs" / f"{recipe}-{data}-s{seed}")
                runs.append(summary)
                if seed == p["seeds"][0]:
                    samples[recipe] = snaps
                arrays.update({f"{data}__{recipe}__s{seed}__{step}": x for step, x in snaps.items()})
        runs_by_data[data] = runs
        null[data] = null_model(dataset, p["eval_samples"])
        classic = [r for r in runs if not r["lipschitz"]]
        lipschitz = [r for r in runs if r["lipschitz"]]
        claim[data] = claim_holds(classic, lipschitz, coverage_margin=float(p["coverage_margin"]),
                                  hopping_margin=float(p["hopping_margin"]),
                                  null_quality=null[data]["high_quality"], learnt_factor=float(p["learnt_factor"]))
        first_seed = [r for r in runs if r["seed"] == p["seeds"][0]]
        figures.append(_snapshot_figure(out / f"snapshots_{data}.png", data, first_seed, samples, dataset))
    figures.append(_curves_figure(out / "modes_over_training.png", runs_by_data, null))

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to the temporary name
            np.savez(f, **arrays)

    atomic_write(out / "snapshots.npz", write_npz)

    passed = all(c["holds"] for c in claim.values())
    numbers = {"runs": [r for rs in runs_by_data.values() for r in rs], "claim": claim, "null": null,
               "steps": p["steps"], "lr": p["lr"], "snapshots": p["snapshots"], "datasets": p["datasets"],
               "seeds": p["seeds"],
               "learnt_factor": float(p["learnt_factor"])}

    def describe(data: str) -> str:
        runs, c, n = runs_by_data[data], claim[data], null[data]
        rates = "the recipes' rates" if p["lr"][data] is None else f"lr {p['lr'][data]:g}"
        groups = _by_recipe(runs)
        modes_format = ".0f" if len(p["seeds"]) == 1 else ".1f"
        cov = ", ".join(f"{name} {_mean(rs, 'coverage'):.2f}" for name, rs in groups.items())
        final = ", ".join(f"{name} {_mean(rs, 'final_modes'):{modes_format}}/"
                          f"{100 * _mean(rs, 'final_high_quality'):.0f} %" for name, rs in groups.items())
        ends = {g: _mean([r for r in runs if r["lipschitz"] is g], "final_modes") for g in (True, False)}
        text = (f"{data} ({p['steps'][data]} steps, {rates}): mean coverage {cov} (Lipschitz - classic "
                f"{c['coverage_gap']:+.2f}, hopping classic - Lipschitz {c['hopping_gap']:+.2f}); final modes / high "
                f"quality {final} (null: {n['modes']:.1f}/{100 * n['high_quality']:.1f} %; mean final modes "
                f"Lipschitz {ends[True]:.1f}, classic {ends[False]:.1f})")
        if not c["learnt"]:
            text += (f", so the Lipschitz runs ({100 * c['lipschitz_quality']:.1f} % high quality) have not learnt "
                     f"the modes (< {float(p['learnt_factor']):g} x null)")
        return text

    held = [d for d, c in claim.items() if c["holds"]]
    failed = [d for d, c in claim.items() if not c["holds"]]
    margins = (f"margins {float(p['coverage_margin']):g} of the modes / {float(p['hopping_margin']):g} in hopping, "
               f"Lipschitz high quality >= {float(p['learnt_factor']):g} x null")
    outcome = (f"the minimax/NS GANs cover fewer modes or hop between them on {', '.join(held)}, as claimed "
               f"({margins})" if passed else
               f"the claim ({margins}) holds on {', '.join(held) if held else 'no data set'} and not on "
               f"{', '.join(failed)}")
    seeds = f"seed {p['seeds'][0]}" if len(p["seeds"]) == 1 else f"means over seeds {p['seeds'][0]}-{p['seeds'][-1]}"
    verdict = (f"In {p['snapshots']} snapshots ({seeds}), " + "; ".join(describe(d) for d in claim)
               + f": {outcome}.")
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=tuple(figures))


EXPERIMENT = Experiment(
    name="mode-collapse",
    lecture="004_a72885b194f54592.txt 'Mode collapse'",
    claim=("Trained on the ring and the grid, the minimax and non-saturating GANs capture fewer modes or "
           "oscillate between them, while WGAN-GP and SN-GAN cover more."),
    params={"seed": 0, "seeds": 0, "recipes": ["gan", "nsgan", "wgan-gp-toy", "sngan"], "datasets": ["ring", "grid"],
            "steps": 0, "lr": 0.0, "snapshots": 0, "width": 128, "eval_samples": 1000, "coverage_margin": 0.1,
            "hopping_margin": 0.2, "learnt_factor": 3.0},
    run=run,
)
