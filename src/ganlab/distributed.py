"""Data parallelism on torch.distributed: every process its own data, the same weights everywhere.

    ḡ = (1 / N) Σ_r g_r      for every parameter with a gradient; g_r its gradient on process r of N

Launched by `torchrun --nproc_per_node=N -m ganlab train ...`, every process runs the same loop on its
own data, latent and penalty streams, from the same initial weights (the same seed). After each
backward the gradients are averaged (below), so every process takes the same optimizer step and the
weights stay identical; after each optimizer step the module's floating-point buffers (batch-norm
running statistics; spectral norm's u, v) are broadcast from process 0, as DistributedDataParallel
does with `broadcast_buffers=True`, so that they cannot drift apart either. Process 0 writes the run
folder and evaluates; the training scalars it logs (losses, critic gap, penalty) are means over the processes
(`World.mean`); the effective batch is world_size * batch_size. gloo on CPUs, NCCL on GPUs.

Why not DistributedDataParallel itself: a critic update runs the critic in up to three ways (one
forward over real and fake, the penalty's forward on the interpolates and its double backward, or
the closed-form step with no autograd at all); DDP's reducer hooks into autograd's backward and
expects one forward per backward, which the penalty's `autograd.grad(create_graph=True)` and the
closed form both break.

Communication overlapped with the backward, as DDP's reducer does it, by hand:
* Buckets. The parameters of a module that require a gradient are split into buckets of one dtype and
  about `BUCKET_CAP_BYTES` each, taken in reverse order of `module.parameters()`, roughly the order in
  which backward produces their gradients (`assign_buckets`).
* Hooks. The first `World.average_gradients_(module)` is synchronous and registers on each of those
  parameters a post-accumulate-grad hook (`Tensor.register_post_accumulate_grad_hook`) that marks it
  ready. When every parameter of bucket k is ready and buckets 0 .. k-1 have gone out, bucket k's
  gradients are copied into one flat buffer and all-reduced with `async_op=True`: the last layers'
  sums travel while autograd still computes the first layers' gradients.
* After the backward, `average_gradients_(module)` (the one call site, in `ganlab.steps`) waits for
  those handles, divides by N and copies the means back into `.grad`; every gradient that did not go
  out during the backward is averaged synchronously (one all_reduce per dtype over a flat buffer):
  the closed-form MLP step writes `.grad` without autograd, so no hook fires; a parameter that got no
  gradient (frozen, or unused by this loss) leaves its bucket, and every bucket after it, incomplete.
* Once per backward. autograd runs a leaf's AccumulateGrad node once per backward, after it has
  summed every contribution, and the hook runs after that node: the penalty's
  `autograd.grad(D(x̂), x̂, create_graph=True)` runs no AccumulateGrad node (nor do the diagnostics'
  `autograd.grad` probes), and the final `d_loss.backward()` through the double-backward graph fires
  each critic parameter's hook once, with the loss's and the penalty's parts summed. Two backwards
  before one average (gradient accumulation) make a hook fire twice: the reducer then waits for what
  went out, discards it, and averages everything synchronously.
* The same collectives in the same order on every process (gloo and NCCL match collectives by the
  order they are issued, and deadlock otherwise): every process runs the same code path on networks
  with the same parameters in the same order, so the buckets (order, sizes, dtypes) are the same, and
  the same parameters get gradients in each backward. Bucket k goes out only after buckets 0 .. k-1,
  whatever order the hooks fire in, and the synchronous remainder is issued after them, by dtype in
  parameter order. A backward through a module's parameters that runs on ONE process only would
  launch a collective that the others never join; ganlab differentiates the networks outside
  `ganlab.steps` only with `autograd.grad`, which fires no hook.
* A single process registers no hook and launches nothing (`average_gradients_` returns at once).
* Equivalence: each mean is the same N-term sum over processes followed by the same division by N,
  only issued in pieces. With 2 processes each sum is one IEEE addition g_0 + g_1, so the result is bit
  for bit the synchronous path's (tests/test_distributed.py checks `torch.equal`); with more, the
  collective's reduction order depends on how it splits the buffer, so the two paths may differ by the
  rounding of an N-term float sum.
* The switch: `World(device_type, overlap=False)`, or the environment variable `GANLAB_DDP_OVERLAP=0`
  for runs whose World `ganlab.train` builds (`torchrun ... -m ganlab train`), keeps the synchronous
  path only (an escape hatch, and the benchmark's control, benchmarks/distributed_speed.py).
* `World.launched_in_backward` and `World.reduced_after_backward` count the all-reduces of the two
  kinds, so that a test can tell that overlap happened.
* Contract: call `average_gradients_` right after the backward; a gradient changed in between (after its
  bucket went out) would be overwritten by the mean of the values it had when it went out.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["BUCKET_CAP_BYTES", "OVERLAP_ENV", "World", "assign_buckets"]

BUCKET_CAP_BYTES = 256 * 1024
"""Bytes of gradients per bucket (a bucket closes once it holds at least this many). ganlab's image networks
hold 0.5 to 4 MiB of parameters (the DCGAN critic for 28 x 28 images 0.53 MiB, of which one convolution is
0.5 MiB): DDP's 1 MiB first bucket would leave such a critic in ONE bucket, which goes out only when the
backward ends, overlapping nothing; 256 KiB gives it two (the 32 x 32 RGB critic three, the DCGAN generators for
8 x 8, 28 x 28 and 32 x 32 images one, two and three). Each bucket costs one collective's fixed latency, so much
smaller buckets would cost more than they hide."""

OVERLAP_ENV = "GANLAB_DDP_OVERLAP"
"""Environment variable read by `World(overlap=None)`: "1" (the default) overlaps the all-reduces with the
backward, "0" all-reduces every gradient after it."""


class World:
    """The processes of one run (a single process when not launched by torchrun).

    `overlap`: all-reduce gradient buckets during the backward (the module docstring); None reads
    `GANLAB_DDP_OVERLAP` ("1" by default). `bucket_cap_bytes`: the buckets' size, None for `BUCKET_CAP_BYTES`.
    Counters: `launched_in_backward`, the bucket all-reduces launched from hooks during backwards;
    `reduced_after_backward`, the synchronous all-reduces of `average_gradients_`.
    """

    def __init__(self, device_type: str, *, overlap: bool | None = None, bucket_cap_bytes: int | None = None) -> None:
        if overlap is None:
            overlap = _overlap_from_env()
        if not isinstance(overlap, bool):
            raise ValueError(f"overlap must be True or False, got {overlap!r}")
        cap = BUCKET_CAP_BYTES if bucket_cap_bytes is None else bucket_cap_bytes
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"bucket_cap_bytes must be an integer >= 1, got {bucket_cap_bytes!r}")
        self.overlap, self.bucket_cap_bytes = overlap, cap
        self.launched_in_backward = 0
        self.reduced_after_backward = 0
        self._reducers: weakref.WeakKeyDictionary[nn.Module, _Reducer] = weakref.WeakKeyDictionary()
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

    @property
    def _scalar_device(self) -> str:
        """Where the small tensors of `any` and `mean` are reduced: this process's GPU under NCCL, else the CPU."""
        return f"cuda:{self.local_rank}" if self.nccl else "cpu"

    def device(self, device: torch.device) -> torch.device:
        """This process's device: with several processes a bare `cuda` means cuda:<local rank>."""
        if self.size > 1 and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def average_gradients_(self, module: nn.Module) -> None:
        """grad <- mean over processes of grad, for every parameter of `module` with a gradient.

        The buckets that went out during the backward are waited for, divided and copied back; the rest is
        all-reduced here, one all_reduce per dtype. The first call for a module (and every call with
        overlap off) is all synchronous; the first call also registers the module's hooks, so that later
        backwards overlap (the module docstring). A no-op in a single process.
        """
        if self.size == 1:
            return
        done: set[int] = set()
        reducer = self._reducer(module) if self.overlap else None
        if reducer is not None:
            for params, flat in reducer.collect():
                flat /= self.size
                grads = [p.grad for p in params]
                for g, avg in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
                    g.copy_(avg)
                done.update(id(p) for p in params)
        for grads in _by_dtype(p.grad for p in module.parameters() if p.grad is not None and id(p) not in done):
            flat = torch._utils._flatten_dense_tensors(grads)
            dist.all_reduce(flat)
            self.reduced_after_backward += 1
            flat /= self.size
            for g, avg in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads)):
                g.copy_(avg)

    def _reducer(self, module: nn.Module) -> _Reducer:
        """The module's reducer, made (and its hooks registered) on first sight, remade if its parameters changed
        (not if one was frozen or unfrozen: a frozen parameter's hook does not fire, a parameter frozen when the
        hooks were registered has none, and their gradients, if any, take the synchronous path)."""
        params = list(module.parameters())
        reducer = self._reducers.get(module)
        if reducer is not None and not reducer.covers(params):
            reducer.collect()  # what went out must still be waited for: the other processes issued it too
            reducer.remove()
            reducer = None
        if reducer is None:
            reducer = self._reducers[module] = _Reducer(self, params)
        return reducer

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
        t = torch.tensor([1.0 if flag else 0.0], device=self._scalar_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """(1 / N) Σ_r values_r for each key, on every process (one all_reduce in float64; collective: every process
        passes the same keys). A single process gets its values back."""
        if self.size == 1:
            return dict(values)
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self._scalar_device)
        dist.all_reduce(t)
        return dict(zip(values, (t / self.size).tolist()))

    def rng_states(self, rngs: dict[str, torch.Generator]) -> dict[str, Tensor]:
        """The other processes' RNG states as `rng.<name>@<rank>` tensors (collective; filled on process 0)."""
        if self.size == 1:
            return {}
        gathered: list[Any] = [None] * self.size  # all_gather_object runs on the current device
        dist.all_gather_object(gathered, {k: g.get_state() for k, g in rngs.items()})
        return {f"rng.{k}@{r}": v for r in range(1, self.size) for k, v in gathered[r].items()}

    def close(self) -> None:
        """Remove every hook this World registered (a later backward launches nothing), then end the process
        group if this World started it."""
        for reducer in list(self._reducers.values()):
            reducer.remove()
        self._reducers.clear()
        if self.owns_group:
            dist.destroy_process_group()


class _Reducer:
    """The buckets of one module's parameters, their hooks, and what the current backward launched.

    `ready[i]`: parameter i's hook fired in this backward; `missing[k]`: bucket k's parameters not yet ready;
    `next`: the first bucket not yet launched; `pending`: (parameters, flat buffer, handle) of each launched
    bucket; `stale`: a hook fired twice before `collect` (two backwards, one average).
    """

    def __init__(self, world: World, params: list[Tensor]) -> None:
        self.world, self.params = world, params
        hooked = [i for i, p in enumerate(params) if p.requires_grad]  # no hook can be put on a frozen tensor
        self.buckets = [[hooked[j] for j in bucket]
                        for bucket in assign_buckets([params[i] for i in hooked], world.bucket_cap_bytes)]
        self.bucket_of = {i: k for k, bucket in enumerate(self.buckets) for i in bucket}
        self.handles = [params[i].register_post_accumulate_grad_hook(lambda _, i=i: self._ready(i)) for i in hooked]
        self._reset()

    def _reset(self) -> None:
        self.ready = [False] * len(self.params)
        self.missing = [len(bucket) for bucket in self.buckets]
        self.next = 0
        self.pending: list[tuple[list[Tensor], Tensor, Any]] = []
        self.stale = False

    def covers(self, params: list[Tensor]) -> bool:
        """Whether `params` are exactly the parameters this reducer was made for, in the same order."""
        return len(params) == len(self.params) and all(p is q for p, q in zip(params, self.params))

    def _ready(self, i: int) -> None:
        """Parameter i's gradient is final for this backward: launch every bucket that is now complete and
        has no unlaunched bucket before it."""
        if self.stale:
            return
        if self.ready[i]:  # a second backward before the average: what went out is out of date
            self.stale = True
            return
        self.ready[i] = True
        self.missing[self.bucket_of[i]] -= 1
        while self.next < len(self.buckets) and self.missing[self.next] == 0:
            params = [self.params[j] for j in self.buckets[self.next]]
            # a new buffer even for one tensor (where _flatten_dense_tensors would return a view of .grad), so that
            # .grad holds this process's own gradient until average_gradients_, whatever the collective is doing
            flat = torch.cat([p.grad.reshape(-1) for p in params])
            self.pending.append((params, flat, dist.all_reduce(flat, async_op=True)))
            self.world.launched_in_backward += 1
            self.next += 1

    def collect(self) -> list[tuple[list[Tensor], Tensor]]:
        """Wait for every bucket launched since the last call; (its parameters, its summed flat buffer) for
        each, or none when the backward was stale; then start afresh for the next backward."""
        for _, _, handle in self.pending:
            handle.wait()
        done = [] if self.stale else [(params, flat) for params, flat, _ in self.pending]
        self._reset()
        return [(params, flat) for params, flat in done if all(p.grad is not None for p in params)]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def assign_buckets(tensors: Sequence[Tensor], cap_bytes: int) -> list[list[int]]:
    """Indices of `tensors` in buckets of one dtype and about `cap_bytes` each, in the order they fill.

    The tensors are taken in reverse order (backward produces the last layers' gradients first); each joins
    the open bucket of its dtype, which closes once it holds >= cap_bytes (so a tensor larger than the cap
    fills a bucket of its own). Buckets are ordered by the position of their last tensor in that reverse
    order, the moment they are complete when gradients arrive in it; within a bucket, indices in reverse.
    """
    if isinstance(cap_bytes, bool) or not isinstance(cap_bytes, int) or cap_bytes < 1:
        raise ValueError(f"cap_bytes must be an integer >= 1, got {cap_bytes!r}")
    done: list[tuple[int, list[int]]] = []  # (reverse position of the last tensor, indices)
    open_: dict[torch.dtype, tuple[list[int], int]] = {}
    for pos, i in enumerate(reversed(range(len(tensors)))):
        t = tensors[i]
        indices, size = open_.pop(t.dtype, ([], 0))
        indices, size = [*indices, i], size + t.numel() * t.element_size()
        if size >= cap_bytes:
            done.append((pos, indices))
        else:
            open_[t.dtype] = (indices, size)
    done += [(len(tensors) - 1 - indices[-1], indices) for indices, _ in open_.values()]  # the partial buckets
    return [indices for _, indices in sorted(done)]


def _overlap_from_env() -> bool:
    value = os.environ.get(OVERLAP_ENV, "1")
    if value not in ("0", "1"):
        raise ValueError(f"{OVERLAP_ENV}={value!r}: expected 1 (all-reduce buckets during the backward, the "
                         "default) or 0 (all-reduce every gradient after it)")
    return value == "1"


def _by_dtype(tensors: Iterable[Tensor]) -> list[list[Tensor]]:
    """`tensors` grouped by dtype (a flat buffer holds one dtype), in order of first appearance."""
    groups: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    return list(groups.values())
