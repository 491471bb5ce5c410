"""Evaluation during training, one evaluator per kind of data, and the figures that go with it.

An evaluator is called by the training loop at every evaluation step with the generator to judge
(the EMA generator when the run keeps one) and the critic; it returns the numbers logged to
`metrics.jsonl` and the samples it drew, and it draws the figure of those samples.

* `SampleEvaluator` (any data): x_i = G(z_i) on a fixed latent batch z_1..z_N and the critic's own
  estimate E f(x_real) - E f(G(z)) (for a WGAN critic, the Kantorovich-Rubinstein estimate of W1); the
  figure is an image grid for images. What the field measures on images (FID / KID / IS with a domain
  classifier) is not built yet.
* `ToyEvaluator` (1-D and 2-D vector data): the same, plus the VEEGAN / PacGAN mode metrics (modes
  captured, % high quality, reverse KL of the mode histogram to uniform) where the distribution has
  modes and the exact W1 to the data (optimal transport, `ganlab.metrics.modes.w1_to_data`); the figure
  is the samples over the data with the critic's contours.

Reference: mode metrics, lecture 004_a72885b194f54592.txt "Mode collapse" and Srivastava et al. 2017
(VEEGAN, arXiv:1705.07761, Sec. 5.1); W1, lecture 001_b56ff7e156eb3bba.txt "Wasserstein GAN".
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from ganlab.data import Dataset
from ganlab.metrics.modes import mode_metrics, w1_to_data
from ganlab.report import plot_figure

__all__ = ["Evaluator", "SampleEvaluator", "ToyEvaluator", "NonFiniteSamplesError", "make_evaluator"]


class NonFiniteSamplesError(RuntimeError):
    """The generator produced NaN or infinite samples."""


class Evaluator(Protocol):
    """What the training loop calls at an evaluation step."""

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int) -> tuple[dict[str, float], Tensor]:
        """(metrics by name, the samples drawn, on the CPU)."""

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path | None:
        """Write the figure of `samples` to `path` (None: no figure for this kind of data)."""


class SampleEvaluator:
    """The samples G(z_eval) and the critic's estimate E f(real) - E f(G(z_eval)), for data of any shape.

    Args:
        dataset: the training distribution.
        z_eval: (N, latent_dim) fixed latents, on the generator's device.
        seed: the real batch of the critic's estimate at step t is a fresh draw of N points from a
            generator seeded with seed + t.
    """

    def __init__(self, dataset: Dataset, z_eval: Tensor, *, seed: int) -> None:
        self.dataset, self.z_eval, self.seed = dataset, z_eval, seed

    @torch.no_grad()
    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int) -> tuple[dict[str, float], Tensor]:
        """Shapes: samples (N, *shape) on the CPU. Returns ({"critic_w"}, samples). Both networks run in eval
        mode and are put back after. Raises NonFiniteSamplesError if a sample is NaN or infinite."""
        g_mode, c_mode = generator.training, critic.training
        generator.eval()
        critic.eval()
        try:
            samples = torch.cat([generator(z) for z in self.z_eval.split(4096)])
            if not bool(torch.isfinite(samples).all()):
                raise NonFiniteSamplesError("the generator produced NaN or infinite samples")
            param = next(critic.parameters())
            real = self.dataset.sample(self.z_eval.shape[0], generator=torch.Generator().manual_seed(self.seed + step))
            real = real.to(device=param.device, dtype=param.dtype)
            critic_w = float(critic(real).mean() - critic(samples).mean())
        finally:
            generator.train(g_mode)
            critic.train(c_mode)
        return {"critic_w": critic_w}, samples.cpu()

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path | None:
        """An image grid of the first 64 samples for image data; no figure for other shapes."""
        if samples.ndim != 4:
            return None
        return plot_figure(path, samples, samples, title=title)


class ToyEvaluator(SampleEvaluator):
    """Mode metrics (or W1) of G(z_eval) and the critic's estimate E f(real) - E f(G(z_eval)), for vector
    data of 1 or 2 dimensions (arguments as `SampleEvaluator`)."""

    def __call__(self, generator: nn.Module, critic: nn.Module, *, step: int) -> tuple[dict[str, float], Tensor]:
        """Returns ({"modes", "high_quality", "reverse_kl", "w1", "critic_w"} for data with modes,
        {"w1", "critic_w"} otherwise, samples (N, dim) on the CPU)."""
        estimate, samples = super().__call__(generator, critic, step=step)
        if self.dataset.modes is not None:
            metrics: dict[str, float] = dict(mode_metrics(samples, self.dataset).as_dict())
        else:
            metrics = {"w1": w1_to_data(samples, self.dataset)}
        return {**metrics, **estimate}, samples

    def figure(self, path: Path, samples: Tensor, critic: nn.Module, *, title: str) -> Path:
        """Samples over 2500 (at most N) real points drawn with seed 0, with the critic's values."""
        real = self.dataset.sample(min(2500, samples.shape[0]), generator=torch.Generator().manual_seed(0))
        return plot_figure(path, samples, real, critic=critic, title=title, modes=self.dataset.modes)


def make_evaluator(dataset: Dataset, z_eval: Tensor, *, seed: int) -> Evaluator:
    """The evaluator for `dataset`'s kind of data: `ToyEvaluator` for vectors (D,) with D <= 2, else
    `SampleEvaluator`."""
    if len(dataset.shape) == 1 and dataset.shape[0] <= 2:
        return ToyEvaluator(dataset, z_eval, seed=seed)
    return SampleEvaluator(dataset, z_eval, seed=seed)
