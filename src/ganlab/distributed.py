"""Data parallelism on torch.distributed: every process its own data, the same weights everywhere.

Launched by `torchrun --nproc_per_node=N -m ganlab train ...`, every process runs the same loop on its
own data, latent and penalty streams, from the same initial weights (the same seed). After each
backward the gradients are averaged with one all_reduce over a flat buffer, so every process takes
the same optimizer step and the weights stay identical; after each optimizer step the module's
floating-point buffers (batch-norm running statistics; spectral norm's u, v) are broadcast from
process 0, as DistributedDataParallel does with `broadcast_buffers=True`, so that they cannot drift
apart either. Process 0 writes the run folder and evaluates; the effective batch is
world_size * batch_size. gloo on CPUs, NCCL on GPUs.

Why not DistributedDataParallel itself: a critic update runs the critic in up to three ways (one
forward over real and fake, the penalty's forward on the interpolates and its double backward, or
the closed-form step with no autograd at all); DDP's reducer hooks into autograd's backward and
expects one forward per backward, which the penalty's `autograd.grad(create_graph=True)` and the
closed form both break.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["World"]


class World:
    """The processes of one run (a single process when not launched by torchrun)."""

    def __init__(self, device_type: str) -> None:
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.owns_group = False
        self.nccl = self.size > 1 and device_type == "cuda"
        if self.nccl:  # one GPU per process: NCCL's collectives run on the current device
            torch.cuda.set_device(self.local_rank)
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.nccl else "gloo")
            self.owns_group = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """This process's device: with several processes a bare `cuda` means cuda:<local rank>."""
        if self.size > 1 and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def average_gradients_(self, module: nn.Module) -> None:
        """grad <- mean over processes of grad, for every parameter with a gradient (one all_reduce per dtype)."""
        if self.size == 1:
            return
        for grads in _by_dtype(p.grad for p in module.parameters() if p.grad is not None):
            flat = torch._utils._flatten_dense_tensors(grads)
            dist.all_reduce(flat)
            flat /= self.size
            for g, avg in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
                g.copy_(avg)

    def sync_buffers_(self, module: nn.Module) -> None:
        """Every floating-point buffer of `module` <- process 0's (one broadcast per dtype); integer counters
        are equal anyway."""
        if self.size == 1:
            return
        for bufs in _by_dtype(b for b in module.buffers() if b.is_floating_point()):
            flat = torch._utils._flatten_dense_tensors(bufs)
            dist.broadcast(flat, src=0)
            for b, synced in zip(bufs, torch._utils._unflatten_dense_tensors(flat, bufs)):
                b.copy_(synced)

    def any(self, flag: bool) -> bool:
        """True on every process if `flag` is true on any (so that all of them stop together)."""
        if self.size == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=f"cuda:{self.local_rank}" if self.nccl else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def rng_states(self, rngs: dict[str, torch.Generator]) -> dict[str, Tensor]:
        """The other processes' RNG states as `rng.<name>@<rank>` tensors (collective; filled on process 0)."""
        if self.size == 1:
            return {}
        gathered: list[Any] = [None] * self.size  # all_gather_object runs on the current device
        dist.all_gather_object(gathered, {k: g.get_state() for k, g in rngs.items()})
        return {f"rng.{k}@{r}": v for r in range(1, self.size) for k, v in gathered[r].items()}

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


def _by_dtype(tensors: Iterable[Tensor]) -> list[list[Tensor]]:
    """`tensors` grouped by dtype (a flat buffer holds one dtype), in order of first appearance."""
    groups: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    return list(groups.values())
