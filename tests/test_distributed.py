"""World (ganlab.distributed) with two gloo processes on the CPU: gradients averaged, buffers made identical."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from torch import nn

from ganlab.distributed import World


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
                    "any": world.any(rank == 1)}, f"{out}/rank{rank}.pt")
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
