"""What DVC needs beyond the pipeline's own files: metric and plot views, and a workspace check.

DVC reads metrics and plots from whole folders, and a run's evaluation folder mixes metrics with
predictions and curves, so :mod:`drct.dvc.views` writes one homogeneous folder per kind.
:mod:`drct.dvc.workspace` refuses to let one experiment's DVC stage record another
experiment's datasets. Neither imports torch.
"""
