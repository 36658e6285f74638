"""Evaluation: per-image scores (GPU), then per-generator metrics from those files (no GPU).

The robustness study and the format-bias control score the same test images again under test-time
perturbations (`evaluation.robustness`: JPEG, resize, blur; `evaluation.format_control`: every image
re-encoded): one `score_perturbed` job per protocol and run loads the model once for all of them;
their tables and plots are in rules/paper.smk.
"""


rule score:
    """Score every test image of the protocol's dataset with one run's best checkpoint."""
    input:
        checkpoint=lambda wc: checkpoint_path(wc.run),
        manifest=lambda wc: combined_manifest(protocol_config(wc.protocol)["dataset"]),
        weights=weights_marker(),
    output:
        predictions=f"{OUT}/eval/{{protocol}}/{{run}}/predictions.csv",
    log:
        f"logs/{EXPERIMENT}/score/{{protocol}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/score/{{protocol}}/{{run}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: rule_threads("score")
    resources:
        **rule_resources("score"),
    params:
        generators=lambda wc: protocol_generators(wc.protocol),
        batch_size=config["evaluation"]["batch_size"],
        device=config["evaluation"]["device"],
    shell:
        "drct score --checkpoint {input.checkpoint:q} --manifest {input.manifest:q} "
        "--generators {params.generators:q} --batch-size {params.batch_size} --device {params.device:q} "
        "--threads {threads} --out {output.predictions:q} > {log:q} 2>&1"


rule metrics:
    """ACC at 0.5, real/fake ACC, AUC, AP, oracle ACC and bootstrap CIs per column; ROC/PR points."""
    input:
        predictions=rules.score.output.predictions,
    output:
        metrics=f"{OUT}/eval/{{protocol}}/{{run}}/metrics.json",
        roc=f"{OUT}/eval/{{protocol}}/{{run}}/roc.csv",
        pr=f"{OUT}/eval/{{protocol}}/{{run}}/pr.csv",
    log:
        f"logs/{EXPERIMENT}/metrics/{{protocol}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/metrics/{{protocol}}/{{run}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("metrics")
    resources:
        **rule_resources("metrics"),
    params:
        protocol=lambda wc: as_json(protocol_config(wc.protocol)),
        bootstrap=as_json(config["evaluation"]["bootstrap"]),
    shell:
        "drct metrics --predictions {input.predictions:q} --protocol {params.protocol:q} "
        "--run {wildcards.run:q} --bootstrap {params.bootstrap:q} --roc {output.roc:q} --pr {output.pr:q} "
        "--out {output.metrics:q} > {log:q} 2>&1"


rule samples:
    """Copy a few image / reconstruction pairs of a train set for the sample grid (no raw data later)."""
    input:
        manifest=lambda wc: combined_manifest(
            find(config["training"]["train_sets"], wc.train_set, "train set")[
                "dataset"
            ]
        ),
    output:
        samples=directory(f"{OUT}/eval/samples/{{train_set}}"),
    log:
        f"logs/{EXPERIMENT}/samples/{{train_set}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/samples/{{train_set}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("samples")
    resources:
        **rule_resources("samples"),
    params:
        groups=lambda wc: as_json(sample_groups(wc.train_set)),
        split=config["evaluation"]["samples"]["split"],
        pairs=config["evaluation"]["samples"]["pairs"],
    shell:
        "drct samples --manifest {input.manifest:q} --groups {params.groups:q} --split {params.split} "
        "-n {params.pairs} --out-dir {output.samples:q} > {log:q} 2>&1"


rule score_perturbed:
    """Score a protocol's test images under each configured perturbation, the model loaded once."""
    input:
        checkpoint=lambda wc: checkpoint_path(wc.run),
        manifest=lambda wc: combined_manifest(protocol_config(wc.protocol)["dataset"]),
        weights=weights_marker(),
    output:
        predictions=f"{OUT}/perturbed/{{protocol}}/{{run}}/predictions.csv",
    log:
        f"logs/{EXPERIMENT}/score_perturbed/{{protocol}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/score_perturbed/{{protocol}}/{{run}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: rule_threads("score_perturbed")
    resources:
        **rule_resources("score_perturbed"),
    params:
        generators=lambda wc: protocol_generators(wc.protocol),
        perturbations=lambda wc: protocol_perturbations(wc.protocol),
        batch_size=config["evaluation"]["batch_size"],
        device=config["evaluation"]["device"],
    shell:
        "drct score-perturbed --checkpoint {input.checkpoint:q} --manifest {input.manifest:q} "
        "--generators {params.generators:q} --perturbations {params.perturbations:q} "
        "--batch-size {params.batch_size} --device {params.device:q} --threads {threads} "
        "--out {output.predictions:q} > {log:q} 2>&1"


rule perturbed_metrics:
    """ACC, real/fake ACC, AUC, AP and oracle ACC per perturbation and column, and their Avg."""
    input:
        predictions=rules.score_perturbed.output.predictions,
    output:
        metrics=f"{OUT}/perturbed/{{protocol}}/{{run}}/metrics.csv",
    log:
        f"logs/{EXPERIMENT}/perturbed_metrics/{{protocol}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/perturbed_metrics/{{protocol}}/{{run}}.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("perturbed_metrics")
    resources:
        **rule_resources("perturbed_metrics"),
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


rule evaluate:
    """Aggregate target: metrics of every run under every protocol."""
    input:
        [
            f"{eval_dir(p['name'], run.id)}/metrics.json"
            for p in config["evaluation"]["protocols"]
            for run in runs_for_protocol(config, p)
        ],
