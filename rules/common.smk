"""Config validation and the path helpers every rule file uses.

The DAG's shape comes only from the config (datasets, generators, jobs, shards, runs), never from
data on disk, so `snakemake -n` builds a preset's full DAG before anything is downloaded.
"""

import copy
import json

from drct.config import (
    active_jobs,
    find,
    iter_runs,
    run_meta,
    runs_for_protocol,
    train_settings,
    validate_config,
)

if workflow.overwrite_configfiles:
    # A preset (--configfile presets/X.yaml) is a complete experiment: start from it alone, so no
    # key of the demo's config.yaml leaks into a paper run through Snakemake's recursive merge.
    _selected = copy.deepcopy(workflow.config_settings.overwrite_config)
    config.clear()
    config.update(_selected)
_validated = validate_config(
    config, workflow.source_path("../workflow/schemas/config.schema.yaml")
)
config.clear()
config.update(_validated)

EXPERIMENT = config["experiment"]
OUT = f"results/{EXPERIMENT}"
DATA = "results/data"
DOWNLOADS = "results/downloads"
LOCK_FILE = (
    "workflow/data.lock.json"  # relative to the working directory: the project root
)
RUNS = {run.id: run for run in iter_runs(config)}
JOBS = active_jobs(config)
SHARDS = config["reconstruction"]["shards"]


wildcard_constraints:
    dataset=r"[^/]+",
    download=r"[^/]+",
    output=r"[^/]+",
    split=r"train|test",
    shard=r"\d+",
    run=r"[^/]+",
    protocol=r"[^/]+",
    model=r"[^/]+",


def download_path(name):
    download = find(config["downloads"], name, "download")
    return f"{DOWNLOADS}/{name}/{download['path'].rsplit('/', 1)[-1]}"


def download_url(name):
    download = find(config["downloads"], name, "download")
    base = config["sources"][download["source"]]["base_url"].rstrip("/")
    return f"{base}/{download['path']}"


def dataset_config(name):
    return find(config["datasets"], name, "dataset")


def recon_model(name):
    return find(config["reconstruction"]["models"], name, "reconstruction model")


def recon_job(dataset, output, split):
    for job in JOBS:
        if (job["dataset"], job["output"], job["split"]) == (dataset, output, split):
            return job
    raise KeyError(f"no reconstruction job for {dataset}/{output}/{split}")


def recon_dir(job):
    return f"{OUT}/reconstruction/{job['dataset']}/{job['output']}/{job['split']}"


def recon_manifests(dataset):
    return [
        f"{recon_dir(job)}/manifest.csv" for job in JOBS if job["dataset"] == dataset
    ]


def recon_model_path(model):
    """Hub id or local folder; a demo model is built by the workflow under the experiment's folder."""
    spec = recon_model(model)
    return f"{OUT}/models/{model}" if spec.get("build_demo") else spec["model"]


def demo_model_marker(model):
    """A model built from config by the demo rule depends on that rule; hub models need nothing."""
    return (
        [f"{recon_model_path(model)}/model_index.json"]
        if recon_model(model).get("build_demo")
        else []
    )


def combined_manifest(dataset):
    return f"{OUT}/data/{dataset}.csv"


def train_dir(run_id):
    """Runs are grouped by backbone, so each backbone's checkpoints form one folder (one DVC stage)."""
    return f"{OUT}/train/{RUNS[run_id].backbone}/{run_id}"


def checkpoint_path(run_id):
    return f"{train_dir(run_id)}/best.safetensors"


def eval_dir(protocol, run_id):
    return f"{OUT}/eval/{protocol}/{run_id}"


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


def protocol_config(name):
    return find(config["evaluation"]["protocols"], name, "protocol")


def protocol_generators(name):
    """Generators a protocol scores: its columns, plus the shared real set where there is one."""
    protocol = protocol_config(name)
    names = {c["generator"] for c in protocol["columns"]}
    if protocol["real_source"] == "shared":
        names.add(protocol["real_generator"])
    return sorted(names)


def recon_inputs(wc):
    job = recon_job(wc.dataset, wc.output, wc.split)
    return {
        "manifest": f"{DATA}/{wc.dataset}/manifest.valid.csv",
        "model": demo_model_marker(job["model"]),
    }


def recon_settings(wc):
    job = recon_job(wc.dataset, wc.output, wc.split)
    spec = dict(recon_model(job["model"]))
    for key in ("name", "build_demo"):
        spec.pop(key, None)
    spec["model"] = recon_model_path(job["model"])
    return spec


def paper_inputs(wc):
    protocol = protocol_config(wc.protocol)
    return [
        f"{eval_dir(wc.protocol, run.id)}/metrics.json"
        for run in runs_for_protocol(config, protocol)
    ]


def paper_spec(wc):
    protocol = protocol_config(wc.protocol)
    return {
        "paper_table": protocol["paper_table"],
        "title": protocol.get("title", protocol["name"]),
        "demo": config["demo"],
        "columns": protocol["columns"],
        "runs": [run_meta(config, run) for run in runs_for_protocol(config, protocol)],
    }
