"""drct.evaluation: scores of a checkpoint on a manifest, and everything computed from them.

Nothing is imported here on purpose: ``import drct.evaluation.metrics`` must not pull in torch.
"""
