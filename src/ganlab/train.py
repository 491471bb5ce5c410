"""The training loop: n_critic critic updates, one generator update, repeat.

    for t = 1..steps:
        lr <- lr_0 · factor(t)                                              (optional decay)
        for each of n_critic updates:  critic_step(real, G(z))             (ganlab.steps)
        generator_step(z);  θ_ema <- β θ_ema + (1 - β) θ
        log / evaluate / checkpoint

Reference: lecture 001_b56ff7e156eb3bba.txt, "Wasserstein GAN" (Algorithm 1) and "Wasserstein GAN
with Gradient Penalty" (Algorithm 1). Every recipe of `ganlab.recipes` runs through this loop; the
steps themselves are `ganlab.steps`, the objects they act on come from `ganlab.build`, the files from
`ganlab.runs`, data parallelism from `ganlab.distributed`, the lectures' failure signs at log steps from
`ganlab.diagnostics`.

The generator is fixed during the critic phase, so the fakes of all n_critic critic updates come
from ONE generator forward over n_critic * m latents without a graph, and the real data of the phase
from one draw. Losses are read back (`.item()`) only where they are checked: at every step on the
CPU, where that is free, at log steps elsewhere (on a GPU it waits for the device).

A NaN or inf (a loss; the samples at an evaluation; the weights or the optimizer moments before a
checkpoint) stops the run, naming the step and the last good checkpoint, which is never overwritten by
the bad state (`on_nonfinite = "stop"`). With `on_nonfinite = "rollback"` the run instead reloads that
checkpoint, multiplies both learning rates by `rollback_lr_factor` for the rest of the run and goes on
from its step (`_roll_back`); it stops after `max_rollbacks` rollbacks, or when no checkpoint exists yet.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ganlab.build import Setup, build, resolve_device
from ganlab.config import TrainConfig
from ganlab.diagnostics import Diagnostics
from ganlab.distributed import World
from ganlab.evaluators import NonFiniteSamplesError
from ganlab.runs import CHECKPOINT_NAME, RunFolder
from ganlab.steps import autocast, critic_step, ema_update_, generator_step, lr_factor, set_lr_
from ganlab.stopping import Interrupted, stop_signals

__all__ = ["NonFiniteLossError", "Interrupted", "train", "CHECKPOINT_NAME"]

class NonFiniteLossError(RuntimeError):
    """A loss, the weights or the generator's samples became NaN or infinite; the run stopped without saving."""


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train `config` in its run folder and return its summary (final evaluation, wall seconds, threads).

    Writes `config.run_dir` (`ganlab.runs`). With `resume=True` it continues the run there from its
    last checkpoint, bit-identically on the same machine and thread count; only
    `ganlab.runs.RESUMABLE_FIELDS` may differ. Under `torchrun --nproc_per_node=N` it trains
    data-parallel (`ganlab.distributed`); process 0 writes the folder and returns the summary, the others
    {"rank", "steps", "wall_seconds"}.

    Raises ValueError for an invalid config, a folder that already holds a run (without resume), is
    being written by another process or cannot be written, or a config that differs from the
    checkpoint's; FileNotFoundError when resuming a folder without a checkpoint; NonFiniteLossError when
    a loss becomes NaN/inf (the message names the step and the loss, and the last good checkpoint is
    kept; with `on_nonfinite = "rollback"` only once `max_rollbacks` rollbacks were spent, or before the
    first checkpoint); Interrupted when SIGINT, SIGTERM or SIGHUP arrives (after checkpointing the step it
    finished).
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    world = World(device.type)  # one process unless launched by torchrun
    try:
        setup = build(config, device=world.device(device), rank=world.rank)
        if world.is_main:  # a feature network that cannot load stops the run before its folder is written
            setup.evaluator.prepare()
        with RunFolder(setup.config.run_dir, writer=world.is_main) as run, stop_signals() as received:
            return _loop(setup, world, run, received, resume=resume, progress=progress)
    finally:
        world.close()


def _loop(setup: Setup, world: World, run: RunFolder, received: dict[str, int], *, resume: bool,
          progress: bool) -> dict[str, Any]:
    config, dataset, rngs = setup.config, setup.dataset, setup.rngs
    m, n_critic = config.batch_size * config.pack, config.n_critic  # samples per update (PacGAN: k per critic input)
    my_rngs = rngs if world.is_main else {f"{k}@{world.rank}": g for k, g in rngs.items()}  # names in checkpoints
    meta = run.start(setup, resume=resume, world_size=world.size, rngs=my_rngs)
    start, wall_before = int(meta["step"]), float(meta.get("wall_seconds", 0.0))
    lr_scale, rollbacks = float(meta.get("lr_scale", 1.0)), int(meta.get("rollbacks", 0))  # kept over resumes
    diagnostics = Diagnostics(setup, history=run.metrics if world.is_main else None)  # a resume replays its rows
    last_ckpt = start if resume else None
    t_start = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=start, disable=not (progress and world.is_main), dynamic_ncols=True,
               desc=f"{config.recipe} {config.data}", unit="step")

    def save(step: int) -> None:
        others = world.rng_states(rngs)  # collective: every process takes part
        run.save(setup, step=step, rngs=rngs, extra_tensors=others,
                 extra={"wall_seconds": wall_before + time.perf_counter() - t_start, "world_size": world.size,
                        "lr_scale": lr_scale, "rollbacks": rollbacks})

    def check_finite(step: int, values: dict[str, float]) -> int | None:
        """None when every value is finite on every process; else the step to go on from after a rollback, or
        NonFiniteLossError. Every process takes part in each check and takes the same decision (`world.any`)."""
        nonlocal lr_scale, rollbacks, diagnostics
        for what, value in values.items():
            if world.any(not math.isfinite(value)):
                reason = f"non-finite {what} ({value}) at generator step {step} of {config.recipe} on {config.data}"
                if config.on_nonfinite == "stop" or last_ckpt is None or rollbacks >= config.max_rollbacks:
                    msg = _stop_message(config, reason, run.checkpoint, last_ckpt, rollbacks, lr_scale)
                    run.log({"step": step, "error": msg})
                    bar.close()
                    raise NonFiniteLossError(msg)
                rollbacks, lr_scale = rollbacks + 1, lr_scale * config.rollback_lr_factor
                back = _roll_back(setup, run, my_rngs, reason=reason, rollback=rollbacks, lr_scale=lr_scale,
                                  report=world.is_main)
                save(back)  # the checkpoint now holds the lowered rates: a resume from it goes on as this run does
                diagnostics = Diagnostics(setup, history=run.metrics if world.is_main else None)
                bar.n = back
                return back
        return None

    step = start
    while step < config.steps:
        step += 1
        if config.lr_decay != "none" or lr_scale != 1.0:  # the step and the saved scale: a resume has the same rates
            factor = lr_scale * lr_factor(config, step)
            set_lr_(setup.opt_d, config.lr_d * factor)
            set_lr_(setup.opt_g, config.lr_g * factor)
        # ---- critic phase: n_critic updates against the fixed generator, its fakes from one forward
        real_all = dataset.sample(n_critic * m, generator=rngs["data"]).to(setup.device)
        with torch.no_grad():
            z = torch.randn(n_critic * m, setup.latent_dim, generator=rngs["latent"], device=setup.device)
            with autocast(setup):  # bf16 runs: bfloat16 fakes, read by critic_step in the data's dtype
                # images: one forward per critic update (batch-norm statistics of m fakes, as in the generator
                # step; convolutions also run faster on small batches that stay in cache); vectors: one forward
                fake_all = (torch.cat([setup.generator(zc) for zc in z.split(m)]) if len(dataset.shape) > 1
                            else setup.generator(z))
        for real, fake in zip(real_all.split(m), fake_all.split(m)):
            critic_out = critic_step(setup, real, fake, world)
        # ---- generator step, then the EMA of its weights
        z = torch.randn(m, setup.latent_dim, generator=rngs["latent"], device=setup.device)
        g_loss = generator_step(setup, z, world)
        if setup.ema is not None:
            ema_update_(setup.ema, setup.generator, config.ema)

        # ---- bookkeeping: scalars are read back only here
        stopping = world.any("signum" in received)  # every process stops after the same step
        out_of_time = config.time_limit > 0 and world.any(
            wall_before + time.perf_counter() - t_start >= config.time_limit)
        is_last = step == config.steps or out_of_time
        do_log = step % config.log_every == 0 or is_last or step == 1 or stopping
        do_eval = is_last or (config.eval_every > 0 and step % config.eval_every == 0)
        do_ckpt = is_last or (config.ckpt_every > 0 and step % config.ckpt_every == 0) or stopping
        if setup.device.type == "cpu" or do_log or do_eval or do_ckpt:
            back = check_finite(step, {"critic loss": critic_out.d_loss.item(), "generator loss": g_loss.item()})
            if back is not None:  # rolled back: go on from the checkpoint's step
                step = back
                continue
        if do_log or do_eval or do_ckpt:
            scalars = {"d_loss": critic_out.d_loss.item(), "g_loss": g_loss.item(),
                       "critic_gap": (critic_out.d_real.mean() - critic_out.d_fake.mean()).item()}
            if critic_out.gp is not None:
                scalars["gp"] = critic_out.gp.item()
            row: dict[str, Any] = {"step": step, **world.mean(scalars)}  # under torchrun: the mean over processes
            row["wall_seconds"] = wall_before + time.perf_counter() - t_start
            if do_eval:  # on process 0; the others wait for its verdict
                failed = False
                if world.is_main:
                    try:
                        if setup.ema is None:
                            metrics, samples = setup.evaluator(setup.generator, setup.critic, step=step)
                        else:  # the EMA generator is judged; an image evaluator also scores the raw one
                            metrics, samples = setup.evaluator(setup.ema, setup.critic, step=step,
                                                               raw=setup.generator)
                    except NonFiniteSamplesError:
                        failed = True
                if world.any(failed):  # NaN samples: a rollback's step, else check_finite raises
                    back = check_finite(step, {"generator output": math.nan})
                    if back is not None:
                        step = back
                        continue
                if world.is_main:
                    row.update(metrics)
                    image = setup.evaluator.figure(run.path / "samples" / f"step_{step:07d}.png", samples,
                                                   setup.critic, title=f"{config.recipe} on {config.data}, step {step}")
            if world.is_main:  # the lectures' failure signs: diag_* fields in the row, each alarm printed once
                for finding in diagnostics.observe(step, row, setup, samples=samples if do_eval else None):
                    tqdm.write(str(finding), file=sys.stderr)
            run.log(row, image=image if do_eval and world.is_main else None)
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()
                             if k in ("d_loss", "g_loss", "modes", "high_quality", "w1")}, refresh=False)
        if do_ckpt:
            weights = [p for net in (setup.critic, setup.generator) for p in net.parameters()]
            moments = [t for opt in (setup.opt_d, setup.opt_g) for state in opt.state.values()
                       for t in state.values() if torch.is_tensor(t) and t.is_floating_point()]
            back = check_finite(step, {  # every process takes part in each check, whatever its own verdict
                "network weights": 0.0 if all(bool(torch.isfinite(p).all()) for p in weights) else math.nan,
                "optimizer state": 0.0 if all(bool(torch.isfinite(t).all()) for t in moments) else math.inf})
            if back is not None:
                step = back
                continue
            save(step)
            last_ckpt = step
        bar.update(1)
        if stopping and not is_last:
            bar.close()
            raise Interrupted(received.get("signum", signal.SIGTERM), step, str(run.path), world.rank)
        if is_last:
            break
    bar.close()
    return _finish(setup, world, run, row, start, wall_before, t_start, fired=list(diagnostics.fired),
                   rollbacks=rollbacks, lr_scale=lr_scale)


def _stop_message(config: TrainConfig, reason: str, checkpoint: Path, last_ckpt: int | None, rollbacks: int,
                  lr_scale: float) -> str:
    """The one line of a run that stops on a non-finite value: what, where, the checkpoint kept, and what was tried."""
    kept = (f"the last good checkpoint {str(checkpoint)!r} (step {last_ckpt}) is kept" if last_ckpt is not None
            else "no checkpoint had been written yet")
    if config.on_nonfinite == "stop":
        return (f"{reason}; stopped without saving; {kept}. Try a smaller learning rate, a stronger Lipschitz "
                f"constraint or on_nonfinite = 'rollback'.")
    if last_ckpt is None:
        return f"{reason}; stopped without saving: {kept} to roll back to ({rollbacks} rollback(s) so far)."
    return (f"{reason}; stopped without saving after {rollbacks} rollback(s) (max_rollbacks = {config.max_rollbacks}; "
            f"learning rates at {lr_scale:g} x the config's); {kept}. Try a smaller learning rate or a stronger "
            f"Lipschitz constraint.")


def _roll_back(setup: Setup, run: RunFolder, rngs: dict[str, torch.Generator], *, reason: str, rollback: int,
               lr_scale: float, report: bool) -> int:
    """Reload the last good checkpoint into `setup` and return its step: weights, EMA, optimizer state and the
    random streams `rngs`, with metrics.jsonl cut back to that step (`RunFolder.rewind`, what `--resume` does);
    then log {"step", "rollback", "lr_scale", "reason"} and, with `report`, print it as one line on stderr.

    The caller multiplies the learning rates by `lr_scale` from now on (lr = lr_0 · lr_scale · factor(t)) and
    saves it in the checkpoint. Note: the restored random streams draw the same data, latents and penalty
    interpolates again; only the lower learning rates change the trajectory, which is what a rollback relies on.
    """
    step = int(run.rewind(setup, rngs=rngs)["step"])
    # on the checkpoint's step, so that a later rollback or resume (which keep the lines up to it) keeps it
    run.log({"step": step, "rollback": rollback, "lr_scale": lr_scale, "reason": reason})
    if report:
        from tqdm.auto import tqdm

        config = setup.config
        tqdm.write(f"ganlab: {reason}: rolled back to the checkpoint of step {step} (rollback {rollback} of at most "
                   f"{config.max_rollbacks}); learning rates now x{lr_scale:g}: lr_g {config.lr_g * lr_scale:.3g}, "
                   f"lr_d {config.lr_d * lr_scale:.3g}", file=sys.stderr)
    return step


def _finish(setup: Setup, world: World, run: RunFolder, row: dict[str, Any], start: int, wall_before: float,
            t_start: float, *, fired: list[str], rollbacks: int, lr_scale: float) -> dict[str, Any]:
    """The summary of the run; process 0 writes summary.json, curves.png and report.html."""
    config = setup.config
    elapsed = time.perf_counter() - t_start
    if not world.is_main:
        return {"rank": world.rank, "steps": row["step"], "wall_seconds": wall_before + elapsed}
    summary = {
        **{k: v for k, v in row.items() if k != "wall_seconds"},
        "recipe": config.recipe,
        "data": config.data,
        "steps": row["step"],
        "time_limited": row["step"] < config.steps,
        "wall_seconds": wall_before + elapsed,
        "steps_per_second": (row["step"] - start) / max(elapsed, 1e-9),
        "threads": torch.get_num_threads(),
        "device": str(setup.device),
        "world_size": world.size,
        "ema": setup.ema is not None,
        "num_modes": None if setup.dataset.modes is None else int(setup.dataset.modes.shape[0]),
        "eval_samples": config.eval_samples,
        "run_dir": str(run.path),
        "torch": torch.__version__,
        "report": str(run.path / "report.html"),
        "diagnostics": fired,  # the names of the diagnostics that fired (ganlab.diagnostics)
        "rollbacks": rollbacks,  # over the whole run (on_nonfinite = "rollback")
        "lr_scale": lr_scale,  # the learning rates' factor those rollbacks left
    }
    run.write_summary(summary)
    from ganlab.html_report import write_report
    from ganlab.report import plot_curves

    plot_curves(run.metrics, run.path / "curves.png", title=f"{config.recipe} on {config.data}")
    write_report([run.path], summary["report"], title=f"{config.recipe} on {config.data}")
    return summary
