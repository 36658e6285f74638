"""Evaluation: per-image scores (GPU), then per-generator metrics from those files (no GPU).

One `score` job per run (checkpoint) scores every protocol that evaluates the run, and again under
every perturbation of the robustness study and the format-bias control (`evaluation.robustness`:
JPEG, resize, blur; `evaluation.format_control`: every image re-encoded) where the protocol has
one: the model is loaded once, and the job's imports (torch, the backbone library) are paid once
instead of once per protocol and study. One `metrics` and one `perturbed_metrics` job per run
likewise compute every protocol's metrics. Each output is the file a job per protocol wrote before
(results/<exp>/eval/<protocol>/<run>/, results/<exp>/perturbed/<protocol>/<run>/); across runs the
jobs stay parallel, which is the parallelism that matters (one GPU job per checkpoint).

A rule's outputs are fixed where it is defined, so where protocols evaluate different train sets'
runs (presets/eval_released.yaml) each group of runs with the same protocols has its own rules,
score_2, metrics_2 ... (rules/common.smk: eval_groups); they share resources.score etc., logs and
benchmark folders. The tables and plots of the studies are in rules/paper.smk.
"""

for _index, (_protocols, _perturbed, _runs) in enumerate(eval_groups()):

    rule:
        """Score every test image of each protocol of a run (and each perturbation), one model load."""
        name:
            group_rule("score", _index)
        input:
            checkpoint=lambda wc: checkpoint_path(wc.run),
            manifests=sorted(
                {combined_manifest(protocol_config(p)["dataset"]) for p in _protocols}
            ),
            weights=weights_marker(),
            captions=score_captions(_protocols),
            reconstructions=score_reconstructions(_protocols),
        output:
            predictions=[f"{OUT}/eval/{p}/{{run}}/predictions.csv" for p in _protocols],
            perturbed=[
                f"{OUT}/perturbed/{p}/{{run}}/predictions.csv" for p in _perturbed
            ],
        log:
            f"logs/{EXPERIMENT}/score/{{run}}.log",
        benchmark:
            f"logs/benchmarks/{EXPERIMENT}/score/{{run}}.tsv"
        wildcard_constraints:
            run=runs_pattern(_runs),
        conda:
            "../envs/train.yaml"
        threads: rule_threads("score")
        resources:
            **rule_resources("score"),
        params:
            protocols=score_entries(_protocols, _perturbed),
            batch_size=config["evaluation"]["batch_size"],
            device=config["evaluation"]["device"],
        shell:
            "drct score --checkpoint {input.checkpoint:q} --protocols {params.protocols:q} "
            "--batch-size {params.batch_size} --device {params.device:q} --threads {threads} > {log:q} 2>&1"

    rule:
        """ACC at 0.5, real/fake ACC, AUC, AP, oracle ACC and bootstrap CIs per column; ROC/PR points."""
        name:
            group_rule("metrics", _index)
        input:
            predictions=[f"{OUT}/eval/{p}/{{run}}/predictions.csv" for p in _protocols],
        output:
            metrics=[f"{OUT}/eval/{p}/{{run}}/metrics.json" for p in _protocols],
            roc=[f"{OUT}/eval/{p}/{{run}}/roc.csv" for p in _protocols],
            pr=[f"{OUT}/eval/{p}/{{run}}/pr.csv" for p in _protocols],
        log:
            f"logs/{EXPERIMENT}/metrics/{{run}}.log",
        benchmark:
            f"logs/benchmarks/{EXPERIMENT}/metrics/{{run}}.tsv"
        wildcard_constraints:
            run=runs_pattern(_runs),
        conda:
            "../envs/paper.yaml"
        threads: rule_threads("metrics")
        resources:
            **rule_resources("metrics"),
        params:
            protocols=metrics_entries(_protocols),
            bootstrap=as_json(config["evaluation"]["bootstrap"]),
        shell:
            "drct metrics --protocols {params.protocols:q} --run {wildcards.run:q} "
            "--bootstrap {params.bootstrap:q} > {log:q} 2>&1"

    if _perturbed:

        rule:
            """ACC, real/fake ACC, AUC, AP and oracle ACC per perturbation and column, and their Avg."""
            name:
                group_rule("perturbed_metrics", _index)
            input:
                predictions=[
                    f"{OUT}/perturbed/{p}/{{run}}/predictions.csv" for p in _perturbed
                ],
            output:
                metrics=[f"{OUT}/perturbed/{p}/{{run}}/metrics.csv" for p in _perturbed],
            log:
                f"logs/{EXPERIMENT}/perturbed_metrics/{{run}}.log",
            benchmark:
                f"logs/benchmarks/{EXPERIMENT}/perturbed_metrics/{{run}}.tsv"
            wildcard_constraints:
                run=runs_pattern(_runs),
            conda:
                "../envs/paper.yaml"
            threads: rule_threads("perturbed_metrics")
            resources:
                **rule_resources("perturbed_metrics"),
            params:
                protocols=perturbed_metrics_entries(_perturbed),
            shell:
                "drct perturbed-metrics --protocols {params.protocols:q} --run {wildcards.run:q} "
                "> {log:q} 2>&1"


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


rule evaluate_studies:
    """Aggregate target: the perturbed metrics of both studies and the copied sample pairs."""
    input:
        [
            f"{perturbed_dir(p, run.id)}/metrics.csv"
            for p in perturbed_protocols()
            for run in studied_runs(config, protocol_config(p))
        ],
        [f"{OUT}/eval/samples/{t}" for t in sample_sets()],


rule evaluate:
    """Aggregate target: metrics of every run under every protocol that scores it."""
    input:
        [
            f"{eval_dir(p['name'], run.id)}/metrics.json"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
