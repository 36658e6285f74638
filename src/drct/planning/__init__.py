"""Planning: which jobs and runs exist, from the config alone (pure Python, no torch, no data).

The Snakefile imports only this package and `drct.config` at parse time, so editing training or
evaluation code never changes what the DAG (or DVC's stages) depend on.
"""
