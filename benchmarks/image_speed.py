"""Generator steps per second of ganlab's image training loop against a plain PyTorch script (DCGAN, Fashion-MNIST).

    rate = T / (t_{1+T} - t_1)      generator steps/s over T timed steps after one warm-up step

ganlab runs its real `ganlab.train.train` loop: `--model=dcgan --batch_size=64` on the Fashion-MNIST training
images (28 x 28), for the recipes `wgan-gp` (n_critic 5, gradient penalty 10, the critic with layer norm) and
`nsgan` (n_critic 1, no penalty, the critic without a norm), evaluated only at the end; its rate comes from the
`wall_seconds` stamps of its own metrics.jsonl between the first logged step and the last (as in
benchmarks/toy_speed.py), so setup, the final evaluation, the checkpoint and the report are not counted. It logs
only those two steps: step 1 (always logged; the warm-up) and step 1 + T, so that the window holds the training
steps and one log row's bookkeeping (its diagnostics probe), as a run that logs every 100 steps would, not a log
every few steps.

The plain script (`Plain`) trains the SAME networks (`ganlab.models.dcgan`, the fields `ganlab.build` gives the
recipe, the generator's image layer as torch's `nn.ConvTranspose2d` with the same weights, not ganlab's
`FoldConvTranspose2d`) written the obvious way: per critic step a fresh real batch (the uint8 images indexed, then converted as
the data set does) and a fresh fake batch G(z).detach(); separate critic forwards for real and fake; the penalty
by torch.autograd.grad on the interpolates with create_graph=True; a generator step that back-propagates through
the critic with its weights still trainable; torch.optim.Adam with the recipe's hyperparameters (torch's default
Adam implementation). Its rate is timed around its own loop after the same one warm-up step.

Both run in ONE process at each thread count, alternating ganlab / plain (the order flipped every other
repeat) so that other jobs on the machine slow both alike; the table gives medians over the repeats. One
generator step of each (a whole loop iteration: data, critic phase, generator step) is profiled with
torch.profiler (CPU, with_flops, 1 thread) for the "where the time goes" table.

    python benchmarks/image_speed.py --threads 1 2 --repeats 5 --steps 8 --write
    python benchmarks/image_speed.py --quick --threads 1          # a ~30 s end-to-end check, prints only

The data are read through the `idx` data set from Debian's Fashion-MNIST training file (`--data=idx
--data_params.path=.../train-images-idx3-ubyte[.gz]`): the same 60 000 uint8 images and the same `ImageDataset`
draws as `--data=fashion-mnist`, whose end-of-run evaluation would also need the shipped Fashion-MNIST classifier
(FID / KID / IS); that evaluation is outside the timing either way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

import ganlab.train as train_mod
from ganlab.data.image_sets import FASHION_MNIST_DIR, to_unit_interval
from ganlab.models.dcgan import DCGANCritic, DCGANFields, DCGANGenerator
from ganlab.models.fold_conv import FoldConv2d, FoldConvTranspose2d
from ganlab.recipes import RECIPES, resolve_config
from ganlab.train import train

TIMED_RECIPES: tuple[str, ...] = ("wgan-gp", "nsgan")
BATCH = 64
FASHION_TRAIN = "train-images-idx3-ubyte"  # raw or .gz, in FASHION_MNIST_DIR
TOP_OPS = 8
PROFILE_WARMUP = 2  # generator steps before the profiled one


def fashion_train_file(folder: str | Path = FASHION_MNIST_DIR) -> Path:
    """The Fashion-MNIST training images in `folder`, raw or gzipped; FileNotFoundError naming them if absent."""
    for name in (FASHION_TRAIN, FASHION_TRAIN + ".gz"):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    raise FileNotFoundError(f"Fashion-MNIST training images {FASHION_TRAIN}[.gz] not found in {str(folder)!r}: "
                            "run `apt-get install dataset-fashion-mnist`")


def data_overrides(path: Path) -> list[str]:
    """The `--key=value` flags of ganlab's data set `idx` on the IDX file `path`."""
    return ["--data=idx", f"--data_params.path={path}"]


def ganlab_overrides(recipe: str, out: Path, *, steps: int, log_every: int, threads: int,
                     data: list[str]) -> list[str]:
    """ganlab's run: `recipe` with the DCGAN family, batch 64, evaluated and checkpointed only at the end."""
    return [f"--recipe={recipe}", f"--out={out}", f"--steps={steps}", f"--log_every={log_every}",
            "--eval_every=0", "--ckpt_every=0", "--eval_samples=64", f"--batch_size={BATCH}", "--model=dcgan",
            f"--threads={threads}", *data]


# ----------------------------------------------------------------------------------------------
# the plain script


def plain_fields(recipe: str) -> DCGANFields:
    """The DCGAN fields `ganlab.build` gives `recipe`: the paper's defaults, the critic norm "auto" resolved
    (layer norm with a gradient penalty, as WGAN-GP Sec. 4 does; none otherwise)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {list(TIMED_RECIPES)}")
    return DCGANFields(d_norm="layernorm" if RECIPES[recipe].fields.get("gp_weight", 0.0) > 0 else "none")


def torch_nn_layers(net: nn.Module) -> nn.Module:
    """`net` with every `FoldConvTranspose2d` / `FoldConv2d` replaced by torch's own layer with the same weights."""
    for name, child in list(net.named_children()):
        if isinstance(child, (FoldConvTranspose2d, FoldConv2d)):
            base = nn.ConvTranspose2d if isinstance(child, nn.ConvTranspose2d) else nn.Conv2d
            layer = base(child.in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                         padding=child.padding, bias=child.bias is not None)
            layer.load_state_dict(child.state_dict())
            setattr(net, name, layer)
        else:
            torch_nn_layers(child)
    return net


class Plain:
    """The obvious PyTorch GAN loop for `recipe` ("wgan-gp" or "nsgan") on uint8 images (N, C, S, S).

    wgan-gp   L_D = E f(G(z)) - E f(x) + λ E (‖∇f(x̂)‖ - 1)²,  L_G = -E f(G(z))    (WGAN-GP, Algorithm 1)
    nsgan     L_D = BCE(D(x), 1) + BCE(D(G(z)), 0),           L_G = BCE(D(G(z)), 1)  (Goodfellow 2014, Sec. 3)

    Networks: `DCGANGenerator` / `DCGANCritic` with `plain_fields(recipe)`, initialized from `seed`;
    Adam with the recipe's lr and betas. Random draws come from torch's global generator (seeded by `seed`).
    """

    def __init__(self, recipe: str, images: Tensor, *, batch_size: int = BATCH, seed: int = 0) -> None:
        fields = RECIPES[recipe].fields if recipe in TIMED_RECIPES else None
        if fields is None:
            raise ValueError(f"the plain script implements the recipes {list(TIMED_RECIPES)}, got {recipe!r}")
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, S, S), got "
                             f"{getattr(images, 'dtype', type(images).__name__)} of shape "
                             f"{tuple(getattr(images, 'shape', ()))}")
        self.recipe, self.images, self.batch_size = recipe, images, batch_size
        self.n_critic, self.gp_weight = fields["n_critic"], fields["gp_weight"]
        f = plain_fields(recipe)
        shape = tuple(images.shape[1:])
        torch.manual_seed(seed)
        self.G = torch_nn_layers(DCGANGenerator(f.latent_dim, shape, width=f.g_width, max_width=f.max_width,
                                                norm=f.g_norm))
        self.D = DCGANCritic(shape, width=f.d_width, max_width=f.max_width, norm=f.d_norm)
        self.latent_dim = f.latent_dim
        betas = (fields["beta1"], fields["beta2"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=fields["lr_g"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=fields["lr_d"], betas=betas)

    def real_batch(self) -> Tensor:
        """batch_size images drawn with replacement, p / 127.5 - 1 (as `ImageDataset.sample`)."""
        i = torch.randint(len(self.images), (self.batch_size,))
        return to_unit_interval(self.images[i])

    def d_loss(self, real: Tensor, fake: Tensor, alpha: Tensor | None = None) -> Tensor:
        """The critic's loss on a real and a fake batch; `alpha` (N,) the interpolation weights (drawn if None)."""
        D = self.D
        if self.recipe == "nsgan":
            d_real, d_fake = D(real), D(fake)
            return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                    + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        d_real = D(real).mean()
        d_fake = D(fake).mean()
        alpha = torch.rand(real.shape[0]) if alpha is None else alpha
        alpha = alpha.view(-1, 1, 1, 1)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        d_interp = D(interpolates)
        (gradients,) = torch.autograd.grad(d_interp, interpolates, grad_outputs=torch.ones_like(d_interp),
                                           create_graph=True, retain_graph=True)
        gradient_penalty = ((gradients.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        return d_fake - d_real + self.gp_weight * gradient_penalty

    def g_loss(self, z: Tensor) -> Tensor:
        """The generator's loss on latents z (N, latent_dim), through the critic (its weights trainable)."""
        d_fake = self.D(self.G(z))
        if self.recipe == "nsgan":
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        return -d_fake.mean()

    def step(self) -> None:
        """n_critic critic updates, then one generator update."""
        for _ in range(self.n_critic):
            real = self.real_batch()
            fake = self.G(torch.randn(self.batch_size, self.latent_dim)).detach()
            d_loss = self.d_loss(real, fake)
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
        g_loss = self.g_loss(torch.randn(self.batch_size, self.latent_dim))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()


# ----------------------------------------------------------------------------------------------
# timing


def timed_steps(recipe: str, steps: int) -> int:
    """Timed generator steps of a run of `recipe`: `steps` for n_critic 5, scaled by 5 / n_critic (nsgan: 5x), so
    that every timed run does about the same number of critic updates."""
    return steps * max(1, 5 // RECIPES[recipe].fields["n_critic"])


def ganlab_rate(recipe: str, threads: int, steps: int, data: list[str]) -> float:
    """Generator steps/s of `train` over `steps` steps after its first (`wall_seconds` of steps 1 and 1 + steps)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        config = resolve_config(overrides=ganlab_overrides(recipe, out, steps=1 + steps, log_every=2 + steps,
                                                           threads=threads, data=data))
        train(config, progress=False)
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    t = {r["step"]: r["wall_seconds"] for r in rows if "wall_seconds" in r}
    return steps / (t[1 + steps] - t[1])


def plain_rate(plain: Plain, steps: int) -> float:
    """Generator steps/s of `plain` over `steps` steps after one untimed step."""
    plain.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        plain.step()
    return steps / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------------------------
# profiles of one generator step


@contextlib.contextmanager
def _profile_after_generator_step(k: int, prof: profile) -> Iterator[None]:
    """Record from the end of the loop's generator step k to the end of step k + 1: one whole loop iteration
    (the bookkeeping of step k, the data and fakes, the critic phase and generator step of k + 1)."""
    real_step = train_mod.generator_step
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Tensor:
        nonlocal calls
        out = real_step(*args, **kwargs)
        calls += 1
        if calls == k:
            prof.start()
        elif calls == k + 1:
            prof.stop()
        return out

    train_mod.generator_step = wrapped
    try:
        yield
    finally:
        train_mod.generator_step = real_step


def _summary(prof: profile) -> dict[str, Any]:
    """Total self CPU ms, counted GFLOP, and the self CPU ms of every op."""
    events = prof.key_averages()
    ops = {e.key: e.self_cpu_time_total / 1e3 for e in events}
    return {"ms": sum(ops.values()), "gflop": sum(e.flops for e in events) / 1e9, "ops": ops}


def profile_ganlab(recipe: str, data: list[str], *, warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
    """`_summary` of the loop iteration after `warmup` generator steps of ganlab's `train` (1 thread, no log rows
    in between)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = resolve_config(overrides=ganlab_overrides(recipe, Path(tmp) / "p", steps=warmup + 2,
                                                           log_every=warmup + 3, threads=1, data=data))
        prof = profile(activities=[ProfilerActivity.CPU], with_flops=True)
        with _profile_after_generator_step(warmup, prof):
            train(config, progress=False)
    return _summary(prof)


def profile_plain(plain: Plain, *, warmup: int = PROFILE_WARMUP) -> dict[str, Any]:
    """`_summary` of one `plain.step()` after `warmup` of them (1 thread)."""
    for _ in range(warmup):
        plain.step()
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        plain.step()
    return _summary(prof)


# ----------------------------------------------------------------------------------------------
# report


def top_ops(summary: dict[str, Any], n: int = TOP_OPS) -> list[str]:
    """The n ops with the most self CPU time."""
    return sorted(summary["ops"], key=summary["ops"].get, reverse=True)[:n]


def _spread(rates: list[float]) -> str:
    return f"{statistics.median(rates):.2f} ({min(rates):.2f}–{max(rates):.2f})"


def speed_table(results: dict[tuple[str, int], dict[str, list[float]]]) -> list[str]:
    """Markdown rows: steps/s median (range) of ganlab and plain, and the ratio ganlab / plain, per (recipe,
    threads); the ratio both of the medians and the median of the repeat-by-repeat ratios."""
    lines = ["| recipe | threads | ganlab steps/s median (range) | plain steps/s median (range) | "
             "ganlab / plain: medians | paired, median (range) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for (recipe, threads), r in results.items():
        paired = [g / p for g, p in zip(r["ganlab"], r["plain"])]
        lines.append(f"| {recipe} | {threads} | {_spread(r['ganlab'])} | {_spread(r['plain'])} | "
                     f"{statistics.median(r['ganlab']) / statistics.median(r['plain']):.2f}x | "
                     f"{statistics.median(paired):.2f}x ({min(paired):.2f}–{max(paired):.2f}) |")
    return lines


def profile_table(recipe: str, ganlab: dict[str, Any], plain: dict[str, Any]) -> list[str]:
    """Markdown rows: self CPU ms (share) of the union of each loop's top ops, then the totals."""
    ops = list(dict.fromkeys(top_ops(ganlab) + top_ops(plain)))
    ops.sort(key=lambda k: max(ganlab["ops"].get(k, 0.0), plain["ops"].get(k, 0.0)), reverse=True)

    def cell(s: dict[str, Any], op: str) -> str:
        return cell_ms(s, s["ops"].get(op, 0.0))

    lines = [f"| {recipe}: op | ganlab self ms (share) | plain self ms (share) |", "| --- | ---: | ---: |"]
    lines += [f"| `{op}` | {cell(ganlab, op)} | {cell(plain, op)} |" for op in ops]
    lines += [f"| ops named `*convolution*` | {cell_ms(ganlab, convolution_ms(ganlab))} | "
              f"{cell_ms(plain, convolution_ms(plain))} |",
              f"| all ops | {ganlab['ms']:.1f} | {plain['ms']:.1f} |",
              f"| GFLOP counted by the profiler | {ganlab['gflop']:.2f} | {plain['gflop']:.2f} |"]
    return lines


def convolution_ms(summary: dict[str, Any]) -> float:
    """Self CPU ms of the ops named *convolution* (oneDNN's forward, the backward, the dispatch)."""
    return sum(ms for op, ms in summary["ops"].items() if "convolution" in op)


def cell_ms(summary: dict[str, Any], ms: float) -> str:
    return f"{ms:.1f} ({100 * ms / summary['ms']:.1f} %)"


def convolution_bound(ganlab: dict[str, Any], plain: dict[str, Any]) -> float:
    """plain's total over ganlab's convolution ops: ganlab / plain if every other op of ganlab's loop took no
    time and its convolutions stayed as they are."""
    return plain["ms"] / convolution_ms(ganlab)


def markdown(command: str, machine: str, results: dict[tuple[str, int], dict[str, list[float]]],
             profiles: dict[str, dict[str, dict[str, Any]]], *, repeats: int, steps: int) -> str:
    """The section `image_speed` of docs/BENCHMARKS.md."""
    lines = [
        "## DCGAN image loop: ganlab vs a plain PyTorch script",
        "",
        f"Command: `{command}`",
        "",
        machine,
        "",
        "Fashion-MNIST 28 x 28 (the training images), `--model=dcgan` (the DCGAN paper's widths: ngf = ndf = 64, "
        "z of 100, batch norm in the generator), batch 64. wgan-gp: n_critic 5, lambda 10, Adam 1e-4 (0, 0.9), "
        "critic with layer norm; nsgan: n_critic 1, Adam 2e-4 (0.5, 0.999), critic without a norm. ganlab: its "
        "`train` loop, the rate from the `wall_seconds` stamps of metrics.jsonl at step 1 and at the last step "
        "(no log rows in between; evaluation only at the end, outside the timing); plain: the same networks in "
        "the obvious PyTorch loop (a fresh real batch and G(z).detach() per critic step, separate critic forwards "
        "for real and fake, the penalty by autograd.grad with create_graph, the generator step through a "
        "trainable critic, torch's default Adam). "
        f"Rates over {repeats} repeats per row, ganlab and plain alternated in one process (the order flipped "
        f"every other repeat); each run times {steps} wgan-gp generator steps ({timed_steps('nsgan', steps)} "
        "nsgan steps) after one warm-up step. 'paired' is the ratio within each repeat, whose two runs shared "
        "the machine's load.",
        "",
        *speed_table(results),
        "",
        f"Where the time goes: one generator step of each after {PROFILE_WARMUP} (a whole loop iteration: data, "
        f"fakes, critic phase, generator step), 1 thread, torch.profiler self CPU time of the top {TOP_OPS} ops "
        "of either loop (`mkldnn_convolution`: the forward convolutions in oneDNN; `convolution_backward`: their "
        "backward; `native_batch_norm*`: the generator's batch norm; `native_group_norm*`: the wgan-gp critic's "
        "layer norm). The profiler counts FLOPs only for forward convolutions, matmuls and element-wise "
        "products, so the GFLOP row compares the forward work of the two loops.",
    ]
    for recipe, p in profiles.items():
        lines += ["", *profile_table(recipe, p["ganlab"], p["plain"])]
    bounds = ", ".join(f"{recipe} {convolution_bound(p['ganlab'], p['plain']):.2f}x" for recipe, p in profiles.items())
    lines += ["", "The most a rewrite of everything but the convolutions could give: plain's all ops over ganlab's "
              f"`*convolution*` ops, the ratio ganlab / plain would reach if all its other ops took no time: {bounds} "
              "(the generator's `FoldConvTranspose2d` forward is a matmul and a col2im, outside that row, so these "
              "bounds are slightly high)."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8,
                        help="timed wgan-gp generator steps per run, after one warm-up step (nsgan: 5x)")
    parser.add_argument("--quick", action="store_true", help="a ~30 s end-to-end check: --repeats 1 --steps 1")
    parser.add_argument("--write", action="store_true", help="rewrite the section image_speed of docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _report import machine_line, refuse_quick_write, write_section

    refuse_quick_write(args.quick, args.write)
    if args.quick:
        args.repeats, args.steps = 1, 1
    for name in ("repeats", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if any(t < 1 for t in args.threads):
        raise ValueError(f"--threads must be >= 1 each, got {args.threads}")

    from ganlab.data import get_dataset

    train_file = fashion_train_file()
    data = data_overrides(train_file)
    images = get_dataset("idx", path=str(train_file)).images  # uint8 (60000, 1, 28, 28), as ganlab holds them
    results: dict[tuple[str, int], dict[str, list[float]]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        plains = {recipe: Plain(recipe, images) for recipe in TIMED_RECIPES}
        for rep in range(args.repeats):
            for recipe in TIMED_RECIPES:
                steps = timed_steps(recipe, args.steps)
                r = results.setdefault((recipe, threads), {"ganlab": [], "plain": []})
                runs: list[tuple[str, Callable[[], float]]] = [
                    ("ganlab", lambda: ganlab_rate(recipe, threads, steps, data)),
                    ("plain", lambda: plain_rate(plains[recipe], steps))]
                for name, rate in runs if rep % 2 == 0 else runs[::-1]:
                    torch.set_num_threads(threads)
                    r[name].append(rate())
                print(f"threads {threads} repeat {rep} {recipe}: ganlab {r['ganlab'][-1]:.2f}, "
                      f"plain {r['plain'][-1]:.2f} steps/s", flush=True)

    torch.set_num_threads(1)
    profiles = {recipe: {"ganlab": profile_ganlab(recipe, data), "plain": profile_plain(Plain(recipe, images))}
                for recipe in TIMED_RECIPES}

    command = (f"python benchmarks/image_speed.py --threads {' '.join(map(str, args.threads))} "
               + ("--quick" if args.quick else f"--repeats {args.repeats} --steps {args.steps}"))
    machine = machine_line(threads_in_table=True)
    md = markdown(command, machine, results, profiles, repeats=args.repeats, steps=args.steps)
    print(md)
    print(json.dumps({f"{recipe} {threads}": r for (recipe, threads), r in results.items()}, indent=1))
    if args.write:
        write_section("image_speed", md)


if __name__ == "__main__":
    main()
