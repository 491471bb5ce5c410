"""ganlab: train, diagnose and evaluate likelihood-free generative models (GANs)."""

__version__ = "0.1.0"
