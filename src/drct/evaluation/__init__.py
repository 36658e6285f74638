"""drct.evaluation: predictions (``predict.py``, torch) and everything computed from them without torch.

``metrics`` (per-column ACC, real/fake ACC, AUC, AP, oracle ACC), ``bootstrap`` (CIs of ACC and
Avg), ``curves`` (ROC/PR points), ``summary`` (what ``drct metrics`` writes), ``perturb`` (the
robustness and format-control perturbations, numpy/OpenCV), ``samples`` (image/reconstruction pairs
for the sample grid). Nothing is imported here on purpose: ``import drct.evaluation.metrics`` must
not pull in torch.
"""
