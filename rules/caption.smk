"""BLIP captions for De-fake: one resumable job per (dataset, shard) over the dataset's combined
manifest, merged into results/<exp>/captions/<dataset>.csv (path, caption). Only datasets a De-fake
run trains or is scored on get caption jobs (drct.planning.captions); no De-fake, no captions.
"""


rule build_demo_captioner:
    """Build the demo's tiny random-weight BLIP captioner once (captioning.build_demo)."""
    output:
        f"{OUT}/{DEMO_CAPTIONER}/config.json",
    log:
        f"logs/{EXPERIMENT}/build_demo_captioner/captioner.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/build_demo_captioner/captioner.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("build_demo_captioner")
    resources:
        **rule_resources("build_demo_captioner"),
    params:
        out_dir=lambda wc, output: os.path.dirname(output[0]),
        seed=0,
    shell:
        "drct build-demo-captioner --out {params.out_dir:q} --seed {params.seed} > {log:q} 2>&1"


rule caption_shard:
    """Caption one shard of a dataset's images (every image training or evaluation reads)."""
    input:
        manifest=lambda wc: combined_manifest(wc.dataset),
        captioner=demo_captioner_marker(),
        weights=weights_marker(),
    output:
        shard=f"{OUT}/captions/{{dataset}}/shards/{{shard}}-of-{CAPTION_SHARDS}.csv",
    log:
        f"logs/{EXPERIMENT}/caption_shard/{{dataset}}/{{shard}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/caption_shard/{{dataset}}/{{shard}}.tsv"
    conda:
        "../envs/reconstruct.yaml"  # the env with transformers (BLIP)
    threads: rule_threads("caption_shard")
    resources:
        **rule_resources("caption_shard"),
    params:
        settings=as_json(CAPTION_SETTINGS),
        num_shards=CAPTION_SHARDS,
    shell:
        "drct caption-shard --manifest {input.manifest:q} --settings {params.settings:q} "
        "--shard {wildcards.shard} --num-shards {params.num_shards} --threads {threads} "
        "--out {output.shard:q} > {log:q} 2>&1"


rule merge_captions:
    """One path,caption CSV per dataset; images whose captioning failed are logged and left out."""
    input:
        shards=expand(
            f"{OUT}/captions/{{{{dataset}}}}/shards/{{shard}}-of-{CAPTION_SHARDS}.csv",
            shard=range(CAPTION_SHARDS),
        ),
    output:
        captions=f"{OUT}/captions/{{dataset}}.csv",
    log:
        f"logs/{EXPERIMENT}/merge_captions/{{dataset}}.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/merge_captions/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("merge_captions")
    resources:
        **rule_resources("merge_captions"),
    shell:
        "drct merge-captions --inputs {input.shards:q} --out {output.captions:q} > {log:q} 2>&1"


rule captions:
    """Aggregate target: the captions of every dataset a De-fake run reads."""
    input:
        [captions_csv(dataset) for dataset in CAPTIONED],
