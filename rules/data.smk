"""Data: fetch archives, lay each dataset out with a manifest, quarantine unreadable images, report.

Jobs are per archive and per dataset, never per image: the DAG of the full DRCT-2M preset (about
2 million images) has the same few dozen data jobs as the demo's (benchmarks/snakemake_dag/).
"""


rule acquire:
    """Fetch one archive (resumable, verified against config, hub listing and lock file)."""
    output:
        archive=f"{DOWNLOADS}/{{download}}/{{filename}}",
    log:
        "logs/acquire/{download}/{filename}.log",
    benchmark:
        "logs/benchmarks/acquire/{download}/{filename}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("acquire")
    resources:
        **rule_resources("acquire"),
        downloads=1,
    params:
        source=lambda wc: as_json(download_source(wc.download)),
        path=lambda wc: find(config["downloads"], wc.download, "download")["path"],
        checks=lambda wc: download_checks(wc.download),
        lock=LOCK_FILE,
        min_rate=config["download"]["min_rate"],
        stall_seconds=config["download"]["stall_seconds"],
    shell:
        "drct acquire --source {params.source:q} --path {params.path:q} --out {output.archive:q} "
        "--key {wildcards.download:q} --lock {params.lock:q} {params.checks} "
        "--min-rate {params.min_rate} --stall-seconds {params.stall_seconds} > {log:q} 2>&1"


rule prepare:
    """Extract the dataset's archives safely, normalise the layout, count and write its manifest."""
    input:
        archives=lambda wc: [
            download_path(a["download"])
            for a in dataset_config(wc.dataset)["archives"]
        ],
        expected_counts=lambda wc: expected_counts_file(wc.dataset),
    output:
        manifest=f"{DATA}/{{dataset}}/manifest.csv",
        counts=f"{DATA}/{{dataset}}/counts.csv",
    log:
        "logs/prepare/{dataset}.log",
    benchmark:
        "logs/benchmarks/prepare/{dataset}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("prepare")
    resources:
        **rule_resources("prepare"),
    params:
        spec=lambda wc: as_json(dataset_config(wc.dataset)),
        out_dir=lambda wc: f"{DATA}/{wc.dataset}",
        counts=lambda wc, input: (
            f"--expected-counts '{input.expected_counts}'"
            if input.expected_counts
            else ""
        ),
    shell:
        "drct prepare --spec {params.spec:q} --archives {input.archives:q} {params.counts} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule validate:
    """Decode every image; corrupt, truncated or non-image files are listed with their reason."""
    input:
        manifest=rules.prepare.output.manifest,
    output:
        valid=f"{DATA}/{{dataset}}/manifest.valid.csv",
        quarantine=f"{DATA}/{{dataset}}/quarantine.csv",
    log:
        "logs/validate/{dataset}.log",
    benchmark:
        "logs/benchmarks/validate/{dataset}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("validate")
    resources:
        **rule_resources("validate"),
    shell:
        "drct validate --manifest {input.manifest:q} --out-valid {output.valid:q} "
        "--out-quarantine {output.quarantine:q} --workers {threads} > {log:q} 2>&1"


rule data_report:
    """The test set's manifest with hashes, and the real/fake format mix per subset."""
    input:
        valid=rules.validate.output.valid,
        quarantine=rules.validate.output.quarantine,
    output:
        test=f"{DATA}/{{dataset}}/test_manifest.csv",
        csv=f"{DATA}/{{dataset}}/format_report.csv",
        md=f"{DATA}/{{dataset}}/format_report.md",
    log:
        "logs/data_report/{dataset}.log",
    benchmark:
        "logs/benchmarks/data_report/{dataset}.tsv"
    conda:
        "../envs/data.yaml"
    threads: rule_threads("data_report")
    resources:
        **rule_resources("data_report"),
    params:
        layout=lambda wc: dataset_config(wc.dataset)["layout"],
    shell:
        "drct data-report --manifest {input.valid:q} --quarantine {input.quarantine:q} "
        "--layout {params.layout} --out-test {output.test:q} --out-csv {output.csv:q} "
        "--out-md {output.md:q} > {log:q} 2>&1"


rule fetch_weights:
    """Fetch every hub model the DAG loads into HF_HOME (the one rule that needs the internet)."""
    output:
        record=f"{OUT}/weights/record.json",
    log:
        f"logs/{EXPERIMENT}/fetch_weights.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/fetch_weights.tsv"
    conda:
        "../envs/reconstruct.yaml"
    threads: rule_threads("fetch_weights")
    resources:
        **rule_resources("fetch_weights"),
        downloads=1,
    params:
        spec=as_json(WEIGHTS),
    shell:
        "HF_HUB_OFFLINE=0 drct fetch-weights --spec {params.spec:q} --out {output.record:q} > {log:q} 2>&1"


rule download:
    """Aggregate target: every dataset downloaded, laid out, validated and reported."""
    input:
        [f"{DATA}/{d['name']}/manifest.valid.csv" for d in config["datasets"]],
        [f"{DATA}/{d['name']}/format_report.md" for d in config["datasets"]],
