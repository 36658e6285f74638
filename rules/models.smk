"""Model weights: fetched ahead of time for offline compute nodes; the authors' released checkpoints imported.

`fetch_weights` (weights.prefetch) fills HF_HOME with every hub model the DAG loads and records
revisions and sha256; later jobs run with HF_HUB_OFFLINE=1 (weights.offline) against that cache.
`import_released` (training.checkpoints: released) turns each of the authors' .pth files into one
of our checkpoints at the path evaluation reads (`checkpoint_path`), so nothing is trained.
"""


rule fetch_weights:
    """Fetch every hub model the DAG loads into HF_HOME (the one rule that needs the internet)."""
    output:
        record=f"{OUT}/weights/record.json",
    log:
        f"logs/{EXPERIMENT}/fetch_weights.log",
    conda:
        "../envs/reconstruct.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        downloads=1,
    params:
        spec=as_json(WEIGHTS),
    shell:
        "HF_HUB_OFFLINE=0 drct fetch-weights --spec {params.spec:q} --out {output.record:q} > {log:q} 2>&1"


rule import_released:
    """Convert one of the authors' released checkpoints (a .pth inside pretrained.zip) into ours."""
    input:
        archive=lambda wc: download_path(config["training"]["released"]["download"]),
    output:
        checkpoint=f"{OUT}/released/{{backbone}}/{{run}}/best.safetensors",
        sidecar=f"{OUT}/released/{{backbone}}/{{run}}/best.json",
    log:
        f"logs/{EXPERIMENT}/import_released/{{backbone}}/{{run}}.log",
    conda:
        "../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=30,
    params:
        member=lambda wc: RELEASED[wc.run]["member"],
        settings=lambda wc: as_json(train_settings(config, RUNS[wc.run])),
    shell:
        "drct import-released --source {input.archive:q} --member {params.member:q} "
        "--settings {params.settings:q} --out {output.checkpoint:q} > {log:q} 2>&1"
