"""drct.paper: the paper's tables and accuracy figure from evaluation outputs.

pandas / matplotlib / seaborn only, never torch: tables can be rebuilt from metrics.json files on
any machine. Submodules: ``rounding`` (half-up printing, exact decimal means), ``tables``
(paper CSVs, our rows, layout, markdown/CSV output), ``figures`` (accuracy figure) and
``render`` (``render_protocol``: one protocol's table and figure, what ``drct tables`` calls).
"""
