"""drct.paper: the paper's tables and figures from evaluation outputs.

pandas / matplotlib / seaborn only, never torch: everything is rebuilt from metrics.json, roc.csv,
pr.csv, the perturbed metrics and the copied samples on any machine. Submodules: ``rounding``
(half-up printing, exact decimal means), ``tables`` (paper CSVs, our rows, seeds, layout,
Markdown/CSV), ``latex`` (booktabs, the paper's bold/underline, group headers), ``compare`` (ours
beside the paper with the difference), ``detail`` (metrics beyond the paper), ``figures``,
``heatmap``, ``difference``, ``curve_plots``, ``sample_grid`` (figures), ``robustness`` and
``format_bias`` (the perturbation studies), ``style`` (shared look) and ``render`` (one protocol's
outputs, what ``drct tables`` calls).
"""
