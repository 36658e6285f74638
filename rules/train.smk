"""Contrastive training (DRCT) and the plain baselines: one job per method x backbone x train set x seed."""


rule train_run:
    """Train one run; checkpoints on best validation accuracy plus the last epoch."""
    input:
        manifest=lambda wc: combined_manifest(
            find(
                config["training"]["train_sets"], RUNS[wc.run].train_set, "train set"
            )["dataset"]
        ),
        weights=weights_marker(),
        captions=lambda wc: run_captions(
            wc.run,
            find(
                config["training"]["train_sets"], RUNS[wc.run].train_set, "train set"
            )["dataset"],
        ),
    output:
        best=f"{OUT}/train/{{backbone}}/{{run}}/best.safetensors",
        last=f"{OUT}/train/{{backbone}}/{{run}}/last.safetensors",
        history=f"{OUT}/train/{{backbone}}/{{run}}/history.csv",
    log:
        f"logs/{EXPERIMENT}/train_run/{{backbone}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/train_run/{{backbone}}/{{run}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: rule_threads("train_run")
    resources:
        **rule_resources("train_run"),
    params:
        settings=lambda wc: as_json(train_settings(config, RUNS[wc.run])),
        out_dir=lambda wc: train_dir(wc.run),
        nproc=config["training"]["gpus_per_run"],
        captions=lambda wc: train_captions_args(wc.run),
    shell:
        # resumes from <out_dir>/resume/ after an interruption; several GPUs: DDP through torchrun
        "drct train-run --manifest {input.manifest:q} --settings {params.settings:q} "
        "--out-dir {params.out_dir:q} --threads {threads} --nproc-per-node {params.nproc} {params.captions} > {log:q} 2>&1"


rule import_released:
    """Convert one of the authors' released checkpoints (a .pth inside pretrained.zip) into ours."""
    input:
        archive=lambda wc: download_path(config["training"]["released"]["download"]),
    output:
        checkpoint=f"{OUT}/released/{{backbone}}/{{run}}/best.safetensors",
        sidecar=f"{OUT}/released/{{backbone}}/{{run}}/best.json",
    log:
        f"logs/{EXPERIMENT}/import_released/{{backbone}}/{{run}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/import_released/{{backbone}}/{{run}}.tsv"
    conda:
        "../envs/train.yaml"
    threads: rule_threads("import_released")
    resources:
        **rule_resources("import_released"),
    params:
        member=lambda wc: RELEASED[wc.run]["member"],
        settings=lambda wc: as_json(train_settings(config, RUNS[wc.run])),
    shell:
        "drct import-released --source {input.archive:q} --member {params.member:q} "
        "--settings {params.settings:q} --out {output.checkpoint:q} > {log:q} 2>&1"


rule train:
    """Aggregate target: every training run of this experiment."""
    input:
        [checkpoint_path(run_id) for run_id in RUNS],
