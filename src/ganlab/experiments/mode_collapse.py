"""Mode collapse: minimax and non-saturating GANs cover fewer modes, or hop between them, than WGAN-GP and SN-GAN.

    modes_t      = #{k : c_k(t) >= 1}                     modes captured at snapshot t (VEEGAN / PacGAN)
    coverage     = (1/T) sum_t modes_t / K                fraction of the K modes, averaged over the T snapshots
    hopping      = mean_t TV(q_t, q_{t+1}),  q_t = c(t) / sum_k c_k(t)   how far the mode histogram moves
                   between consecutive snapshots (pairs where either histogram is empty are left out)

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
spectral norm: ``wgan-gp-toy``, ``sngan``). Passed when, on every data set, the Lipschitz group's mean
coverage exceeds the classic group's by at least ``coverage_margin`` (a fraction of the modes), or the
classic group's mean hopping exceeds the Lipschitz group's by at least ``hopping_margin``. Whatever the
outcome, the numbers are reported as measured.

Deviations from the recipes, for time: both networks are MLPs of ``width`` units (default 128; the recipes
keep the WGAN-GP toy script's 512), ``eval_samples`` = 1000 (the VEEGAN / PacGAN protocol uses 2500), and the
runs are short (``full``: 1500 steps; the papers train 10^5 and more), so the claim is measured early in
training, where the Unrolled GAN figure shows it. ``smoke`` runs tens of steps on the first data set only:
nothing has been learnt by then, and its verdict says so.

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
import torch

from ganlab.experiments import SIZES, Experiment, Result
from ganlab.files import atomic_write
from ganlab.report import pyplot

__all__ = ["EXPERIMENT", "coverage", "hopping", "claim_holds", "is_lipschitz", "run"]

_STEPS = {"smoke": 30, "full": 1500}
_SNAPSHOTS = {"smoke": 2, "full": 6}
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


def claim_holds(classic: Sequence[dict[str, Any]], lipschitz: Sequence[dict[str, Any]], *, coverage_margin: float,
                hopping_margin: float) -> dict[str, Any]:
    """The claim on one data set, from the runs' {"coverage", "hopping"} (hopping None counts as 0).

    Returns {"coverage_gap": mean Lipschitz coverage - mean classic coverage, "hopping_gap": mean classic
    hopping - mean Lipschitz hopping, "holds": coverage_gap >= coverage_margin or hopping_gap >= hopping_margin}.
    """
    if not classic or not lipschitz:
        raise ValueError("the claim compares two groups of recipes; each needs at least one run")

    def mean(runs: Sequence[dict[str, Any]], key: str) -> float:
        return float(np.mean([r[key] if r[key] is not None else 0.0 for r in runs]))

    cov_gap = mean(lipschitz, "coverage") - mean(classic, "coverage")
    hop_gap = mean(classic, "hopping") - mean(lipschitz, "hopping")
    return {"coverage_gap": cov_gap, "hopping_gap": hop_gap,
            "holds": bool(cov_gap >= coverage_margin or hop_gap >= hopping_margin)}


def is_lipschitz(config: Any) -> bool:
    """A config whose critic is kept Lipschitz: gradient penalty, weight clipping or spectral norm."""
    return bool(config.gp_weight > 0 or config.clip_value is not None or config.spectral_norm)


# ----------------------------------------------------------------------------------------------
# the runs
# ----------------------------------------------------------------------------------------------
def _params(params: dict[str, Any], size: str) -> dict[str, Any]:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    unknown = sorted(set(params) - set(EXPERIMENT.params))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} of mode-collapse; expected {sorted(EXPERIMENT.params)}")
    p = {**EXPERIMENT.params, **params}
    for key in ("steps", "snapshots"):
        if not (isinstance(p[key], int) and p[key] >= 0):
            raise ValueError(f"{key} must be 0 (the size's default) or a positive integer, got {p[key]!r}")
    for key in ("width", "eval_samples"):
        if not (isinstance(p[key], int) and p[key] >= 1):
            raise ValueError(f"{key} must be a positive integer, got {p[key]!r}")
    for key in ("coverage_margin", "hopping_margin"):
        if not (math.isfinite(float(p[key])) and float(p[key]) >= 0):
            raise ValueError(f"{key} must be a number >= 0, got {p[key]!r}")
    from ganlab.data.toy import TOY_DATASETS
    from ganlab.recipes import recipe_config

    recipes, datasets = list(p["recipes"]), list(p["datasets"])
    if not recipes or not datasets:
        raise ValueError(f"recipes and datasets must each name at least one, got {recipes!r} and {datasets!r}")
    groups = {is_lipschitz(recipe_config(r)) for r in recipes}  # recipe_config: ValueError for unknown names
    if groups != {False, True}:
        raise ValueError(f"recipes {recipes} must include a classic GAN (gan, nsgan) and a Lipschitz one "
                         f"(wgan-gp-toy, sngan, ...) for the comparison")
    for d in datasets:
        if d not in ("ring", "grid", "8gaussians", "25gaussians"):
            known = [n for n in TOY_DATASETS if n in ("ring", "grid", "8gaussians", "25gaussians")]
            raise ValueError(f"datasets: {d!r} is not a 2-D mixture with modes; expected one of {known}")
    steps = p["steps"] or _STEPS[size]
    snapshots = p["snapshots"] or _SNAPSHOTS[size]
    if snapshots > steps:
        raise ValueError(f"snapshots={snapshots} is more than steps={steps}; a snapshot needs at least one step")
    return {**p, "recipes": recipes, "datasets": datasets if size == "full" else datasets[:1], "steps": steps,
            "snapshots": snapshots}


def _train_with_snapshots(recipe: str, data: str, p: dict[str, Any],
                          run_dir: Path) -> tuple[dict[str, Any], dict[int, np.ndarray], Any]:
    """One run of the training loop in snapshot segments: (its record, samples by step, the data set)."""
    from ganlab.build import eval_latents
    from ganlab.metrics.modes import mode_metrics
    from ganlab.recipes import resolve_config
    from ganlab.runs import load_run
    from ganlab.train import train

    if run_dir.exists():  # this experiment's own run folder from an earlier call
        shutil.rmtree(run_dir)
    base = resolve_config(recipe=recipe, data=data, steps=p["steps"], out=str(run_dir), seed=int(p["seed"]),
                          threads=1, eval_every=0, ckpt_every=0, log_every=max(1, p["steps"]),
                          eval_samples=p["eval_samples"],
                          model={"family": "mlp", "g_width": p["width"], "d_width": p["width"]})
    ends = np.linspace(0, p["steps"], p["snapshots"] + 1).round().astype(int)[1:]
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
    return {"recipe": recipe, "data": data, "lipschitz": is_lipschitz(base), "num_modes": k, "snapshots": snaps,
            "coverage": coverage([s["modes"] for s in snaps], k), "hopping": hopping([s["counts"] for s in snaps]),
            "final_modes": snaps[-1]["modes"], "final_high_quality": snaps[-1]["high_quality"],
            "wall_seconds": summary["wall_seconds"]}, samples, setup.dataset


def _snapshot_figure(path: Path, data: str, runs: list[dict[str, Any]], samples: dict[str, dict[int, np.ndarray]],
                     dataset: Any) -> Path:
    """One row of scatter plots per recipe, one column per snapshot: samples over the modes."""
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
    fig.suptitle(f"{data}: samples over training\n(modes captured, high quality)", fontsize=9)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def _curves_figure(path: Path, by_data: dict[str, list[dict[str, Any]]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(by_data), figsize=(5 * len(by_data), 3.6), dpi=90, squeeze=False)
    for ax, (data, runs) in zip(axes[0], by_data.items()):
        for run in runs:
            steps = [s["step"] for s in run["snapshots"]]
            hop = "-" if run["hopping"] is None else f"{run['hopping']:.2f}"
            ax.plot(steps, [s["modes"] for s in run["snapshots"]], "o-" if run["lipschitz"] else "s--", ms=3,
                    label=f"{run['recipe']} (hopping {hop})")
        ax.axhline(runs[0]["num_modes"], color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("generator step")
        ax.set_ylabel("modes captured")
        ax.set_title(data, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def run(params: dict[str, Any], out: Path, size: str) -> Result:
    """Train every recipe on every data set with snapshots; mode metrics over training and the claim per data set.

    numbers: ``runs`` (per recipe and data set: ``lipschitz``, ``num_modes``, ``snapshots`` (step, modes,
    high_quality, reverse_kl, w1, counts), ``coverage``, ``hopping``, ``final_modes``, ``final_high_quality``,
    ``wall_seconds``), ``claim`` (per data set: ``coverage_gap``, ``hopping_gap``, ``holds``), ``steps``,
    ``snapshots``, ``datasets``. The snapshots' samples are written to ``OUT/snapshots.npz`` (arrays named
    ``DATA__RECIPE__STEP``), the run folders to ``OUT/runs/``.
    """
    p = _params(params, size)
    out = Path(out)
    runs_by_data: dict[str, list[dict[str, Any]]] = {}
    arrays: dict[str, np.ndarray] = {}
    figures, claim = [], {}
    for data in p["datasets"]:
        runs, samples = [], {}
        for recipe in p["recipes"]:
            summary, snaps, dataset = _train_with_snapshots(recipe, data, p, out / "runs" / f"{recipe}-{data}")
            runs.append(summary)
            samples[recipe] = snaps
            arrays.update({f"{data}__{recipe}__{step}": x for step, x in snaps.items()})
        runs_by_data[data] = runs
        classic = [r for r in runs if not r["lipschitz"]]
        lipschitz = [r for r in runs if r["lipschitz"]]
        claim[data] = claim_holds(classic, lipschitz, coverage_margin=float(p["coverage_margin"]),
                                  hopping_margin=float(p["hopping_margin"]))
        figures.append(_snapshot_figure(out / f"snapshots_{data}.png", data, runs, samples, dataset))
    figures.append(_curves_figure(out / "modes_over_training.png", runs_by_data))
    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to the temporary name
            np.savez(f, **arrays)

    atomic_write(out / "snapshots.npz", write_npz)

    passed = all(c["holds"] for c in claim.values())
    numbers = {"runs": [r for rs in runs_by_data.values() for r in rs], "claim": claim, "steps": p["steps"],
               "snapshots": p["snapshots"], "datasets": p["datasets"]}

    def describe(data: str) -> str:
        runs = ", ".join(f"{r['recipe']} {r['coverage']:.2f}" for r in runs_by_data[data])
        c = claim[data]
        return (f"{data}: mean coverage {runs} (Lipschitz - classic {c['coverage_gap']:+.2f}, hopping classic - "
                f"Lipschitz {c['hopping_gap']:+.2f})")

    held = [d for d, c in claim.items() if c["holds"]]
    failed = [d for d, c in claim.items() if not c["holds"]]
    outcome = (f"the minimax/NS GANs cover fewer modes or hop between them on {', '.join(held)}, as claimed"
               if passed else
               f"the claim (margins {float(p['coverage_margin']):g} of the modes / {float(p['hopping_margin']):g} "
               f"in hopping) holds on {', '.join(held) if held else 'no data set'} and not on {', '.join(failed)}")
    verdict = (f"After {p['steps']} steps in {p['snapshots']} snapshots, " + "; ".join(describe(d) for d in claim)
               + f": {outcome}.")
    return Result(numbers=numbers, verdict=verdict, passed=passed, figures=tuple(figures))


EXPERIMENT = Experiment(
    name="mode-collapse",
    lecture="004_a72885b194f54592.txt 'Mode collapse'",
    claim=("Trained on the ring and the grid, the minimax and non-saturating GANs capture fewer modes or "
           "oscillate between them, while WGAN-GP and SN-GAN cover more."),
    params={"seed": 0, "recipes": ["gan", "nsgan", "wgan-gp-toy", "sngan"], "datasets": ["ring", "grid"],
            "steps": 0, "snapshots": 0, "width": 128, "eval_samples": 1000, "coverage_margin": 0.1,
            "hopping_margin": 0.2},
    run=run,
)
