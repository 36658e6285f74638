"""Released-reconstruction check: our reconstructions of a sample against the authors' released ones.

Included only when the config has `reconstruction.released_check`; its target `released_check` is
not part of `all`. A seeded sample of the source images (DRCT-2M: COCO) whose stem the released
generator (DRCT-2M: stable-diffusion-inpainting ...) also holds is reconstructed with the configured
model through the pipeline's own reconstruction code, then compared image by image (PSNR, SSIM).

    snakemake --cores all --use-conda --resources gpu=1 --configfile presets/drct2m_intra.yaml released_check
"""

# names were cross-checked against models, datasets and generators by drct.config
RELEASED_CHECK = config["reconstruction"]["released_check"]
RELEASED_CHECK_DIR = f"{OUT}/released_check"


rule released_check_sample:
    """A seeded sample of source images whose stem the released generator also holds (a small manifest)."""
    input:
        manifest=f"{DATA}/{RELEASED_CHECK['dataset']}/manifest.valid.csv",
    output:
        sample=f"{RELEASED_CHECK_DIR}/sample.csv",
    log:
        f"logs/{EXPERIMENT}/released_check/sample.log",
    conda:
        "../envs/reconstruct.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        source=RELEASED_CHECK["source"],
        released=RELEASED_CHECK["released"],
        split=RELEASED_CHECK["split"],
        n=RELEASED_CHECK["sample"],
        seed=RELEASED_CHECK["seed"],
    shell:
        "drct released-sample --manifest {input.manifest:q} --source {params.source:q} "
        "--released {params.released:q} --split {params.split} -n {params.n} --seed {params.seed} "
        "--out {output.sample:q} > {log:q} 2>&1"


rule released_check_reconstruct:
    """Reconstruct the sample with the configured model (the pipeline's runner, one shard); images start afresh."""
    input:
        sample=rules.released_check_sample.output.sample,
        model=demo_model_marker(RELEASED_CHECK["model"]),
        weights=weights_marker(),
    output:
        manifest=f"{RELEASED_CHECK_DIR}/ours/manifest.csv",
        provenance=f"{RELEASED_CHECK_DIR}/ours/provenance.json",
        images=directory(f"{RELEASED_CHECK_DIR}/ours/images"),
    log:
        f"logs/{EXPERIMENT}/released_check/reconstruct.log",
    conda:
        "../envs/reconstruct.yaml"
    threads: 4
    resources:
        mem_mb=32000,
        runtime=120,
        gpu=1,
    params:
        settings=as_json(recon_model_settings(RELEASED_CHECK["model"])),
        source=RELEASED_CHECK["source"],
        split=RELEASED_CHECK["split"],
        output_name=f"{RELEASED_CHECK['model']}-released-check",
    shell:
        "drct reconstruct --manifest {input.sample:q} --settings {params.settings:q} "
        "--source {params.source:q} --split {params.split} --output-name {params.output_name:q} "
        "--images-dir {output.images:q} --threads {threads} --out {output.manifest:q} "
        "--provenance {output.provenance:q} > {log:q} 2>&1"


rule released_check_compare:
    """PSNR and SSIM of ours vs released per image (failures listed with their reason), summary and report."""
    input:
        sample=rules.released_check_sample.output.sample,
        ours=rules.released_check_reconstruct.output.manifest,
        provenance=rules.released_check_reconstruct.output.provenance,
        images=rules.released_check_reconstruct.output.images,
    output:
        csv=f"{RELEASED_CHECK_DIR}/comparison.csv",
        json=f"{RELEASED_CHECK_DIR}/summary.json",
        md=f"{RELEASED_CHECK_DIR}/report.md",
    log:
        f"logs/{EXPERIMENT}/released_check/compare.log",
    conda:
        "../envs/reconstruct.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        check=as_json(RELEASED_CHECK),
    shell:
        "drct released-compare --sample {input.sample:q} --ours {input.ours:q} "
        "--check {params.check:q} --provenance {input.provenance:q} --out-csv {output.csv:q} "
        "--out-json {output.json:q} --out-md {output.md:q} > {log:q} 2>&1"


rule released_check:
    """Aggregate target (not part of `all`): the released-reconstruction check's summary and report."""
    input:
        rules.released_check_compare.output,
