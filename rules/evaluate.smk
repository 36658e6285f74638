"""Evaluation: per-image predictions (GPU), then per-generator metrics from those files (no GPU)."""


rule predict:
    """Score every test image of the protocol's dataset with one run's best checkpoint."""
    input:
        checkpoint=lambda wc: checkpoint_path(wc.run),
        manifest=lambda wc: combined_manifest(protocol_config(wc.protocol)["dataset"]),
        weights=weights_marker(),
    output:
        predictions=f"{OUT}/eval/{{protocol}}/{{run}}/predictions.csv",
    log:
        f"logs/{EXPERIMENT}/predict/{{protocol}}/{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=32000,
        runtime=360,
        gpu=1,
    params:
        generators=lambda wc: protocol_generators(wc.protocol),
        batch_size=config["evaluation"]["batch_size"],
        device=config["evaluation"]["device"],
    shell:
        "drct evaluate --checkpoint {input.checkpoint:q} --manifest {input.manifest:q} "
        "--generators {params.generators:q} --batch-size {params.batch_size} --device {params.device:q} "
        "--threads {threads} --out {output.predictions:q} > {log:q} 2>&1"


rule metrics:
    """ACC at 0.5, real/fake ACC, AUC, AP, oracle ACC and bootstrap CIs per column; ROC/PR points."""
    input:
        predictions=rules.predict.output.predictions,
    output:
        metrics=f"{OUT}/eval/{{protocol}}/{{run}}/metrics.json",
        roc=f"{OUT}/eval/{{protocol}}/{{run}}/roc.csv",
        pr=f"{OUT}/eval/{{protocol}}/{{run}}/pr.csv",
    log:
        f"logs/{EXPERIMENT}/metrics/{{protocol}}/{{run}}.log",
    conda:
        "../envs/paper.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
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
    conda:
        "../envs/paper.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        groups=lambda wc: as_json(sample_groups(wc.train_set)),
        split=config["evaluation"]["samples"]["split"],
        pairs=config["evaluation"]["samples"]["pairs"],
    shell:
        "drct samples --manifest {input.manifest:q} --groups {params.groups:q} --split {params.split} "
        "-n {params.pairs} --out-dir {output.samples:q} > {log:q} 2>&1"


rule evaluate:
    """Aggregate target: metrics of every run under every protocol."""
    input:
        [
            f"{eval_dir(p['name'], run.id)}/metrics.json"
            for p in config["evaluation"]["protocols"]
            for run in runs_for_protocol(config, p)
        ],
