"""World (ganlab.distributed) with two gloo processes on the CPU: gradients averaged, buffers made identical."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from ganlab.distributed import BUCKET_CAP_BYTES, OVERLAP_ENV, World, assign_buckets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    world = World("cpu")
    try:
        torch.manual_seed(0)  # the same weights on both processes
        net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
        x = torch.randn(8, 3, generator=torch.Generator().manual_seed(rank))  # different data per process
        net(x).sum().backward()  # batch norm's running statistics now differ between the processes
        own = {"grad": net[0].weight.grad.clone(), "mean": net[1].running_mean.clone()}
        world.average_gradients_(net)
        world.sync_buffers_(net)
        torch.save({**own, "avg": net[0].weight.grad, "synced_mean": net[1].running_mean,
                    "synced_var": net[1].running_var, "count": net[1].num_batches_tracked,
                    "any": world.any(rank == 1), "scalars": world.mean({"a": 1.0 + rank, "b": 0.1 * rank})},
                   f"{out}/rank{rank}.pt")
    finally:
        world.close()


def test_gradients_are_averaged_and_buffers_broadcast_from_process_0(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert not torch.equal(r0["grad"], r1["grad"]) and not torch.equal(r0["mean"], r1["mean"])
    torch.testing.assert_close(r0["avg"], (r0["grad"] + r1["grad"]) / 2, atol=1e-7, rtol=0)
    assert torch.equal(r0["avg"], r1["avg"])
    # every floating-point buffer is process 0's on both; the integer counter was equal anyway
    assert torch.equal(r1["synced_mean"], r0["mean"]) and torch.equal(r0["synced_mean"], r0["mean"])
    assert torch.equal(r0["synced_var"], r1["synced_var"]) and int(r0["count"]) == int(r1["count"]) == 1
    assert r0["any"] is True and r1["any"] is True  # one process's flag stops both
    assert r0["scalars"] == r1["scalars"] == {"a": 1.5, "b": 0.05}  # logged scalars: the mean over the processes


def test_a_single_process_world_is_a_no_op():
    world = World("cpu")
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    net(torch.randn(4, 2)).sum().backward()
    grad, mean = net[0].weight.grad.clone(), net[1].running_mean.clone()
    world.average_gradients_(net)
    world.sync_buffers_(net)
    assert torch.equal(grad, net[0].weight.grad) and torch.equal(mean, net[1].running_mean)
    assert world.size == 1 and world.is_main and world.any(True) and not world.any(False)
    assert world.device(torch.device("cuda")) == torch.device("cuda")  # one process keeps a bare cuda
    assert world.mean({"d_loss": -0.25, "gp": 0.125}) == {"d_loss": -0.25, "gp": 0.125}



# ----------------------------------------------------------------------------------------------
# a 2-process run with batch m/2 per process equals a 1-process run with batch m (DCGAN on digits)

DCGAN_DIGITS = ["--data=digits", "--model=dcgan", "--model.g_norm=none", "--model.g_width=8", "--model.d_width=8",
                "--model.latent_dim=8", "--eval_every=0", "--log_every=1", "--threads=1", "--steps=3"]
DDP_RECIPES = {"nsgan": ["--recipe=nsgan"],  # Adam, n_critic 1, a critic without normalization
               "wgan-gp": ["--recipe=wgan-gp", "--n_critic=2"]}  # the penalty's stream; two critic batches per phase


class _NoEvaluation:
    """Stands in for the run's evaluator: these tests compare weights, and FID on 50 samples costs seconds."""

    def __call__(self, *args, **kwargs):
        return {}, None

    def figure(self, *args, **kwargs) -> None:
        pass

    def prepare(self) -> None:
        pass


def _lean(build, streams: set[int]):
    """Replacements for `ganlab.train`'s `build` and `_finish`: the run skips its evaluation and its final figures
    and report, and the ids of each run's data, latent and penalty generators are recorded in `streams`."""

    def recording(*args, **kwargs):
        setup = build(*args, **kwargs)
        setup.evaluator = _NoEvaluation()
        streams.clear()
        streams.update(id(g) for g in setup.rngs.values())
        return setup

    return recording, lambda *args, **kwargs: {}


def _draw_halves(draw, streams: set[int], rank: int, half: int):
    """`draw` (torch.rand / randn / randint) that, for a generator in `streams`, draws what a single process with
    batch 2 * half draws and keeps this process's half of every batch: rows [rank * half, (rank + 1) * half) of each
    block of 2 * half rows. A phase's n_critic batches are consecutive blocks, so each keeps its own half."""

    def halved(*args, generator=None, **kwargs):
        if generator is None or id(generator) not in streams:
            return draw(*args, generator=generator, **kwargs)
        if "size" in kwargs:
            prefix, size = args, tuple(kwargs.pop("size"))
        elif args and isinstance(args[-1], (tuple, list, torch.Size)):  # torch.randint(high, (n,))
            prefix, size = args[:-1], tuple(args[-1])
        else:  # torch.randn(n, d), torch.rand(n)
            prefix, size = (), tuple(args)
        full = draw(*prefix, (2 * size[0], *size[1:]), generator=generator, **kwargs)
        return full.view(-1, 2, half, *size[1:])[:, rank].reshape(size)

    return halved


def _halves_worker(rank: int, runs: list) -> None:
    """Train each (config, port) of `runs` as process `rank` of 2, each batch its half of a single process's draws."""
    import ganlab.build as build_mod
    import ganlab.train as train_mod

    seeds = build_mod.stream_seeds
    build_mod.stream_seeds = lambda seed, rank=0: seeds(seed)  # both processes start from process 0's streams
    streams: set[int] = set()
    train_mod.build, train_mod._finish = _lean(train_mod.build, streams)
    draws = {name: getattr(torch, name) for name in ("rand", "randn", "randint")}
    for config, port in runs:
        for name, draw in draws.items():
            setattr(torch, name, _draw_halves(draw, streams, rank, config.batch_size))
        os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
                           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
        train_mod.train(config, progress=False)


def test_two_processes_with_half_batches_equal_one_process_with_the_whole_batch(tmp_path, monkeypatch):
    """DCGAN on the digits, g_norm none: process r of 2 trains on rows [8r, 8r + 8) of every batch of 16 that a single
    process draws (data, latents, the penalty's interpolation weights), and the average of the two half-batch
    gradients is the gradient of the whole batch's mean. After 3 steps the weights and Adam's moments equal the
    single process's up to float32 rounding (the batch sums run in another order), for nsgan and for wgan-gp with two
    critic batches per phase; a single process on half the batch ends elsewhere, far beyond the tolerance.

    Batch norm is off in the generator: its statistics are per process, as in DistributedDataParallel without
    SyncBatchNorm (which needs CUDA), so a batch-norm generator would normalize by 8 images, not 16.
    """
    import ganlab.train as train_mod
    from ganlab.checkpoint import load_checkpoint
    from ganlab.recipes import resolve_config

    def config(name, batch, out):
        return resolve_config(overrides=[*DCGAN_DIGITS, *DDP_RECIPES[name], f"--batch_size={batch}",
                                          f"--out={tmp_path / name / out}"])

    def last(name, out):
        return load_checkpoint(tmp_path / name / out / "checkpoints" / "last.safetensors")

    runs = [(config(name, 8, "two"), _free_port()) for name in DDP_RECIPES]
    mp.spawn(_halves_worker, args=(runs,), nprocs=2, join=True)
    build, finish = _lean(train_mod.build, set())
    monkeypatch.setattr(train_mod, "build", build)
    monkeypatch.setattr(train_mod, "_finish", finish)
    for name in DDP_RECIPES:
        train_mod.train(config(name, 16, "one"), progress=False)
        train_mod.train(config(name, 8, "half"), progress=False)  # the control: one process, half the batch
    for name in DDP_RECIPES:
        (one, _), (two, meta), (half, _) = last(name, "one"), last(name, "two"), last(name, "half")
        assert meta["world_size"] == 2 and meta["step"] == 3
        for stream in ("data", "latent", "penalty"):  # process 0 drew exactly what the single process drew
            assert torch.equal(two[f"rng.{stream}"], one[f"rng.{stream}"]), (name, stream)
        compared = [k for k in one if k.startswith(("generator.", "critic.", "opt_"))]
        assert any(k.startswith("opt_") for k in compared) and len(compared) > 20
        for k in compared:  # measured: at most 2e-7 (wgan-gp's critic moments), 1e-8 for nsgan
            torch.testing.assert_close(two[k], one[k], atol=1e-6, rtol=1e-5, msg=f"{name} {k}")
        gap = max(float((half[k] - one[k]).abs().max()) for k in compared if k.startswith("generator."))
        assert gap > 100 * 1e-6, (name, gap)  # measured: 6e-4 (wgan-gp), 1.2e-3 (nsgan)


# ----------------------------------------------------------------------------------------------
# gradient buckets all-reduced from hooks during the backward (World(overlap=True))


def test_buckets_fill_in_reverse_order_by_dtype_up_to_the_cap():
    f32, f64 = (lambda n: torch.zeros(n)), (lambda n: torch.zeros(n, dtype=torch.float64))
    # 40, 80, 120, 160 bytes, cap 200: from the back, 160 + 120 >= 200 closes [3, 2]; 80 + 40 stays partial
    assert assign_buckets([f32(10), f32(20), f32(30), f32(40)], 200) == [[3, 2], [1, 0]]
    # a tensor of at least the cap fills a bucket of its own
    assert assign_buckets([f32(1), f32(50), f32(50)], 100) == [[2], [1], [0]]
    # one dtype per bucket: float64 8 + 800 closes [3, 1], then float32 100 + 100 closes [2, 0]
    assert assign_buckets([f32(25), f64(100), f32(25), f64(1)], 150) == [[3, 1], [2, 0]]
    # ordered by when a bucket is complete: the partial float64 bucket [1] is complete before [0] arrives
    assert assign_buckets([f32(100), f64(1)], 150) == [[1], [0]]
    assert assign_buckets([], 150) == []
    with pytest.raises(ValueError, match="cap_bytes must be an integer >= 1, got 0"):
        assign_buckets([f32(1)], 0)


def test_buckets_go_out_in_bucket_order_whatever_order_the_hooks_fire_in(monkeypatch):
    """Every process must issue the same collectives in the same order: bucket k is launched only once buckets
    0 .. k-1 are, so hooks firing in another order (a double backward's) cannot reorder the all-reduces. A hook that
    fires twice before the average marks the backward stale: what went out is discarded."""
    import ganlab.distributed as distributed

    launched = []

    class Handle:
        def wait(self) -> None:
            pass

    def all_reduce(flat, async_op=False):  # records each launch by its bucket's gradient, 10 * (index + 1)
        launched.append(flat.tolist())
        return Handle()

    monkeypatch.setattr(distributed.dist, "all_reduce", all_reduce)
    world = World("cpu", overlap=True, bucket_cap_bytes=1)  # one bucket per parameter: [3], [2], [1], [0]
    params = [nn.Parameter(torch.zeros(1)) for _ in range(4)]
    for i, p in enumerate(params):
        p.grad = torch.full((1,), 10.0 * (i + 1))
    reducer = distributed._Reducer(world, params)
    assert reducer.buckets == [[3], [2], [1], [0]]
    reducer._ready(1)
    reducer._ready(0)
    assert launched == []  # bucket 0 (parameter 3) is not ready: nothing may go out before it
    reducer._ready(3)
    assert launched == [[40.0]]
    reducer._ready(2)  # completes bucket 1, and buckets 2 and 3 were waiting behind it
    assert launched == [[40.0], [30.0], [20.0], [10.0]] and world.launched_in_backward == 4
    collected = reducer.collect()
    assert [[id(p) for p in ps] for ps, _ in collected] == [[id(params[i])] for i in (3, 2, 1, 0)]
    assert [flat.tolist() for _, flat in collected] == launched
    reducer._ready(3)
    reducer._ready(3)  # a second backward before the average
    assert reducer.stale and reducer.collect() == [] and launched[-1] == [40.0] and len(launched) == 5
    reducer.remove()


def test_overlap_is_switched_by_argument_or_environment(monkeypatch):
    monkeypatch.delenv(OVERLAP_ENV, raising=False)
    assert World("cpu").overlap is True and World("cpu").bucket_cap_bytes == BUCKET_CAP_BYTES
    monkeypatch.setenv(OVERLAP_ENV, "0")
    assert World("cpu").overlap is False and World("cpu", overlap=True).overlap is True
    monkeypatch.setenv(OVERLAP_ENV, "yes")
    with pytest.raises(ValueError, match=r"GANLAB_DDP_OVERLAP='yes': expected 1 .* or 0"):
        World("cpu")
    with pytest.raises(ValueError, match="bucket_cap_bytes must be an integer >= 1, got -5"):
        World("cpu", overlap=True, bucket_cap_bytes=-5)


def test_a_single_process_registers_no_hook_and_launches_nothing():
    """No process group exists here: a hook that launched a collective would raise."""
    world = World("cpu", overlap=True, bucket_cap_bytes=1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    grads = []
    for _ in range(2):
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()
        world.average_gradients_(net)
        grads.append([p.grad.clone() for p in net.parameters()])
    expected = torch.autograd.grad(net(x).sum(), list(net.parameters()))
    for a, b, e in zip(*grads, expected):
        assert torch.equal(a, e) and torch.equal(b, e)
    assert all(not p._post_accumulate_grad_hooks for p in net.parameters())
    assert world.launched_in_backward == 0 and world.reduced_after_backward == 0


OVERLAP_STEPS = 3
SMALL_CAP = 512  # bytes: every network below splits into several buckets
LR = 0.01


def _sgd_(module: nn.Module) -> None:
    """p <- p - LR grad (by hand: constructing a torch.optim optimizer imports torch._dynamo, 2 s per process)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.grad is not None:
                p.sub_(LR * p.grad)


def _critic_step(critic: nn.Module, real, fake, world: World, rng, *, closed_form: bool = False) -> None:
    """`ganlab.steps.critic_step` of WGAN-GP (lambda 10) with plain SGD: the closed-form MLP step, or one critic
    forward over cat([real, fake]), the penalty by autograd.grad(create_graph=True) on the interpolates, and one
    backward through both."""
    from ganlab.lipschitz import interpolate, penalty_from_outputs
    from ganlab.losses import wasserstein_d_loss
    from ganlab.models.mlp_backward import penalized_critic_backward_

    x_hat = interpolate(real, fake, generator=rng)
    if closed_form:
        penalized_critic_backward_(critic, real, fake, x_hat, wasserstein_d_loss, gp_weight=10.0)
    else:
        critic.zero_grad(set_to_none=True)
        d_real, d_fake = critic(torch.cat([real, fake])).split(real.shape[0])
        x_hat.requires_grad_(True)
        d_loss = wasserstein_d_loss(d_real, d_fake) + penalty_from_outputs(x_hat, critic(x_hat), gp_weight=10.0)
        d_loss.backward(inputs=list(critic.parameters()))  # as steps.critic_step: no gradient for x_hat
    world.average_gradients_(critic)
    _sgd_(critic)


def _generator_step(generator: nn.Module, critic: nn.Module, z, world: World) -> None:
    """`ganlab.steps.generator_step` of WGAN with plain SGD: the critic frozen, L_G = -E f(G(z))."""
    from ganlab.losses import wasserstein_g_loss

    critic.requires_grad_(False)
    generator.zero_grad(set_to_none=True)
    wasserstein_g_loss(critic(generator(z))).backward()
    world.average_gradients_(generator)
    _sgd_(generator)
    critic.requires_grad_(True)


def _recording(world: World, names: dict[int, str], log: list) -> None:
    """Make `world.average_gradients_` record, per call: the module's name, the local gradients it was given, the
    averages it left, the buckets launched since the previous call (during the backward) and the all-reduces it
    issued itself. The recording replaces any earlier one."""
    average = type(world).average_gradients_.__get__(world)
    seen = {"launched": world.launched_in_backward}

    def recorded(module):
        launched, reduced = world.launched_in_backward - seen["launched"], world.reduced_after_backward
        local = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
        average(module)
        seen["launched"] = world.launched_in_backward
        log.append({"module": names[id(module)], "local": local, "launched": launched,
                    "avg": [None if p.grad is None else p.grad.clone() for p in module.parameters()],
                    "reduced": world.reduced_after_backward - reduced})

    world.average_gradients_ = recorded


def _train_steps(case: str, world: World, rank: int) -> tuple[list, dict[str, int]]:
    """OVERLAP_STEPS steps of `case` with `world` as process `rank`, from weights shared by both processes and
    data of its own: the recorded averages and the number of buckets of each module."""
    from ganlab.models.dcgan import DCGANCritic, DCGANGenerator
    from ganlab.models.mlp import MLPCritic

    torch.manual_seed(0)  # the same weights on both processes
    rng = torch.Generator().manual_seed(rank)  # data, latents and interpolation weights of this process
    log: list = []
    if case == "toy":  # a hand-built MLP: two backwards per average, then a layer frozen after registration
        net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
        _recording(world, {id(net): "net"}, log)
        x = torch.randn(6, 3, generator=rng)
        for step in range(OVERLAP_STEPS):
            net.zero_grad(set_to_none=True)
            net(x).pow(2).sum().backward()
            world.average_gradients_(net)
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()  # gradient accumulation: every hook fires twice before the average
        (2 * net(x)).sum().backward()
        world.average_gradients_(net)
        net[0].requires_grad_(False)  # its buckets, the last two, never complete
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()
        world.average_gradients_(net)
        return log, {"net": len(assign_buckets(list(net.parameters()), world.bucket_cap_bytes))}
    if case.startswith("mlp"):  # the toy recipes' critic on 2-D points
        critic, generator = MLPCritic(2, width=16, depth=2), None
        batches = [(torch.randn(16, 2, generator=rng), torch.randn(16, 2, generator=rng))
                   for _ in range(OVERLAP_STEPS)]
    else:  # DCGAN on 8 x 8 digits, small widths: the critic with layer norm (as wgan-gp's), the generator without
        critic = DCGANCritic((1, 8, 8), width=8, norm="layernorm")
        generator = DCGANGenerator(8, (1, 8, 8), width=8, norm="none")
        batches = [(2 * torch.rand(8, 1, 8, 8, generator=rng) - 1, torch.randn(8, 8, generator=rng))
                   for _ in range(OVERLAP_STEPS)]
    _recording(world, {id(critic): "critic", id(generator): "generator"}, log)
    for real, z in batches:
        if generator is None:
            _critic_step(critic, real, z, world, rng, closed_form=case == "mlp-closed-form")
            continue
        with torch.no_grad():
            fake = generator(z)
        _critic_step(critic, real, fake, world, rng)
        if case == "dcgan-generator":
            _generator_step(generator, critic, z, world)
    return log, {name: len(assign_buckets(list(net.parameters()), world.bucket_cap_bytes))
                 for name, net in (("critic", critic), ("generator", generator)) if name in {c["module"] for c in log}}


OVERLAP_CASES = ("mlp-gp", "dcgan-critic", "dcgan-generator", "mlp-closed-form", "toy")


def _overlap_worker(rank: int, port: int, out: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    sync = World("cpu", overlap=False)
    overlapped = World("cpu", overlap=True, bucket_cap_bytes=SMALL_CAP)  # the process group is sync's
    per_parameter = World("cpu", overlap=True, bucket_cap_bytes=1)  # one bucket per parameter
    try:
        results = {}
        for case in OVERLAP_CASES:
            results[case] = {"sync": _train_steps(case, sync, rank)[0]}
            results[case]["overlap"], results[case]["buckets"] = _train_steps(
                case, per_parameter if case == "toy" else overlapped, rank)
        torch.save(results, f"{out}/overlap{rank}.pt")
    finally:
        per_parameter.close()
        overlapped.close()
        sync.close()


def test_overlapped_average_equals_the_synchronous_one(tmp_path):
    """Two gloo processes, each its own data, run OVERLAP_STEPS steps twice from the same weights: once with every
    gradient all-reduced after the backward, once with buckets of 512 bytes (2 to 3 per network) all-reduced from
    hooks during it.

    With 2 processes every mean is one addition and one division, (g_0 + g_1) / 2, whichever buffer carries it,
    so the two paths and the mean computed here from both processes' local gradients agree bit for bit: for the
    penalized MLP critic step through autograd (double backward), the DCGAN critic with the penalty, and the
    DCGAN generator step with the critic frozen (its hooks must not fire). From the second step of a module on,
    every bucket goes out during the backward and nothing is left for after it; the first call for a module is
    synchronous (it registers the hooks). The closed-form MLP step writes .grad without autograd: no hook fires,
    one all-reduce after it. A hand-built MLP, one bucket per parameter: two backwards before one average make
    the backward stale (its buckets are discarded, one synchronous all-reduce of the accumulated sum), and a layer
    frozen after registration leaves its buckets, the last ones, unlaunched while the others go out during the
    backward.
    """
    mp.spawn(_overlap_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"overlap{r}.pt", weights_only=True) for r in (0, 1))
    for case in OVERLAP_CASES:
        buckets = r0[case]["buckets"]
        assert all(n >= 2 for n in buckets.values()), (case, buckets)
        calls = list(zip(r0[case]["sync"], r1[case]["sync"], r0[case]["overlap"], r1[case]["overlap"]))
        assert len(calls) == OVERLAP_STEPS * (2 if case == "dcgan-generator" else 1) + 2 * (case == "toy")
        for call, (s0, s1, o0, o1) in enumerate(calls):
            assert s0["module"] == o1["module"] == o0["module"], (case, call)
            grads = [(a, b) for a, b in zip(o0["local"], o1["local"]) if a is not None]
            assert grads and any(not torch.equal(a, b) for a, b in grads), (case, call)  # each its own data
            for i, (l0, l1) in enumerate(zip(o0["local"], o1["local"])):
                assert (l0 is None) == (l1 is None) == (s0["local"][i] is None), (case, call, i)
                if l0 is None:
                    continue
                assert torch.equal(l0, s0["local"][i]) and torch.equal(l1, s1["local"][i]), (case, call, i)
                mean = (l0 + l1) / 2
                for avg in (o0["avg"][i], o1["avg"][i], s0["avg"][i], s1["avg"][i]):
                    assert torch.equal(avg, mean), (case, call, i)
            assert s0["launched"] == 0 and s0["reduced"] == 1, (case, call)  # one dtype: one all-reduce
            assert (o0["launched"], o0["reduced"]) == (o1["launched"], o1["reduced"]), (case, call)
        counts = {}
        for o in r0[case]["overlap"]:
            counts.setdefault(o["module"], []).append((o["launched"], o["reduced"]))
        if case == "mlp-closed-form":
            assert counts == {"critic": [(0, 1)] * OVERLAP_STEPS}
        elif case == "toy":  # 3 plain steps, then the two backwards of one average, then the frozen layer 0
            assert buckets == {"net": 6} and counts == {"net": [(0, 1), (6, 0), (6, 0), (6, 1), (4, 0)]}, counts
        else:
            assert counts == {name: [(0, 1)] + [(n, 0)] * (OVERLAP_STEPS - 1) for name, n in buckets.items()}, counts
