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
    # one image for every rule (docs/cluster.md): snakemake --sdm apptainer ...

    container: config["container"]


include: "rules/data.smk"
include: "rules/reconstruct.smk"
include: "rules/caption.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/paper.smk"
include: "rules/dvc.smk"


if "published_check" in config["reconstruction"]:
    # optional check of our reconstructions against the ones DRCT-2M publishes (not part of `all`)

    include: "rules/published_check.smk"

else:

    rule published_check:
        """Not configured here: asking for it says how to turn it on, instead of "no rule"."""
        input:
            published_check_not_configured,


rule all:
    default_target: True
    input:
        rules.paper.input,
        rules.download.input,
        rules.dvc_views.output,
