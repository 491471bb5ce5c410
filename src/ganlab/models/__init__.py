"""Networks as plain `nn.Module`s, no losses inside: `mlp` (toy data)."""

from ganlab.models.mlp import ACTIVATIONS, NORMS, MLPCritic, MLPGenerator

__all__ = ["ACTIVATIONS", "NORMS", "MLPCritic", "MLPGenerator"]
