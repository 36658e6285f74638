"""Robustness study and format-bias control: the evaluation again under test-time perturbations.

Same scoring code as `predict` (`drct evaluate --perturbations`): one job per protocol and run
scores every perturbation either study asks for (`evaluation.robustness`: JPEG, resize, blur;
`evaluation.format_control`: every image re-encoded), loading the model once; then metrics per
perturbation (no GPU); the tables and plots are in rules/paper.smk.
"""


rule predict_perturbed:
    """Score a protocol's test images under each configured perturbation, the model loaded once."""
    input:
        checkpoint=lambda wc: checkpoint_path(wc.run),
        manifest=lambda wc: combined_manifest(protocol_config(wc.protocol)["dataset"]),
        weights=weights_marker(),
    output:
        predictions=f"{OUT}/perturbed/{{protocol}}/{{run}}/predictions.csv",
    log:
        f"logs/{EXPERIMENT}/perturbed/predict/{{protocol}}/{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=32000,
        runtime=720,
        gpu=1,
    params:
        generators=lambda wc: protocol_generators(wc.protocol),
        perturbations=lambda wc: protocol_perturbations(wc.protocol),
        batch_size=config["evaluation"]["batch_size"],
        device=config["evaluation"]["device"],
    shell:
        "drct evaluate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q} "
        "--generators {params.generators:q} --perturbations {params.perturbations:q} "
        "--batch-size {params.batch_size} --device {params.device:q} --threads {threads} "
        "--out {output.predictions:q} > {log:q} 2>&1"


rule perturbed_metrics:
    """ACC, real/fake ACC, AUC, AP and oracle ACC per perturbation and column, and their Avg."""
    input:
        predictions=rules.predict_perturbed.output.predictions,
    output:
        metrics=f"{OUT}/perturbed/{{protocol}}/{{run}}/metrics.csv",
    log:
        f"logs/{EXPERIMENT}/perturbed/metrics/{{protocol}}/{{run}}.log",
    conda:
        "../envs/paper.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        protocol=lambda wc: as_json(protocol_config(wc.protocol)),
    shell:
        "drct perturbed-metrics --predictions {input.predictions:q} --protocol {params.protocol:q} "
        "--run {wildcards.run:q} --out {output.metrics:q} > {log:q} 2>&1"


rule evaluate_studies:
    """Aggregate target: the perturbed metrics of both studies and the copied sample pairs."""
    input:
        [
            f"{perturbed_dir(p, run.id)}/metrics.csv"
            for p in perturbed_protocols()
            for run in runs_for_protocol(config, protocol_config(p))
        ],
        [f"{OUT}/eval/samples/{t}" for t in sample_sets()],
