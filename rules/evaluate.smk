"""Evaluation: per-image predictions (GPU), then per-generator metrics from those files (no GPU)."""


rule predict:
    """Score every test image of the protocol's dataset with one run's best checkpoint."""
    input:
        checkpoint=lambda wc: checkpoint_path(wc.run),
        manifest=lambda wc: combined_manifest(protocol_config(wc.protocol)["dataset"]),
    output:
        predictions=f"{OUT}/eval/{{protocol}}/{{run}}/predictions.csv",
    log:
        f"logs/{EXPERIMENT}/predict/{{protocol}}/{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: 2
    resources:
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
    """ACC at 0.5, real/fake ACC, AUC and AP per generator column, and their unweighted mean."""
    input:
        predictions=rules.predict.output.predictions,
    output:
        metrics=f"{OUT}/eval/{{protocol}}/{{run}}/metrics.json",
    log:
        f"logs/{EXPERIMENT}/metrics/{{protocol}}/{{run}}.log",
    conda:
        "../envs/paper.yaml"
    params:
        protocol=lambda wc: as_json(protocol_config(wc.protocol)),
    shell:
        "drct metrics --predictions {input.predictions:q} --protocol {params.protocol:q} "
        "--run {wildcards.run:q} --out {output.metrics:q} > {log:q} 2>&1"


rule evaluate:
    """Aggregate target: metrics of every run under every protocol."""
    input:
        [
            f"{eval_dir(p['name'], run.id)}/metrics.json"
            for p in config["evaluation"]["protocols"]
            for run in runs_for_protocol(config, p)
        ],
