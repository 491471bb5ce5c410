"""Live diagnostics from the lectures' theory: the loop asks at every log step whether a known failure shows.

    Diagnostics(setup).observe(step, row, setup, samples=...) -> [Finding, ...]

At each log step a fixed probe batch (real points, latents and interpolation weights drawn once from the run's
evaluation seed, so that the numbers of two steps compare like with like) goes through the networks in eval
mode (spectral norm's u, v frozen, no batch statistics updated, no random stream of the run touched); the
measurements go into the row as `diag_*` fields (metrics.jsonl, TensorBoard), and a diagnostic whose condition
holds for its window of generator steps raises its alarm `diag_alarm_<name>` = 1 in the row. The loop
prints each diagnostic the first time it fires in the run; `fired` names them for the summary.

| name | applies to | measured (row field) | fires when, for 100 / 200 steps |
| --- | --- | --- | --- |
| `saturation` | loss "minimax" | `diag_d_fake` = E σ(v(G(z))), `diag_grad_ratio` | E D(G(z)) < 1e-3 (100) |
| `disjoint_supports` | minimax, ns, fgan js/gan | `diag_js` = log 2 + ½(E_π log σ(v) + E_p log σ(−v)) | ≈ log 2 (200) |
| `lipschitz_lost` | gp_weight > 0 | `diag_grad_norm` = E ‖∇f(x̂)‖ on interpolates | outside [0.5, 2] (200) |
| `clipped_weights` | clip_value set | `diag_clip_fraction`: weights with abs(w) ≥ 0.99 c | above 0.5 (100) |
| `mode_collapse` | evaluation steps | `modes`, `diag_diversity`, `fid`, `is` | a drop from the best (at once) |

"For 200 steps" means at every log step from some step s on, at least two of them, the latest >= s + 200: a
window in generator steps, not in log lines, so that `log_every` does not change what fires (the shipped toy
configs' critics pass 2 for a few dozen steps early on, which is no failure: measured in
tests/test_diagnostics.py).

Cost: the probe (128 points) is a generator and a critic forward, plus a critic forward and input gradient on
the interpolates for a penalty run, or two backward passes through both nets for a minimax run: measured
3 ms on the shipped toy configs' nets (64 wide), 14 ms (penalty) and 78 ms (minimax) on the recipes' 512 x 3
nets, on this 2-core machine under a load of 8 (about a quarter of that idle), once per log step. The
diversity of samples (mean pairwise distance of at most 500 of them) is taken only at evaluation steps, on
the samples the evaluator drew anyway.

A resumed run replays the rows of its metrics.jsonl (`history`) first, so each diagnostic fires once per
run, not once per session, and the collapse checks remember the best modes / FID / IS of the earlier steps.

References (lecture files in /work/shared/lectures): vanishing gradients, 003_74d7f85fefbfef05.txt "Main
problems of standard GAN" and 000_b0081a5cac0268ab.txt "Recap of previous lecture" (Main problems); disjoint
supports, 004_a72885b194f54592.txt "Informal theoretical results" and "Wasserstein distance vs KL vs JSD";
the gradient penalty, 001_b56ff7e156eb3bba.txt "Wasserstein GAN with Gradient Penalty" (Theorem, Corollary,
Gradient penalty); weight clipping, 001_b56ff7e156eb3bba.txt "Wasserstein GAN with Gradient Penalty"
(Problems with weight clipping) and 000_b0081a5cac0268ab.txt "Weight clipping analysis"; mode collapse,
004_a72885b194f54592.txt "Mode collapse".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.build import Setup
from ganlab.lipschitz import interpolate
from ganlab.models.pack import packing_of

__all__ = [
    "Finding",
    "Diagnostics",
    "DIAGNOSTICS",
    "applicable",
    "js_estimate",
    "saturation_probe",
    "interpolate_grad_norm",
    "clip_fraction",
    "mean_pairwise_distance",
]

#: Objectives whose critic estimates the Jensen-Shannon divergence: V = E_π log σ(v) + E_p log σ(−v) = 2 JSD −
#: log 4 at the optimal critic (minimax, ns; f-GAN "gan"), and f-GAN "js"'s bound is (log 4 + V) / 2 itself.
JS_OBJECTIVES = ("minimax", "ns")
JS_DIVERGENCES = ("js", "gan")

#: saturation: E D(G(z)) below this is a saturated discriminator: the minimax generator's gradient through a
#: fake is σ(v) = D times the non-saturating one's 1 − D (d/dv log(1 − σ(v)) = −σ(v), d/dv −log σ(v) =
#: −(1 − σ(v))), so at D < 1e-3 the generator gets less than a thousandth of the signal the NS loss would give.
SATURATED_D = 1e-3
#: disjoint_supports: (log 4 + V(D)) / 2 is a lower bound on JSD for every D (the lecture's optimality proof:
#: V(G, D) <= V(G, D*) = 2 JSD − log 4), so an estimate within 2 % of log 2 shows, up to Monte Carlo error,
#: JSD >= 0.98 log 2: as separated as two unit Gaussians 5.2 standard deviations apart, where JSD is nearly
#: constant in the distance.
JS_TOLERANCE = 0.02
#: lipschitz_lost: the gradient penalty pulls ‖∇f(x̂)‖ to 1 (the optimal critic has unit gradient norm on the
#: lines between coupled points, WGAN-GP's Corollary). A mean a factor 2 off, either way, is no longer a
#: 1-Lipschitz critic up to a constant one can ignore: E f(real) − E f(fake) is then off W1 by up to that factor.
#: With `one_sided_gp` only the upper bound counts (norms below 1 are allowed). A fresh critic is nearly flat
#: (‖∇f‖ ≈ 0.1 with PyTorch's default initialization), so the lower bound counts only once the norm has reached
#: it. Note: a weak penalty admits steeper critics while the generator is far: for f = k f₁ (‖∇f₁‖ = 1) the
#: penalized objective k W − λ (k − 1)² is largest at k = 1 + W / (2λ), about 6 for λ = 0.1 and W = 1, which is
#: why the toy configs (λ 0.1, 1) pass 2 briefly early on and why the band must hold for 200 steps.
GRAD_NORM_BAND = (0.5, 2.0)
#: clipped_weights: a weight within 1 % of ±c is "at the box's wall"; more than half of them there is WGAN-GP's
#: Figure 1b: clipping has pushed the weights to the two extremes instead of training them (uniform weights in
#: [−c, c] would put 1 % there).
CLIP_NEAR = 0.01
CLIP_PILED = 0.5
#: mode_collapse: modes captured fall from the best so far by at least max(2, 10 % of the data's modes) (one
#: mode lost and found again is noise of the 2500-sample count; 2 of 8 on the ring is a quarter of the data;
#: 10 % keeps Stacked MNIST's 1000 from firing on noise).
MODE_DROP, MODE_DROP_FRACTION = 2, 0.1
#: mode_collapse: diversity = (mean pairwise distance of samples) / (the data's). It fires when it falls below
#: half of its best so far, once that best has reached half of the data's: a generator still unfolding from
#: its initial cloud (0.02 - 0.3 in the first hundred steps on the toys) is not collapsing, one that spread
#: out and then shrank to a few points is (a single point: 0).
DIVERSITY_FALL, DIVERSITY_REACHED = 0.5, 0.5
#: mode_collapse: FID at least twice the best so far, or IS below half its best, at an evaluation step: the
#: sample set got sharply worse (IS → 1 and FID up are what collapse to few classes does to them).
FID_RISE, IS_FALL = 2.0, 0.5
#: Samples (and real points) used for the diversity, and the probe batch's size (at most the run's batch).
DIVERSITY_N, PROBE_N = 500, 128
#: Generator steps each condition must hold (at every log step, two at least) before it fires; evaluation
#: checks fire at once. A saturated discriminator or piled weights are states that last; the JS estimate and
#: the gradient norm wander early in training (above), so they get longer.
SUSTAIN_STEPS = {"saturation": 100, "disjoint_supports": 200, "lipschitz_lost": 200, "clipped_weights": 100,
                 "mode_collapse": 0}

_VANISHING = ('lecture 003_74d7f85fefbfef05.txt, "Main problems of standard GAN" (vanishing gradients, solution: '
              'non-saturating GAN); lecture 000_b0081a5cac0268ab.txt, "Recap of previous lecture" (Main problems)')
_DISJOINT = ('lecture 004_a72885b194f54592.txt, "Informal theoretical results" and "Wasserstein distance vs KL vs '
             'JSD" (parallel lines: JSD = log 2 for every theta != 0)')
_GP = ('lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN with Gradient Penalty" (Corollary: the optimal critic '
       'has gradient norm 1; Gradient penalty)')
_CLIP = ('lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN with Gradient Penalty" (Problems with weight '
         'clipping); lecture 000_b0081a5cac0268ab.txt, "Weight clipping analysis"')
_COLLAPSE = ('lecture 004_a72885b194f54592.txt, "Mode collapse"; lecture 000_b0081a5cac0268ab.txt, "Recap of '
             'previous lecture" (Main problems: mode collapse)')

#: The diagnostics by name, with the lecture slide each explains its finding by.
DIAGNOSTICS: dict[str, str] = {"saturation": _VANISHING, "disjoint_supports": _DISJOINT, "lipschitz_lost": _GP,
                               "clipped_weights": _CLIP, "mode_collapse": _COLLAPSE}


@dataclass(frozen=True)
class Finding:
    """A diagnostic that fired: its `name` (a key of `DIAGNOSTICS`), the generator `step`, the measured `value`
    and a one-line `message` with the lecture's explanation and its file and slide."""

    name: str
    step: int
    value: float
    message: str

    def __str__(self) -> str:
        return f"ganlab diagnostics, step {self.step}: {self.name}: {self.message}"


# ---------------------------------------------------------------------------------------------- measurements


def js_estimate(v_real: Tensor, v_fake: Tensor) -> float:
    """JSD_est = log 2 + ½ (E_π log σ(v(x)) + E_p log σ(−v(G(z)))) = (log 4 + V(G, D)) / 2,  D = σ(v).

    A lower bound on JSD(π ‖ p) for any critic, tight at D* = π / (π + p); log 2 at disjoint supports.
    Shapes: v_real (N,) or (N, 1), v_fake (M,) or (M, 1), raw critic outputs (logits). Float64.
    Reference: lecture 004_a72885b194f54592.txt, "GAN optimality" (V(G, D*) = 2 JSD − log 4).
    Note: log σ(v) = −softplus(−v), exact for any |v| (no log of a sigmoid that rounded to 0).
    """
    r, f = v_real.detach().double(), v_fake.detach().double()
    return math.log(2.0) + 0.5 * float(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean())


def saturation_probe(generator: nn.Module, critic: nn.Module, z: Tensor) -> tuple[float, float]:
    """(E_z D(G(z)), ‖∇_θ L_minimax‖ / ‖∇_θ L_NS‖) on latents z (P, latent_dim), D = σ(v).

    L_minimax = E log(1 − D(G(z))) (saturating), L_NS = −E log D(G(z)); θ the generator's parameters. Per fake
    the two gradients differ by the factor D / (1 − D) (`SATURATED_D`), so the ratio is about E D when D → 0.
    NaN when both gradients are 0. Neither network's state (weights, buffers, .grad) changes.
    """
    params = [p for p in generator.parameters() if p.requires_grad]
    v = critic(generator(z)).double()
    d_fake = float(torch.sigmoid(v.detach()).mean())
    if not params:
        return d_fake, math.nan
    saturating = -F.softplus(v).mean()  # log(1 - σ(v)) = −softplus(v)
    non_saturating = F.softplus(-v).mean()  # −log σ(v) = softplus(−v)
    norms = []
    for loss, keep in ((saturating, True), (non_saturating, False)):
        grads = torch.autograd.grad(loss, params, retain_graph=keep, allow_unused=True)
        norms.append(math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads if g is not None)))
    return d_fake, (norms[0] / norms[1] if norms[1] > 0 else math.nan)


def interpolate_grad_norm(critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor) -> float:
    """E ‖∇_x̂ f(x̂)‖₂ at x̂ = ε x + (1 − ε) x̃, WGAN-GP's interpolates (the norm over all but the batch axis, per
    critic output: over the k samples of a packed input, `ganlab.models.pack`).

    Shapes: real, fake (P, *shape); eps (P,) in [0, 1] (a packed critic's k samples take one ε, the first of
    theirs). Float64 mean.
    Reference: lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN with Gradient Penalty" (Gradient penalty).
    """
    k = packing_of(critic)
    x_hat = interpolate(real, fake, t=eps[::k].repeat_interleave(k)).detach().requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat)
    return float(grad.reshape(out.shape[0], -1).double().norm(dim=1).mean())


def clip_fraction(critic: nn.Module, clip_value: float, *, near: float = CLIP_NEAR) -> float:
    """The fraction of the critic's parameters (weights and biases, as `clip_weights_` clips them) with
    abs(w) >= (1 − near) c: the weights piled at the walls of the box [−c, c]."""
    if not (math.isfinite(clip_value) and clip_value > 0):
        raise ValueError(f"clip_value must be a finite number > 0, got {clip_value!r}")
    tensors = [p.detach() for p in critic.parameters()]
    total = sum(t.numel() for t in tensors)
    if total == 0:
        raise ValueError("the critic has no parameters to measure")
    at_wall = sum(int((t.abs() >= (1.0 - near) * clip_value).sum()) for t in tensors)
    return at_wall / total


def mean_pairwise_distance(x: Tensor) -> float:
    """(1 / (n (n − 1))) Σ_{i≠j} ‖x_i − x_j‖₂ of samples x (n, *shape), n >= 2, each flattened; float64."""
    if x.shape[0] < 2:
        raise ValueError(f"mean_pairwise_distance needs at least 2 samples, got {x.shape[0]}")
    flat = x.detach().flatten(1).double()
    n = flat.shape[0]
    return float(torch.cdist(flat, flat).sum()) / (n * (n - 1))


# ---------------------------------------------------------------------------------------------- the watcher


def applicable(setup: Setup) -> tuple[str, ...]:
    """The diagnostics that apply to a run (the table of the module docstring)."""
    config, lip = setup.config, setup.lipschitz
    names = []
    if config.loss == "minimax":
        names.append("saturation")
    if config.loss in JS_OBJECTIVES or (config.loss == "fgan" and config.divergence in JS_DIVERGENCES):
        names.append("disjoint_supports")
    if lip.gp_weight > 0:
        names.append("lipschitz_lost")
    if lip.clip_value is not None:
        names.append("clipped_weights")
    names.append("mode_collapse")
    return tuple(names)


class Diagnostics:
    """The watcher of one run. `checks`: the diagnostics to run (default: those `applicable` to the setup);
    `history`: a metrics.jsonl whose rows are replayed first (a resumed run), read when it exists.

    `observe` adds the `diag_*` fields to the row it is given and returns the findings that fired for the first
    time; `fired` maps each name that fired to its first finding. Raises ValueError for an unknown check name
    and for `clipped_weights` on a run without clipping (there is no c to measure against).
    """

    def __init__(self, setup: Setup, *, checks: Iterable[str] | None = None,
                 history: str | Path | None = None) -> None:
        names = tuple(applicable(setup) if checks is None else checks)
        unknown = [n for n in names if n not in DIAGNOSTICS]
        if unknown:
            raise ValueError(f"unknown diagnostic(s) {unknown}; valid: {', '.join(DIAGNOSTICS)}")
        if "clipped_weights" in names and setup.lipschitz.clip_value is None:
            raise ValueError("diagnostic 'clipped_weights' needs weight clipping (clip_value), which this run has not")
        self.checks = names
        self.one_sided = setup.lipschitz.one_sided
        modes = getattr(setup.dataset, "modes", None)
        num_modes = getattr(setup.dataset, "num_modes", None) or (0 if modes is None else len(modes))  # 1000: Stacked
        self.mode_drop = max(MODE_DROP, MODE_DROP_FRACTION * num_modes)
        self.fired: dict[str, Finding] = {}
        self._since: dict[str, tuple[int, int] | None] = {n: None for n in names}  # (first step, log steps)
        self._best: dict[str, float] = {}
        self._band_reached = False
        self._real_diversity: float | None = None
        g = torch.Generator().manual_seed(setup.seeds["eval"] + 1)  # not the run's streams: those stay untouched
        p = min(PROBE_N, setup.config.batch_size) * setup.config.pack  # probe points: whole packs
        self._z = torch.randn(p, setup.latent_dim, generator=g).to(setup.device)
        self._real = setup.dataset.sample(p, generator=g).to(setup.device)
        self._eps = torch.rand(p, generator=g).to(setup.device)
        self._seed = setup.seeds["eval"] + 2
        if history is not None and Path(history).is_file():
            for line in Path(history).read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # an empty or torn line: nothing to replay
                    continue
                if isinstance(row, dict) and isinstance(row.get("step"), int) and "error" not in row:
                    self.update(row["step"], row)

    # -- measuring

    def measure(self, setup: Setup, *, samples: Tensor | None = None) -> dict[str, float]:
        """The `diag_*` numbers of the current networks (the probe batch, eval mode, states untouched) and, with
        the evaluator's `samples` (N, *shape), their diversity relative to the data's."""
        out: dict[str, float] = {}
        generator, critic = setup.generator, setup.critic
        modes = generator.training, critic.training
        generator.eval()
        critic.eval()
        try:
            if "saturation" in self.checks:
                out["diag_d_fake"], out["diag_grad_ratio"] = saturation_probe(generator, critic, self._z)
            if "disjoint_supports" in self.checks or "lipschitz_lost" in self.checks:
                with torch.no_grad():
                    fake = generator(self._z)
                if "disjoint_supports" in self.checks:
                    with torch.no_grad():
                        out["diag_js"] = js_estimate(critic(self._real), critic(fake))
                if "lipschitz_lost" in self.checks:
                    out["diag_grad_norm"] = interpolate_grad_norm(critic, self._real, fake, self._eps)
            if "clipped_weights" in self.checks:
                out["diag_clip_fraction"] = clip_fraction(critic, setup.lipschitz.clip_value)
        finally:
            generator.train(modes[0])
            critic.train(modes[1])
        if samples is not None and "mode_collapse" in self.checks and samples.shape[0] >= 2:
            if self._real_diversity is None:
                n = min(DIVERSITY_N, samples.shape[0])
                real = setup.dataset.sample(n, generator=torch.Generator().manual_seed(self._seed))
                self._real_diversity = mean_pairwise_distance(real)
            spread = mean_pairwise_distance(samples[:DIVERSITY_N])
            out["diag_diversity"] = spread / self._real_diversity if self._real_diversity > 0 else math.nan
        return out

    # -- judging

    def update(self, step: int, row: dict[str, Any]) -> list[Finding]:
        """Judge the numbers of one row (its `diag_*` fields and evaluation metrics), add `diag_alarm_<name>`
        (1 while the alarm is on, else 0) for every check the row has numbers for, and return the findings that
        fired for the first time. Bookkeeping on the row's values only, so replaying metrics.jsonl restores the
        state of a run."""
        new: list[Finding] = []
        for name in self.checks:
            verdict = self._judge(name, row)
            if verdict is None:  # nothing to judge in this row (a log step without evaluation)
                continue
            value, text = verdict
            since = self._since[name]
            since = None if not text else (step, 1) if since is None else (since[0], since[1] + 1)
            self._since[name] = since
            sustain = SUSTAIN_STEPS[name]
            alarm = since is not None and (sustain == 0 or (since[1] >= 2 and step - since[0] >= sustain))
            row[f"diag_alarm_{name}"] = 1.0 if alarm else 0.0
            if alarm and name not in self.fired:
                lasted = f" for {step - since[0]} steps" if sustain else ""
                finding = Finding(name, step, value, f"{text.format(lasted=lasted)}; {DIAGNOSTICS[name]}")
                self.fired[name] = finding
                new.append(finding)
        return new

    def observe(self, step: int, row: dict[str, Any], setup: Setup, *, samples: Tensor | None = None) -> list[Finding]:
        """`measure` into `row`, then `update`: the findings that fired for the first time at this log step."""
        row.update(self.measure(setup, samples=samples))
        return self.update(step, row)

    def _judge(self, name: str, row: dict[str, Any]) -> tuple[float, str] | None:
        """(the value, the finding's text when the condition holds else ""), or None when the row lacks it. The
        text's `{lasted}` is filled in by `update`."""
        if name == "mode_collapse":
            return self._judge_collapse(row)
        key = {"saturation": "diag_d_fake", "disjoint_supports": "diag_js", "lipschitz_lost": "diag_grad_norm",
               "clipped_weights": "diag_clip_fraction"}[name]
        x = _number(row, key)
        if x is None:
            return None
        if name == "saturation":
            ratio = _number(row, "diag_grad_ratio")
            return x, ("" if not x < SATURATED_D else
                       f"the discriminator saturates: E D(G(z)) = {x:.2e} < {SATURATED_D:g}{{lasted}}, so the "
                       f"minimax generator loss E log(1 - D(G(z))) is flat and its gradient vanishes ({_fmt(ratio)} "
                       f"of the non-saturating loss's); use loss = 'ns' (recipe nsgan)")
        if name == "disjoint_supports":
            return x, ("" if not x >= (1.0 - JS_TOLERANCE) * math.log(2.0) else
                       f"the critic's JS estimate {x:.4f} has stayed within {100 * JS_TOLERANCE:g} % of log 2 = "
                       f"0.6931{{lasted}}: the data and the generator have (nearly) disjoint supports, where "
                       f"JSD = log 2 whatever their distance, so the loss gives the generator no direction; a "
                       f"Wasserstein critic does (recipe wgan-gp), or noise on the critic's inputs")
        if name == "lipschitz_lost":
            lo, hi = GRAD_NORM_BAND
            self._band_reached = self._band_reached or x >= lo
            lost = not math.isfinite(x) or x > hi or (x < lo and self._band_reached and not self.one_sided)
            band = f"above {hi:g}" if self.one_sided else f"outside [{lo:g}, {hi:g}]"
            return x, ("" if not lost else
                       f"the critic's mean gradient norm on the interpolates is {x:.3g}, {band}{{lasted}}: the "
                       f"gradient penalty no longer holds it near 1, so the critic is not 1-Lipschitz there and "
                       f"E f(real) - E f(fake) is not W1; raise gp_weight or lower lr_d")
        return x, ("" if not x > CLIP_PILED else
                   f"{100 * x:.0f} % of the critic's weights sit within {100 * CLIP_NEAR:g} % of +-c{{lasted}}: "
                   f"clipping piles them at the walls of the box, the critic ignores higher moments of the data "
                   f"and its gradients explode or vanish; prefer a gradient penalty (gp_weight) or spectral_norm")

    def _judge_collapse(self, row: dict[str, Any]) -> tuple[float, str] | None:
        """Modes, diversity, FID and IS of an evaluation row against their best so far (module constants)."""
        found = {k: _number(row, k) for k in ("modes", "diag_diversity", "fid", "is")}
        found = {k: v for k, v in found.items() if v is not None and math.isfinite(v)}
        if not found:
            return None
        best, texts = self._best, []
        if "modes" in found:
            if found["modes"] <= best.get("modes", -math.inf) - self.mode_drop:
                texts.append(f"modes captured fell from {best['modes']:g} to {found['modes']:g}")
            best["modes"] = max(best.get("modes", -math.inf), found["modes"])
        if "diag_diversity" in found:
            top = best.get("diag_diversity", -math.inf)
            if top >= DIVERSITY_REACHED and found["diag_diversity"] < DIVERSITY_FALL * top:
                texts.append(f"the samples' spread (mean pairwise distance) fell to {found['diag_diversity']:.3f} "
                             f"of the data's from {top:.3f}")
            best["diag_diversity"] = max(top, found["diag_diversity"])
        if "fid" in found:
            if found["fid"] >= FID_RISE * best.get("fid", math.inf):
                texts.append(f"FID rose to {found['fid']:.4g}, {found['fid'] / best['fid']:.1f}x its best")
            best["fid"] = min(best.get("fid", math.inf), found["fid"])
        if "is" in found:
            if found["is"] <= IS_FALL * best.get("is", -math.inf):
                texts.append(f"IS fell to {found['is']:.3g} from its best {best['is']:.3g}")
            best["is"] = max(best.get("is", -math.inf), found["is"])
        value = next(iter(found.values()))  # modes where counted, else the diversity, FID, IS
        return value, ("" if not texts else "mode collapse: " + "; ".join(texts) + ": the generator covers less "
                       "of the data than it did (collapse to one or few modes)")


def _number(row: dict[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2e}"
