"""Generator steps per second of ganlab's `wgan-gp` loop against a plain PyTorch WGAN-GP toy script.

The plain script is written the way the WGAN-GP paper's toy script does it (igul222/improved_wgan_training,
gan_toy.py): MLP 512 x 3 hidden ReLU layers in both nets, batch 256, n_critic 5, lambda 10; in every critic
step a fresh real batch and a fresh fake batch, separate critic forwards for real, fake and interpolates,
torch.autograd.grad for the penalty; a generator step that back-propagates through the critic with its
weights still trainable. ganlab runs its real `ganlab.train.train` loop (same networks and sizes), twice:
as it runs by default (the critic step in closed form, `ganlab.models.mlp_backward`) and with the closed
form switched off (`ganlab.build.closed_form_layers` patched to decline, so the step goes through autograd). Their steps per second come from the
`wall_seconds` stamps of their own metrics.jsonl, between the first logged step and the last, so setup and
the final evaluation are not counted.

Also measured: the FLOPs of one generator step of each (torch.profiler, with_flops=True: matmuls and
elementwise ops it knows), this machine's float32 matmul rate on a 256 x 512 x 512 product (the size of
one hidden layer on one batch), and, for reference, the FLOPs of a "fused3" autograd step that runs the
critic once over cat([real, fake, x_hat]) (counted only; `--time-fused3` times it too).

    python benchmarks/toy_speed.py --threads 1 2 --repeats 5 --steps 20 --warmup 4 --write
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

import ganlab.build as build_mod
from ganlab.data.toy import get_toy_dataset
from ganlab.lipschitz import interpolate, penalty_from_outputs
from ganlab.models.mlp import MLPCritic, MLPGenerator
from ganlab.recipes import resolve_config
from ganlab.train import train

B, N_CRITIC, LAMBDA, WIDTH, DEPTH, LATENT = 256, 5, 10.0, 512, 3, 2


# ----------------------------------------------------------------------------------------------
# the plain script (gan_toy.py, MODE = 'wgan-gp', in PyTorch)


class Plain:
    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.G = MLPGenerator(LATENT, 2, width=WIDTH, depth=DEPTH, activation=nn.ReLU)
        self.D = MLPCritic(2, width=WIDTH, depth=DEPTH, activation=nn.ReLU)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.5, 0.9))
        self.data = get_toy_dataset("ring")
        self.gen = torch.Generator().manual_seed(seed)

    def step(self) -> None:
        G, D = self.G, self.D
        for _ in range(N_CRITIC):
            real = self.data.sample(B, generator=self.gen)
            with torch.no_grad():
                fake = G(torch.randn(B, LATENT))
            d_real = D(real).mean()
            d_fake = D(fake).mean()
            alpha = torch.rand(B, 1)
            interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            d_interp = D(interpolates)
            (gradients,) = torch.autograd.grad(d_interp, interpolates, grad_outputs=torch.ones_like(d_interp),
                                               create_graph=True, retain_graph=True)
            gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
            disc_cost = d_fake - d_real + LAMBDA * gradient_penalty
            self.opt_d.zero_grad()
            disc_cost.backward()
            self.opt_d.step()
        gen_cost = -D(G(torch.randn(B, LATENT))).mean()
        self.opt_g.zero_grad()
        gen_cost.backward()
        self.opt_g.step()


# ----------------------------------------------------------------------------------------------
# "fused3": an autograd step with ONE critic forward over cat([real, fake, x_hat]) (for comparison only)


class Fused3:
    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.G = MLPGenerator(LATENT, 2, width=WIDTH, depth=DEPTH)
        self.D = MLPCritic(2, width=WIDTH, depth=DEPTH)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=1e-4, betas=(0.0, 0.9))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-4, betas=(0.0, 0.9))
        self.data = get_toy_dataset("ring")
        self.gen = torch.Generator().manual_seed(seed)

    def step(self) -> None:
        G, D = self.G, self.D
        real_all = self.data.sample(N_CRITIC * B, generator=self.gen)
        with torch.no_grad():
            fake_all = G(torch.randn(N_CRITIC * B, LATENT))
        for real, fake in zip(real_all.split(B), fake_all.split(B)):
            x_hat = interpolate(real, fake).requires_grad_(True)
            d_real, d_fake, d_hat = D(torch.cat([real, fake, x_hat])).split(B)
            loss = d_fake.mean() - d_real.mean() + penalty_from_outputs(x_hat, d_hat, gp_weight=LAMBDA)
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
        D.requires_grad_(False)
        g_loss = -D(G(torch.randn(B, LATENT))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        D.requires_grad_(True)


# ----------------------------------------------------------------------------------------------
# measurements


def _ganlab_config(out: Path, steps: int, log_every: int):
    return resolve_config(overrides=[f"--out={out}", f"--steps={steps}", f"--log_every={log_every}",
                                     "--eval_every=0", "--ckpt_every=0", "--eval_samples=64"])


@contextlib.contextmanager
def _critic_step(how: str) -> Iterator[None]:
    """"auto": ganlab as it runs; "autograd": the closed-form critic step declined, every step by autograd."""
    real = build_mod.closed_form_layers
    if how == "autograd":
        build_mod.closed_form_layers = lambda critic: None
    try:
        yield
    finally:
        build_mod.closed_form_layers = real


def ganlab_rate(steps: int, warmup: int, how: str = "auto") -> float:
    """Generator steps/s of `train` between its logged step `warmup` and step `steps` (wall_seconds stamps)."""
    with tempfile.TemporaryDirectory() as tmp, _critic_step(how):
        train(_ganlab_config(Path(tmp) / "run", steps, warmup), progress=False)
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    t = {r["step"]: r["wall_seconds"] for r in rows}
    return (steps - warmup) / (t[steps] - t[warmup])


def loop_rate(obj, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        obj.step()
    t0 = time.perf_counter()
    for _ in range(steps - warmup):
        obj.step()
    return (steps - warmup) / (time.perf_counter() - t0)


def _flops(fn) -> float:
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return float(sum(e.flops for e in prof.key_averages()))


def flops_per_step() -> dict[str, float]:
    plain, fused3 = Plain(), Fused3()
    plain.step()
    fused3.step()
    out = {"plain": _flops(plain.step), "fused3": _flops(fused3.step)}
    # ganlab: a 3-step and a 1-step run differ by 2 generator steps (setup and final evaluation cancel)
    for name, how in (("ganlab", "auto"), ("ganlab-autograd", "autograd")):
        with tempfile.TemporaryDirectory() as tmp, _critic_step(how):
            f3 = _flops(lambda: train(_ganlab_config(Path(tmp) / "a", 3, 1), progress=False))
            f1 = _flops(lambda: train(_ganlab_config(Path(tmp) / "b", 1, 1), progress=False))
        out[name] = (f3 - f1) / 2
    return out


def matmul_peak(threads: int, seconds: float = 1.0) -> float:
    """GFLOP/s of a 256 x 512 @ 512 x 512 float32 matmul loop (best of 5 windows)."""
    a, b = torch.randn(256, 512), torch.randn(512, 512)
    c = torch.empty(256, 512)
    best = 0.0
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 5:
            for _ in range(20):
                torch.mm(a, b, out=c)
            n += 20
        best = max(best, 2 * 256 * 512 * 512 * n / (time.perf_counter() - t0) / 1e9)
    return best


def profile_ganlab_ops(top: int = 10) -> list[tuple[str, float]]:
    """Self CPU time share of the top ops in a 6-step run of `train` (figures switched off: the critic's
    value surface of the final evaluation alone costs about half a training step)."""
    from ganlab.evaluators import ToyEvaluator

    write_figure = ToyEvaluator.figure
    ToyEvaluator.figure = lambda *args, **kwargs: None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _ganlab_config(Path(tmp) / "p", 6, 1)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                train(cfg, progress=False)
    finally:
        ToyEvaluator.figure = write_figure
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows)
    return [(e.key, e.self_cpu_time_total / total) for e in rows[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=30, help="generator steps per timed run (incl. warm-up)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--time-fused3", action="store_true", help="time the fused3 variant too")
    parser.add_argument("--write", action="store_true", help="write the table into docs/BENCHMARKS.md")
    args = parser.parse_args()

    torch.set_num_threads(1)
    flops = flops_per_step()
    print("GFLOP per generator step:", {k: round(v / 1e9, 2) for k, v in flops.items()}, flush=True)
    results = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates: dict[str, list[float]] = {"plain": [], "ganlab": [], "ganlab-autograd": [], "fused3": []}
        plain, fused3 = Plain(), Fused3()
        peaks = []
        for rep in range(args.repeats):  # interleaved: plain, ganlab, ganlab-autograd, [fused3,] plain, ...
            peaks.append(matmul_peak(threads))
            rates["plain"].append(loop_rate(plain, args.steps, args.warmup))
            rates["ganlab"].append(ganlab_rate(args.steps, args.warmup))
            rates["ganlab-autograd"].append(ganlab_rate(args.steps, args.warmup, "autograd"))
            if args.time_fused3:
                rates["fused3"].append(loop_rate(fused3, args.steps, args.warmup))
            print(f"threads {threads} repeat {rep}: " + ", ".join(
                f"{k} {v[-1]:.2f} steps/s" for k, v in rates.items() if v) + f", peak {peaks[-1]:.0f} GFLOP/s",
                flush=True)
        results[threads] = {"rates": rates, "peak": max(peaks), "peak_min": min(peaks)}
    torch.set_num_threads(1)
    ops = profile_ganlab_ops()

    md = _markdown(args, flops, results, ops)
    print(md)
    print(json.dumps({"flops": flops, "results": results}, indent=1))
    if args.write:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _report import write_section

        write_section("toy_speed", md)


def _markdown(args, flops, results, ops) -> str:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line

    lines = [
        "## WGAN-GP toy loop: ganlab vs a plain PyTorch script",
        "",
        f"Command: `python benchmarks/toy_speed.py --threads {' '.join(map(str, args.threads))} "
        f"--repeats {args.repeats} --steps {args.steps} --warmup {args.warmup}`",
        "",
        machine_line(threads_in_table=True),
        "",
        "MLP 512 x 3 hidden ReLU layers (generator and critic), batch 256, n_critic 5, lambda 10, ring data. "
        f"Rates: median (best) over {args.repeats} interleaved repeats of {args.steps - args.warmup} timed generator "
        f"steps after {args.warmup} warm-up steps. GFLOP/step by torch.profiler (with_flops): plain "
        f"{flops['plain'] / 1e9:.2f}, ganlab {flops['ganlab'] / 1e9:.2f}, ganlab-autograd "
        f"{flops['ganlab-autograd'] / 1e9:.2f}, fused3 {flops['fused3'] / 1e9:.2f}. "
        "ganlab: the default loop, its critic step in closed form (`ganlab.models.mlp_backward`: one forward "
        "over real, fake and interpolates, no graph); ganlab-autograd: the same loop with "
        "the closed form switched off (every critic step by autograd); fused3: an autograd step with one critic forward over "
        "cat([real, fake, x_hat]), whose autograd backward then runs over all rows. "
        "'effective' = the plain script's FLOPs per step x the variant's steps/s: the WGAN-GP step's work done "
        "per second, counted in the plain script's units (the measure that credits a loop for doing less work for "
        "the same step); 'own' = the variant's own FLOPs x "
        "its steps/s (how busy its matmuls are). Peak: best float32 256x512x512 matmul rate measured between "
        "repeats. GFLOP/s and % of peak: from the best repeat (the one least disturbed by other jobs) and, in "
        "brackets, the median. Other jobs only ever slow a repeat down, so on a shared machine the ratio of bests "
        "is the cleaner comparison, the ratio of medians the conservative one.",
        "",
        "| threads | variant | steps/s median (best) | ratio to plain: medians (bests) | effective GFLOP/s best "
        "(median) | effective / peak best (median) | own GFLOP/s best | own / peak best |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, res in results.items():
        med_plain = statistics.median(res["rates"]["plain"])
        best_plain = max(res["rates"]["plain"])
        for name, rates in res["rates"].items():
            if not rates:
                continue
            med, best = statistics.median(rates), max(rates)
            # GFLOP/s from the best repeat, the one least disturbed by other jobs, against the best peak
            eff, eff_med = flops["plain"] * best / 1e9, flops["plain"] * med / 1e9
            own = flops[name] * best / 1e9
            lines.append(f"| {threads} | {name} | {med:.2f} ({best:.2f}) | {med / med_plain:.2f}x "
                         f"({best / best_plain:.2f}x) | {eff:.0f} ({eff_med:.0f}) | "
                         f"{100 * eff / res['peak']:.0f} % ({100 * eff_med / res['peak']:.0f} %) | {own:.0f} | "
                         f"{100 * own / res['peak']:.0f} % of {res['peak']:.0f} |")
    ranges = ", ".join(f"{t} thread(s) {r['peak_min']:.0f} to {r['peak']:.0f}" for t, r in results.items())
    lines += ["", f"Matmul rate between repeats (GFLOP/s): {ranges}. Where the two differ much, other jobs were "
              "using the cores during the run; the interleaved ratio is the number that carries over."]
    lines += ["", "Where ganlab's time goes (1 thread, a 6-step run of `train` without figures, self CPU time; "
              "`mm`/`addmm` are the matmuls, `clamp_min`, `clamp_min_` and `threshold_backward` the ReLUs):", "",
              "| op | share |", "| --- | ---: |"]
    lines += [f"| `{k}` | {100 * s:.1f} % |" for k, s in ops]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
