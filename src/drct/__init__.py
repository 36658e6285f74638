"""DRCT reproducibility pipeline: data, diffusion reconstruction, contrastive training, evaluation, paper outputs."""

__version__ = "0.1.0"
