"""drct.evaluation: predictions (``predict.py``, torch) and metrics (``metrics.py``, numpy/sklearn).

Nothing is imported here on purpose: ``import drct.evaluation.metrics`` must not pull in torch.
"""
