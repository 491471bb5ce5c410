"""PacGAN packing: the critic judges k samples at once.

    D_k(x_1, ..., x_k) = D(concat(x_1, ..., x_k))

concatenated along the channels for images ((k·m, C, H, W) -> (m, k·C, H, W)) and along the features for
vectors ((k·m, D) -> (m, k·D)); the k samples of a packed input are k consecutive rows of the batch, all
real or all generated. A packed critic compares the product distributions P^k and Q^k: their total
variation grows with k, and it grows faster for a generator that misses a mode than for one that spreads the
same error evenly, so packing penalizes mode collapse (Sec. 3 and its theorems on (ε, δ)-mode collapse).

Reference: Lin, Khetan, Fanti, Oh 2018, "PacGAN: The power of two samples in generative adversarial
networks" (arXiv:1712.04086), Sec. 3 (packing), Sec. 4 (Stacked MNIST with k = 2, 3, 4); the authors' code
(fjxmlzn/PacGAN) concatenates k generator outputs along the channel axis and draws k·m samples for a
critic batch of m packed inputs, as ganlab does (`TrainConfig.pack`).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Packed", "pack_samples", "packed_shape", "packing_of"]


def _check_pack(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"pack must be an integer >= 1 (samples per critic input), got {k!r}")
    return k


def packed_shape(shape: tuple[int, ...], k: int) -> tuple[int, ...]:
    """The shape of one packed input: (k·C, H, W) for images (C, H, W), (k·D,) for vectors (D,)."""
    _check_pack(k)
    if len(shape) < 1:
        raise ValueError(f"a sample shape needs at least one axis to pack along, got {tuple(shape)}")
    return (k * shape[0], *shape[1:])


def pack_samples(x: Tensor, k: int) -> Tensor:
    """(k·m, C, ...) -> (m, k·C, ...): rows i·k, ..., i·k + k − 1 become the channels (features) of packed input i,
    sample j of the group at channels j·C, ..., j·C + C − 1. A view when x is contiguous."""
    _check_pack(k)
    if x.ndim < 2:
        raise ValueError(f"pack_samples expects a batch (N, C, ...), got shape {tuple(x.shape)}")
    if x.shape[0] % k:
        raise ValueError(f"a batch of {x.shape[0]} samples does not split into packed inputs of {k}: the number of "
                         f"samples must be a multiple of pack = {k}")
    return x.reshape(x.shape[0] // k, k * x.shape[1], *x.shape[2:])


class Packed(nn.Module):
    """A critic of packed inputs: f_k(x_1, ..., x_k) = f(concat(x_1, ..., x_k)).

    `critic` is built for one packed input's shape (`packed_shape`); `forward` takes the unpacked batch
    (k·m, *shape) and returns the m outputs, so the losses, the penalty (`ganlab.lipschitz`, with its `pack`)
    and the evaluation read it as any critic.
    """

    def __init__(self, critic: nn.Module, pack: int) -> None:
        super().__init__()
        self.critic = critic
        self.pack = _check_pack(pack)

    def forward(self, x: Tensor) -> Tensor:
        return self.critic(pack_samples(x, self.pack))

    def extra_repr(self) -> str:
        return f"pack={self.pack}"


def packing_of(critic: nn.Module) -> int:
    """Samples per critic output: k for a `Packed` critic, 1 for any other."""
    return critic.pack if isinstance(critic, Packed) else 1
