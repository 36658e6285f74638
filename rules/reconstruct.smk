"""Diffusion reconstruction: sharded by a stable hash of the file name, one GPU per job, resumable.

Each job's images land in one folder shared by its shards; a shard's CSV is its only declared
output, so an interrupted shard keeps the finished images and resumes where it stopped.
"""


rule build_demo_model:
    """Build the demo's small Stable Diffusion inpainting pipeline (random weights) once."""
    output:
        f"{OUT}/models/{{model}}/model_index.json",
    log:
        f"logs/{EXPERIMENT}/build_demo_model/{{model}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/build_demo_model/{{model}}.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("build_demo_model")
    resources:
        **rule_resources("build_demo_model"),
    params:
        model_dir=lambda wc: f"{OUT}/models/{wc.model}",
        seed=0,
    shell:
        "drct build-demo-model --out {params.model_dir:q} --seed {params.seed} > {log:q} 2>&1"


rule reconstruct_shard:
    """Reconstruct one shard of one job's images (zero mask, empty prompt, seed 2023 per image)."""
    input:
        unpack(recon_inputs),
    output:
        shard=f"{OUT}/reconstruction/{{dataset}}/{{output}}/{{split}}/shards/{{shard}}-of-{SHARDS}.csv",
        provenance=f"{OUT}/reconstruction/{{dataset}}/{{output}}/{{split}}/shards/{{shard}}-of-{SHARDS}.json",
    log:
        f"logs/{EXPERIMENT}/reconstruct_shard/{{dataset}}/{{output}}/{{split}}/{{shard}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/reconstruct_shard/{{dataset}}/{{output}}/{{split}}/{{shard}}.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("reconstruct_shard")
    resources:
        **rule_resources("reconstruct_shard"),
    params:
        settings=lambda wc: as_json(recon_settings(wc)),
        source=lambda wc: recon_job(wc.dataset, wc.output, wc.split)["source"],
        source_label=lambda wc: recon_job(wc.dataset, wc.output, wc.split).get(
            "source_label", "all"
        ),
        images=lambda wc: f"{OUT}/reconstruction/{wc.dataset}/{wc.output}/{wc.split}/images",
        num_shards=SHARDS,
    shell:
        "drct reconstruct-shard --manifest {input.manifest:q} --settings {params.settings:q} "
        "--source {params.source:q} --source-label {params.source_label} --split {wildcards.split} "
        "--output-name {wildcards.output:q} --images-dir {params.images:q} "
        "--shard {wildcards.shard} --num-shards {params.num_shards} --out {output.shard:q} "
        "--provenance {output.provenance:q} > {log:q} 2>&1"


rule merge_reconstructions:
    """One manifest per job; failed images stay listed with their reason."""
    input:
        shards=expand(
            f"{OUT}/reconstruction/{{{{dataset}}}}/{{{{output}}}}/{{{{split}}}}/shards/{{shard}}-of-{SHARDS}.csv",
            shard=range(SHARDS),
        ),
    output:
        manifest=f"{OUT}/reconstruction/{{dataset}}/{{output}}/{{split}}/manifest.csv",
    log:
        f"logs/{EXPERIMENT}/merge_reconstructions/{{dataset}}/{{output}}/{{split}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/merge_reconstructions/{{dataset}}/{{output}}/{{split}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("merge_reconstructions")
    resources:
        **rule_resources("merge_reconstructions"),
    shell:
        "drct merge-reconstructions --inputs {input.shards:q} --out {output.manifest:q} > {log:q} 2>&1"


rule combine:
    """The dataset's valid images plus this experiment's reconstructions: what training and evaluation read."""
    input:
        dataset=f"{DATA}/{{dataset}}/manifest.valid.csv",
        reconstructions=lambda wc: recon_manifests(wc.dataset),
    output:
        manifest=f"{OUT}/data/{{dataset}}.csv",
    log:
        f"logs/{EXPERIMENT}/combine/{{dataset}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/combine/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("combine")
    resources:
        **rule_resources("combine"),
    shell:
        "drct combine --dataset {input.dataset:q} --reconstructions {input.reconstructions:q} "
        "--out {output.manifest:q} > {log:q} 2>&1"


rule reconstruct:
    """Aggregate target: every reconstruction job of this experiment, merged."""
    input:
        [f"{recon_dir(job)}/manifest.csv" for job in JOBS],
