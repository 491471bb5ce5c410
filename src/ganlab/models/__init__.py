"""Networks as plain `nn.Module`s, no losses inside, and the registry of model families.

A model family is one module holding its generator, its critic, a frozen dataclass of its `[model]`
fields (with the papers' defaults) and a `build(fields, data_shape) -> (generator, critic)` function;
one line of `MODELS` names it. `ganlab.build` looks the family up, fills the fields it was not given
from the dataclass's defaults and builds both networks for the data's shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ganlab.models.dcgan import DCGANCritic, DCGANFields, DCGANGenerator, build_dcgan
from ganlab.models.mlp import ACTIVATIONS, NORMS, MLPCritic, MLPFields, MLPGenerator, build_mlp
from ganlab.models.resnet import ResNetCritic, ResNetFields, ResNetGenerator, build_resnet

__all__ = [
    "ACTIVATIONS", "NORMS", "MLPCritic", "MLPGenerator", "MLPFields",
    "DCGANGenerator", "DCGANCritic", "DCGANFields", "ResNetGenerator", "ResNetCritic", "ResNetFields",
    "ModelFamily", "MODELS",
]


@dataclass(frozen=True)
class ModelFamily:
    """A family of generator/critic pairs.

    Attributes:
        fields: frozen dataclass of the family's `[model]` fields; its defaults are the family's defaults,
            its `__post_init__` refuses impossible values. Fields hold bool, int, float or str values, never
            None (TOML has no null, and "none" is a value of its own in a table: g_norm = "none").
        build: `build(fields, data_shape) -> (generator, critic)`; data_shape is one sample's shape.
        summary: one line for `ganlab train --help`.
    """

    fields: type
    build: Callable[[Any, tuple[int, ...]], tuple[nn.Module, nn.Module]]
    summary: str

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self.fields):
            if f.default is None or f.default is dataclasses.MISSING:
                raise ValueError(f"model field {f.name!r} of {self.fields.__name__} needs a default that is not None")


MODELS: dict[str, ModelFamily] = {
    "mlp": ModelFamily(MLPFields, build_mlp, "MLP generator and critic for vector data (the WGAN-GP toy script's)"),
    "dcgan": ModelFamily(DCGANFields, build_dcgan,
                         "DCGAN conv generator and critic for square images (Radford et al. 2016)"),
    "resnet": ModelFamily(ResNetFields, build_resnet,
                          "SN-GAN ResNet generator and critic for square images (Miyato et al. 2018)"),
}
