"""DVC's view of the workflow: a Snakemake target for each dvc.yaml stage, and the files DVC shows.

Every stage of dvc.yaml runs Snakemake on one of these targets (or on an aggregate target of the
phase's own rule file), so Snakemake stays the only place that knows the fine-grained jobs and
DVC only versions what each phase wrote. tests/test_dvc_dag.py checks that the two agree.
"""


rule combined_manifests:
    """Target of the DVC reconstruct stage (with `reconstruct`): the manifests training and evaluation read."""
    input:
        sorted(
            {combined_manifest(t["dataset"]) for t in config["training"]["train_sets"]}
            | {
                combined_manifest(p["dataset"])
                for p in config["evaluation"]["protocols"]
            }
        ),


for _backbone in config["training"]["backbones"]:

    rule:
        """Target of the DVC stage train@<i>: every run of one backbone (results/<experiment>/train/<backbone>/)."""
        name:
            f"train_backbone_{_backbone['name']}"
        input:
            [
                checkpoint_path(run.id)
                for run in RUNS.values()
                if run.backbone == _backbone["name"]
            ],


rule dvc_views:
    """Each run's summary metrics, per-generator accuracy and ROC points in folders of one file kind, as DVC reads them."""
    input:
        metrics=[
            f"{eval_dir(p['name'], run.id)}/metrics.json"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
        roc=[
            f"{eval_dir(p['name'], run.id)}/roc.csv"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
    output:
        metrics=[
            f"{OUT}/metrics/{p['name']}/{run.id}.json"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
        accuracy=[
            f"{OUT}/plots/accuracy/{p['name']}/{run.id}.csv"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
        roc=[
            f"{OUT}/plots/roc/{p['name']}/{run.id}.csv"
            for p in config["evaluation"]["protocols"]
            for run in evaluated_runs(config, p)
        ],
    log:
        f"logs/{EXPERIMENT}/dvc_views.log",
    benchmark:
        f"logs/benchmarks/{EXPERIMENT}/dvc_views.tsv"
    conda:
        "../envs/paper.yaml"
    threads: rule_threads("dvc_views")
    resources:
        **rule_resources("dvc_views"),
    params:
        protocols=as_json(config["evaluation"]["protocols"]),
        metrics_dir=lambda wc: f"{OUT}/metrics",
        plots_dir=lambda wc: f"{OUT}/plots",
    shell:
        "drct dvc-views --metrics {input.metrics:q} --roc {input.roc:q} --protocols {params.protocols:q} "
        "--metrics-dir {params.metrics_dir:q} --plots-dir {params.plots_dir:q} > {log:q} 2>&1"
