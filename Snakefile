"""DRCT reproducibility pipeline.

data (download, layout, manifest, validation) -> diffusion reconstruction -> contrastive training
-> evaluation (predictions, metrics) -> paper outputs (tables, figures).

Run the embedded demo:      snakemake --cores all
Run a paper preset on GPUs: snakemake --cores all --use-conda --configfile presets/drct2m_intra.yaml
"""

from snakemake.utils import min_version

min_version("8.20")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"


if config["container"]:
    # one image for every rule (README "Cluster execution"): snakemake --sdm apptainer ...

    container: config["container"]


include: "rules/data.smk"
include: "rules/reconstruct.smk"
include: "rules/train.smk"
include: "rules/models.smk"
include: "rules/evaluate.smk"
include: "rules/robustness.smk"
include: "rules/paper.smk"
include: "rules/dvc.smk"


if "released_check" in config["reconstruction"]:
    # optional check of our reconstructions against the authors' released ones (not part of `all`)

    include: "rules/released_check.smk"

else:

    rule released_check:
        """Not configured here: asking for it says how to turn it on, instead of "no rule"."""
        input:
            released_check_not_configured,


rule all:
    default_target: True
    input:
        rules.paper.input,
        rules.download.input,
        rules.dvc_views.output,
