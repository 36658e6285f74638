"""Data: fetch archives, lay each dataset out with a manifest, quarantine unreadable images."""


rule fetch_archive:
    """Fetch one archive (resumable, checksum verified against config or the lock file)."""
    output:
        archive=f"{DOWNLOADS}/{{download}}/{{filename}}",
    log:
        "logs/fetch/{download}/{filename}.log",
    conda:
        "../envs/data.yaml"
    resources:
        downloads=1,
    params:
        url=lambda wc: download_url(wc.download),
        sha256=lambda wc: find(config["downloads"], wc.download, "download").get(
            "sha256"
        )
        or "",
        lock=LOCK_FILE,
    shell:
        "drct download --url {params.url:q} --out {output.archive:q} --key {wildcards.download:q} "
        "--lock {params.lock:q} --sha256 {params.sha256:q} > {log:q} 2>&1"


rule prepare_dataset:
    """Extract the dataset's archives safely, normalise the layout and write its manifest."""
    input:
        archives=lambda wc: [
            download_path(a["download"])
            for a in dataset_config(wc.dataset)["archives"]
        ],
    output:
        manifest=f"{DATA}/{{dataset}}/manifest.csv",
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../envs/data.yaml"
    params:
        spec=lambda wc: as_json(dataset_config(wc.dataset)),
        out_dir=lambda wc: f"{DATA}/{wc.dataset}",
    shell:
        "drct prepare --spec {params.spec:q} --archives {input.archives:q} --out-dir {params.out_dir:q} "
        "> {log:q} 2>&1"


rule validate_dataset:
    """Decode every image; corrupt, truncated or non-image files are listed with their reason."""
    input:
        manifest=rules.prepare_dataset.output.manifest,
    output:
        valid=f"{DATA}/{{dataset}}/manifest.valid.csv",
        quarantine=f"{DATA}/{{dataset}}/quarantine.csv",
    log:
        "logs/validate/{dataset}.log",
    conda:
        "../envs/data.yaml"
    threads: 2
    shell:
        "drct validate --manifest {input.manifest:q} --out-valid {output.valid:q} "
        "--out-quarantine {output.quarantine:q} --workers {threads} > {log:q} 2>&1"


rule download:
    """Aggregate target: every dataset downloaded, laid out and validated."""
    input:
        [f"{DATA}/{d['name']}/manifest.valid.csv" for d in config["datasets"]],
