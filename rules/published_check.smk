"""Published-reconstruction check: our reconstructions of a sample against the ones DRCT-2M publishes.

Included only when the config has `reconstruction.published_check`; its target `published_check` is
not part of `all`. A seeded sample of the source images (DRCT-2M: COCO) whose stem the published
generator (DRCT-2M: stable-diffusion-inpainting ...) also holds is reconstructed with the configured
model through the pipeline's own reconstruction code, then compared image by image (PSNR, SSIM).

    snakemake --cores all --use-conda --resources gpu=1 --configfile presets/drct2m_intra.yaml published_check
"""

# names were cross-checked against models, datasets and generators by drct.config
PUBLISHED_CHECK = config["reconstruction"]["published_check"]
PUBLISHED_CHECK_DIR = f"{OUT}/published_check"


rule published_check_sample:
    """A seeded sample of source images whose stem the published generator also holds (a small manifest)."""
    input:
        manifest=f"{DATA}/{PUBLISHED_CHECK['dataset']}/manifest.valid.csv",
    output:
        sample=f"{PUBLISHED_CHECK_DIR}/sample.csv",
    log:
        f"logs/{EXPERIMENT}/published_check/sample.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/published_check/sample.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("published_check_sample")
    resources:
        **rule_resources("published_check_sample"),
    params:
        source=PUBLISHED_CHECK["source"],
        published=PUBLISHED_CHECK["published"],
        split=PUBLISHED_CHECK["split"],
        n=PUBLISHED_CHECK["sample"],
        seed=PUBLISHED_CHECK["seed"],
    shell:
        "drct published-check-sample --manifest {input.manifest:q} --source {params.source:q} "
        "--published {params.published:q} --split {params.split} -n {params.n} --seed {params.seed} "
        "--out {output.sample:q} > {log:q} 2>&1"


rule published_check_reconstruct:
    """Reconstruct the sample with the configured model (the pipeline's runner, one shard); images start afresh."""
    input:
        sample=rules.published_check_sample.output.sample,
        model=demo_model_marker(PUBLISHED_CHECK["model"]),
        weights=weights_marker(),
    output:
        manifest=f"{PUBLISHED_CHECK_DIR}/ours/manifest.csv",
        provenance=f"{PUBLISHED_CHECK_DIR}/ours/provenance.json",
        images=directory(f"{PUBLISHED_CHECK_DIR}/ours/images"),
    log:
        f"logs/{EXPERIMENT}/published_check/reconstruct.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/published_check/reconstruct.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("published_check_reconstruct")
    resources:
        **rule_resources("published_check_reconstruct"),
    params:
        settings=as_json(recon_model_settings(PUBLISHED_CHECK["model"])),
        source=PUBLISHED_CHECK["source"],
        split=PUBLISHED_CHECK["split"],
        output_name=f"{PUBLISHED_CHECK['model']}-published-check",
    shell:
        "drct reconstruct-shard --manifest {input.sample:q} --settings {params.settings:q} "
        "--source {params.source:q} --split {params.split} --output-name {params.output_name:q} "
        "--images-dir {output.images:q} --threads {threads} --out {output.manifest:q} "
        "--provenance {output.provenance:q} > {log:q} 2>&1"


rule published_check_compare:
    """PSNR and SSIM of ours vs published per image (failures listed with their reason), summary and report."""
    input:
        sample=rules.published_check_sample.output.sample,
        ours=rules.published_check_reconstruct.output.manifest,
        provenance=rules.published_check_reconstruct.output.provenance,
        images=rules.published_check_reconstruct.output.images,
    output:
        csv=f"{PUBLISHED_CHECK_DIR}/comparison.csv",
        json=f"{PUBLISHED_CHECK_DIR}/summary.json",
        md=f"{PUBLISHED_CHECK_DIR}/report.md",
    log:
        f"logs/{EXPERIMENT}/published_check/compare.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/published_check/compare.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("published_check_compare")
    resources:
        **rule_resources("published_check_compare"),
    params:
        check=as_json(PUBLISHED_CHECK),
    shell:
        "drct published-check-compare --sample {input.sample:q} --ours {input.ours:q} "
        "--check {params.check:q} --provenance {input.provenance:q} --out-csv {output.csv:q} "
        "--out-json {output.json:q} --out-md {output.md:q} > {log:q} 2>&1"


rule published_check:
    """Aggregate target (not part of `all`): the published-reconstruction check's summary and report."""
    input:
        rules.published_check_compare.output,
