"""Checkpoints: exact round trips, atomic replacement, no code execution on load."""

import pickle

import pytest
import torch
from torch import nn

import ganlab.checkpoint as ckpt
from ganlab.checkpoint import (
    load_checkpoint,
    load_training_state,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
    save_training_state,
)


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))


def _trained(optimizer_cls, seed=0, steps=3):
    model = _model(seed)
    opt = optimizer_cls(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 3, generator=g)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return model, opt


def test_tensors_and_meta_round_trip(tmp_path):
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor(3, dtype=torch.int64),
               "c": torch.randn(4, dtype=torch.float64), "view": torch.arange(10.0)[2:5]}
    meta = {"step": 12, "config": {"lr": 1e-4, "clip": None, "name": "x"}, "nan": float("nan")}
    save_checkpoint(tmp_path / "c.safetensors", tensors, meta)
    t2, m2 = load_checkpoint(tmp_path / "c.safetensors")
    assert set(t2) == set(tensors)
    for k in tensors:
        assert torch.equal(t2[k], tensors[k]) and t2[k].dtype == tensors[k].dtype
    assert m2["step"] == 12 and m2["config"] == meta["config"] and m2["nan"] != m2["nan"]


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.RMSprop])
def test_optimizer_state_round_trip_gives_identical_next_steps(optimizer_cls):
    model, opt = _trained(optimizer_cls)
    tensors, meta = optimizer_to_flat("opt", opt)
    model2 = _model(99)
    model2.load_state_dict(model.state_dict())
    opt2 = optimizer_cls(model2.parameters(), lr=0.5)  # different lr: must be restored from the checkpoint
    optimizer_from_flat("opt", opt2, {k: v.clone() for k, v in tensors.items()}, meta)
    assert opt2.param_groups[0]["lr"] == 1e-2
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(5))
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, p2)


def test_training_state_round_trip(tmp_path):
    model, opt = _trained(torch.optim.Adam)
    gen = torch.Generator().manual_seed(7)
    torch.rand(5, generator=gen)
    path = save_training_state(tmp_path / "s.safetensors", step=3, config={"seed": 0}, modules={"m": model},
                               optimizers={"o": opt}, rngs={"g": gen}, extra={"wall_seconds": 1.5})
    model2 = _model(1)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1.0)
    gen2 = torch.Generator().manual_seed(0)
    meta = load_training_state(path, modules={"m": model2}, optimizers={"o": opt2}, rngs={"g": gen2})
    assert meta["step"] == 3 and meta["wall_seconds"] == 1.5
    for (k, v), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)  # parameters and BatchNorm buffers
    assert torch.equal(torch.rand(4, generator=gen), torch.rand(4, generator=gen2))
    with pytest.raises(ValueError, match="no module 'other'"):
        load_training_state(path, modules={"other": model2}, optimizers={}, rngs={})


def test_crash_during_save_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"w": torch.ones(1000)}, {"step": 1})
    before = path.read_bytes()

    def torn_write(p, data):  # writes half the file, then the machine "dies"
        with open(p, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "_write_bytes", torn_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"w": torch.zeros(1000)}, {"step": 2})
    assert path.read_bytes() == before
    tensors, meta = load_checkpoint(path)
    assert meta["step"] == 1 and torch.equal(tensors["w"], torch.ones(1000))
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temporary file left behind


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "last.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint|not a ganlab checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_foreign_safetensors_and_missing_file(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.ones(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a ganlab checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_checkpoint(tmp_path / "missing.safetensors")
