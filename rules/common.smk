"""Config validation and the path helpers every rule file uses.

The DAG's shape comes only from the config (datasets, generators, jobs, shards, runs), never from
data on disk, so `snakemake -n` builds a preset's full DAG before anything is downloaded. Only
`drct.config` and the pure-Python `drct.planning` (plus `drct.data.sources` for URLs) are imported
here: the DAG, and DVC's stages, never depend on training or evaluation code.
"""

import copy
import json
import os
import re
import shlex

from drct.config import validate_config
from drct.data.sources import resolve_url
from drct.planning import perturbations
from drct.planning.ablations import (
    ablation_spec,
    component_runs,
    evaluated_runs,
    lambda_runs,
)
from drct.planning.captions import (
    DEMO_CAPTIONER,
    caption_settings,
    captioned_datasets,
    run_needs_captions,
)
from drct.planning.dire import dire_jobs, dire_reconstructions, studied_runs
from drct.planning.jobs import active_jobs
from drct.planning.released import evaluated_jobs, released_checkpoints
from drct.planning.runs import (
    find,
    iter_runs,
    run_meta,
    runs_for_protocol,
    train_settings,
)
from drct.planning.weights import weights_spec

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
RUNS = {run.id: run for run in iter_runs(config)}
JOBS = active_jobs(config)
# released checkpoints (training.checkpoints: released): nothing is trained, so only the
# reconstructions an evaluation protocol scores are computed (rule import_released in rules/train.smk imports the rest)
RELEASED = released_checkpoints(config)
if RELEASED:
    JOBS = evaluated_jobs(config, JOBS)
# the jobs whose outputs combine merges into the manifests training and evaluation read
COMBINED_JOBS = JOBS
# the test reconstructions DIRE runs are scored with, in both reconstruction modes (drct.planning.dire):
# read by the DIRE runs' score jobs from their own manifests, not combined, so adding DIRE to a config
# changes no other run's inputs (nothing else is retrained or rescored)
DIRE_JOBS = dire_jobs(config, JOBS)
JOBS = JOBS + DIRE_JOBS
WEIGHTS = weights_spec(config, JOBS, released=bool(RELEASED))
if config["weights"]["hf_home"]:
    # every job (local, or a Snakemake re-run inside a cluster job) reads the same hub cache
    os.environ.update(HF_HOME=os.path.abspath(config["weights"]["hf_home"]))
if config["weights"]["offline"]:
    os.environ.update(HF_HUB_OFFLINE="1")
# several GPU jobs on one machine: each drct GPU command locks the GPU(s) it uses
# (drct.device; a no-op where Slurm or the user already set CUDA_VISIBLE_DEVICES)
os.environ.setdefault("DRCT_GPU_LOCK_DIR", os.path.abspath(".snakemake/gpu-locks"))
SHARDS = config["reconstruction"]["shards"]
# De-fake's BLIP captions (rules/caption.smk): only the datasets a De-fake run reads
CAPTIONED = captioned_datasets(config)
CAPTION_SHARDS = config["captioning"]["shards"] if CAPTIONED else 1
CAPTION_SETTINGS = caption_settings(config, OUT) if CAPTIONED else {}


wildcard_constraints:
    dataset=r"[^/]+",
    download=r"[^/]+",
    output=r"[^/]+",
    split=r"train|test",
    shard=r"\d+",
    run=r"[^/]+",
    protocol=r"[^/]+",
    model=r"[^/]+",
    train_set=r"[^/]+",


def download_path(name):
    download = find(config["downloads"], name, "download")
    return f"{DOWNLOADS}/{name}/{download['path'].rsplit('/', 1)[-1]}"


def download_url(name):
    download = find(config["downloads"], name, "download")
    return resolve_url(config["sources"][download["source"]], download["path"])


def download_source(name):
    """The download's source entry, as `drct download --source` takes it (without its free-text
    description: a params change reruns the fetch, and an edited comment must not cost a download).
    """
    source = config["sources"][find(config["downloads"], name, "download")["source"]]
    source = {key: value for key, value in source.items() if key != "description"}
    base = source.get("base_url", "")
    folder = base.removeprefix("file:")
    if base.startswith("file:") and not os.path.isabs(folder):
        # a relative local folder (the demo's archive): found like every shipped file
        source["base_url"] = f"file:{workflow_file(folder)}"
    if source.get("listing"):
        source["listing"] = workflow_file(
            source["listing"]
        )  # the hub listing is a pin, like the lock
    return source


def download_checks(name):
    """Published checksums and size of a download as `drct download` flags (hex and integers)."""
    download = find(config["downloads"], name, "download")
    flags = [
        f"--{key} {download[key]}"
        for key in ("sha256", "md5", "size")
        if key in download
    ]
    return " ".join(flags)


def dataset_config(name):
    return find(config["datasets"], name, "dataset")


def workflow_file(path):
    """A relative path from the config, found from any working directory: as given where it exists
    (a user's own file, relative to the working directory), else in the workflow's own folder where
    it exists there (the files shipped with it: demo archive, expected counts, data lock), else as
    given (a file a job will create), so `snakemake -s <clone>/Snakefile --directory <elsewhere>` works.
    """
    shipped = os.path.join(workflow.basedir, path)
    if os.path.isabs(path) or os.path.exists(path) or not os.path.exists(shipped):
        return path
    return os.path.relpath(shipped)


# the data pins ship with the workflow (download.lock): found from any working directory
LOCK_FILE = workflow_file(config["download"]["lock"])


def expected_counts_file(name):
    """The dataset's expected counts (a rule input, so editing the file reruns `prepare`)."""
    path = dataset_config(name).get("expected_counts")
    return [workflow_file(path)] if path else []


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
    """The reconstruction manifests combine merges into the dataset's manifest (DIRE's test ones aside)."""
    return [
        f"{recon_dir(job)}/manifest.csv"
        for job in COMBINED_JOBS
        if job["dataset"] == dataset
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


def captions_csv(dataset):
    """The dataset's path,caption CSV (rules/caption.smk)."""
    return f"{OUT}/captions/{dataset}.csv"


def demo_captioner_marker():
    """Caption jobs wait for the demo captioner where the config builds one."""
    if CAPTIONED and config["captioning"].get("build_demo"):
        return [f"{OUT}/{DEMO_CAPTIONER}/config.json"]
    return []


def run_captions(run_id, dataset):
    """The captions a run reads from ``dataset`` (De-fake), as a list: [] for every other run."""
    return [captions_csv(dataset)] if run_needs_captions(config, RUNS[run_id]) else []


def score_captions(protocols):
    """Input function of a score rule: the captions of its protocols' datasets, for a De-fake run only."""

    def captions(wc):
        datasets = sorted({protocol_config(p)["dataset"] for p in protocols})
        return [path for dataset in datasets for path in run_captions(wc.run, dataset)]

    return captions


def train_captions_args(run_id):
    """`drct train-run` flags of a De-fake run: its train set's captions and the captioner that wrote them."""
    train_set = find(
        config["training"]["train_sets"], RUNS[run_id].train_set, "train set"
    )
    captions = run_captions(run_id, train_set["dataset"])
    if not captions:
        return ""
    return f"--captions {shlex.quote(captions[0])} --captioner {shlex.quote(as_json(CAPTION_SETTINGS))}"


def train_dir(run_id):
    """Runs are grouped by backbone, so each backbone's checkpoints form one folder (one DVC stage)."""
    return f"{OUT}/train/{RUNS[run_id].backbone}/{run_id}"


def checkpoint_path(run_id):
    """The checkpoint a run is evaluated with: trained here, or imported from the authors' release."""
    if RELEASED:
        return f"{OUT}/released/{RUNS[run_id].backbone}/{run_id}/best.safetensors"
    return f"{train_dir(run_id)}/best.safetensors"


def weights_marker():
    """Jobs that load hub weights wait for the fetch_weights rule when weights.prefetch is on."""
    if config["weights"]["prefetch"] and WEIGHTS:
        return [f"{OUT}/weights/record.json"]
    return []


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


def recon_source_manifest(job):
    """The manifest listing a job's source images: the dataset's, or the manifest of the job that
    produced them (a DIRE job reconstructing a reconstruction column, drct.planning.dire).
    """
    if job.get("from_job"):
        return f"{recon_dir(recon_job(job['dataset'], job['from_job'], job['split']))}/manifest.csv"
    return f"{DATA}/{job['dataset']}/manifest.valid.csv"


def recon_inputs(wc):
    job = recon_job(wc.dataset, wc.output, wc.split)
    return {
        "manifest": recon_source_manifest(job),
        "model": demo_model_marker(job["model"]),
        "weights": weights_marker(),
    }


def recon_model_settings(model_name):
    """A reconstruction model's ReconstructionSettings (the config entry, with its resolved path)."""
    spec = dict(recon_model(model_name))
    for key in ("name", "build_demo"):
        spec.pop(key, None)
    spec["model"] = recon_model_path(model_name)
    return spec


def recon_settings(wc):
    return recon_model_settings(recon_job(wc.dataset, wc.output, wc.split)["model"])


# --- evaluation: one score, metrics and perturbed_metrics job per run (rules/evaluate.smk) ---


def eval_groups():
    """The runs evaluated under the same protocols and perturbation studies, with those
    (config order): ``[(protocols, perturbed protocols, run ids), ...]``.

    A rule's outputs are fixed where it is defined, and a run's job writes one file per protocol of
    the run, so each group gets its own rules (:func:`group_rule`). In the demo and most presets
    every run is evaluated under every protocol: one group. Ablation runs that are no paper-table
    row are scored under the ablations' protocol only, without the studies (their own group).
    """
    groups = {}
    for run in RUNS.values():
        names = tuple(
            p["name"]
            for p in config["evaluation"]["protocols"]
            if run in evaluated_runs(config, p)
        )
        studied = tuple(
            p
            for p in perturbed_protocols()
            if run in studied_runs(config, protocol_config(p))
        )
        if names:
            groups.setdefault((names, studied), []).append(run.id)
    return [(names, studied, runs) for (names, studied), runs in groups.items()]


def group_rule(step, index):
    """Rule name of a step for the index-th evaluation group: ``score``, then ``score_2`` ..."""
    return step if index == 0 else f"{step}_{index + 1}"


def runs_pattern(run_ids):
    """The ``run`` wildcard of a group's rules: exactly its runs (another group's rules write the
    same protocols' files for other runs)."""
    return "|".join(re.escape(run_id) for run_id in run_ids)


def dire_manifests(dataset, recs):
    """The manifests of the DIRE test reconstruction jobs named in ``recs`` (scored -> output)."""
    outputs = set(recs.values())
    return sorted(
        f"{recon_dir(job)}/manifest.csv"
        for job in DIRE_JOBS
        if job["dataset"] == dataset and job["output"] in outputs
    )


def score_reconstructions(protocols):
    """Input function of a score rule: a DIRE run's test reconstruction manifests ([] otherwise)."""

    def manifests(wc):
        found = set()
        for name in protocols:
            protocol = protocol_config(name)
            recs = dire_reconstructions(config, RUNS[wc.run], protocol)
            found.update(dire_manifests(protocol["dataset"], recs))
        return sorted(found)

    return manifests


def score_entries(protocols, perturbed):
    """`drct score --protocols` of a group, as a params function: per protocol its manifest,
    generators and predictions file, and its perturbations and perturbed file where the group is
    studied under it (``perturbed``).
    """

    def entries(wc):
        out = []
        for name in protocols:
            entry = {
                "name": name,
                "manifest": combined_manifest(protocol_config(name)["dataset"]),
                "generators": protocol_generators(name),
                "out": f"{eval_dir(name, wc.run)}/predictions.csv",
            }
            captions = run_captions(wc.run, protocol_config(name)["dataset"])
            if captions:  # De-fake: the protocol's images with their captions
                entry["captions"] = captions[0]
            recs = dire_reconstructions(config, RUNS[wc.run], protocol_config(name))
            # a DIRE run: each scored generator's reconstructions, and their manifests
            if recs:
                entry["reconstructions"] = recs
                entry["reconstruction_manifests"] = dire_manifests(
                    protocol_config(name)["dataset"], recs
                )
            if name in perturbed:
                entry["perturbations"] = protocol_perturbations(name)
                entry["perturbed_out"] = (
                    f"{perturbed_dir(name, wc.run)}/predictions.csv"
                )
            out.append(entry)
        return as_json(out)

    return entries


def metrics_entries(protocols):
    """`drct metrics --protocols` of a group (params function): config entry, predictions, outputs."""

    def entries(wc):
        return as_json(
            [
                {
                    "protocol": protocol_config(name),
                    "predictions": f"{eval_dir(name, wc.run)}/predictions.csv",
                    "out": f"{eval_dir(name, wc.run)}/metrics.json",
                    "roc": f"{eval_dir(name, wc.run)}/roc.csv",
                    "pr": f"{eval_dir(name, wc.run)}/pr.csv",
                }
                for name in protocols
            ]
        )

    return entries


def perturbed_metrics_entries(protocols):
    """`drct perturbed-metrics --protocols` of a group (params function)."""

    def entries(wc):
        return as_json(
            [
                {
                    "protocol": protocol_config(name),
                    "predictions": f"{perturbed_dir(name, wc.run)}/predictions.csv",
                    "out": f"{perturbed_dir(name, wc.run)}/metrics.csv",
                }
                for name in protocols
            ]
        )

    return entries


def paper_inputs(wc):
    """Per run of the protocol (config order): metrics.json, roc.csv, pr.csv."""
    runs = runs_for_protocol(config, protocol_config(wc.protocol))
    return {
        name: [f"{eval_dir(wc.protocol, run.id)}/{name}.{ext}" for run in runs]
        for name, ext in (("metrics", "json"), ("roc", "csv"), ("pr", "csv"))
    }


def paper_spec(wc):
    protocol = protocol_config(wc.protocol)
    return {
        "paper_table": protocol["paper_table"],
        "title": protocol.get("title", protocol["name"]),
        "demo": config["demo"],
        "columns": protocol["columns"],
        "runs": [run_meta(config, run) for run in runs_for_protocol(config, protocol)],
    }


# --- robustness study, format-bias control, sample grid (rules/evaluate.smk, rules/paper.smk) ---


def study_protocols(study):
    """Protocols a study runs on (checked against evaluation.protocols when the config was validated)."""
    return perturbations.study_protocols(config, study)


def study_perturbations(study):
    """The study's perturbations as `drct evaluate --perturbations` takes them (jpeg:60, png ...)."""
    return perturbations.study_perturbations(config, study)


def perturbed_protocols():
    """Protocols with any perturbation study, in config order."""
    return perturbations.perturbed_protocols(config)


def protocol_perturbations(protocol):
    """Every perturbation a protocol is scored under (both studies, each once), in its run's score job."""
    return perturbations.protocol_perturbations(config, protocol)


def perturbed_dir(protocol, run_id):
    return f"{OUT}/perturbed/{protocol}/{run_id}"


def study_inputs(wc):
    """Inputs of a study's report rule: perturbed metrics and clean metrics per run."""
    runs = studied_runs(config, protocol_config(wc.protocol))
    return {
        "perturbed": [
            f"{perturbed_dir(wc.protocol, run.id)}/metrics.csv" for run in runs
        ],
        "metrics": [f"{eval_dir(wc.protocol, run.id)}/metrics.json" for run in runs],
    }


def study_spec(wc):
    protocol = protocol_config(wc.protocol)
    return {
        "title": protocol.get("title", protocol["name"]),
        "demo": config["demo"],
        "runs": [run_meta(config, run) for run in studied_runs(config, protocol)],
    }


def sample_groups(train_set_name):
    """(group, image generator, reconstruction generator) pairs a train set has: real, fake."""
    train_set = find(config["training"]["train_sets"], train_set_name, "train set")
    groups = []
    for group, image, rec in (
        ("real", "real", "real_rec"),
        ("fake", "fake", "fake_rec"),
    ):
        if train_set.get(image) and train_set.get(rec):
            groups.append(
                {"group": group, "image": train_set[image][0], "rec": train_set[rec][0]}
            )
    return groups


def sample_sets():
    """Train sets whose reconstructions give a sample grid (none when samples.pairs is 0)."""
    if config["evaluation"]["samples"]["pairs"] < 1:
        return []
    return [
        t["name"] for t in config["training"]["train_sets"] if sample_groups(t["name"])
    ]


def paper_targets():
    """Every output of the paper phase: tables, figures, studies and sample grids."""
    targets = [
        f"{OUT}/paper/{p['name']}/table.md" for p in config["evaluation"]["protocols"]
    ]
    targets += [f"{OUT}/paper/{p}/robustness.md" for p in study_protocols("robustness")]
    targets += [f"{OUT}/paper/{p}/format_bias.md" for p in study_protocols("format")]
    targets += [f"{OUT}/paper/samples/{t}.png" for t in sample_sets()]
    targets += [f"{OUT}/paper/ablations/{kind}.md" for kind in ablation_kinds()]
    return targets


# --- the paper's ablations: component table, lambda sweep (rules/paper.smk) ---


def ablation_kinds():
    """The ablation tables the config asks for: components and/or lambda."""
    block = config.get("ablations") or {}
    return [
        kind
        for kind, on in (
            ("components", block.get("components")),
            ("lambda", block.get("lambdas")),
        )
        if on
    ]


def ablation_metrics(kind):
    """metrics.json of the runs of one ablation table, under the ablations' protocol."""
    runs = (
        component_runs(config)
        if kind == "components"
        else [run for _, run in lambda_runs(config)]
    )
    protocol = config["ablations"]["protocol"]
    return list(
        dict.fromkeys(f"{eval_dir(protocol, run.id)}/metrics.json" for run in runs)
    )


#: captions of the HTML report (`snakemake --report`), relative to the rule files
REPORT_CAPTIONS = "../workflow/report"


def paper_report(path, caption, category, subcategory="{protocol}", label=None):
    """A paper output flagged for the HTML report, captioned by workflow/report/<caption>.rst."""
    return report(
        path,
        caption=f"{REPORT_CAPTIONS}/{caption}.rst",
        category=category,
        subcategory=subcategory,
        labels={"protocol": "{protocol}", "output": label or caption},
    )


def published_check_not_configured(wc):
    raise ValueError(
        "the published-reconstruction check is not configured: add reconstruction.published_check "
        "({model, dataset, source, published, split, sample, seed}) to the config, as in "
        "presets/drct2m_intra.yaml, or run it with --configfile presets/drct2m_intra.yaml"
    )


def rule_threads(rule_name):
    """Cores of a rule's jobs, from `resources.<rule>` in the config."""
    return config["resources"][rule_name]["threads"]


def rule_resources(rule_name):
    """mem_mb and runtime of a rule's jobs from `resources.<rule>`, and gpu only where it asks for one,
    so a CPU-only demo submits no GPU request (train_run's null gpu: training.gpus_per_run).
    """
    spec = config["resources"][rule_name]
    gpu = spec["gpu"] if spec["gpu"] is not None else config["training"]["gpus_per_run"]
    return {
        "mem_mb": spec["mem_mb"],
        "runtime": spec["runtime"],
        **({"gpu": gpu} if gpu else {}),
    }


#: the drct commands that use a GPU, and the rules that run them
GPU_COMMANDS = {
    "reconstruct-shard": ("reconstruct_shard", "published_check_reconstruct"),
    "train-run": ("train_run",),
    "score": ("score",),  # every evaluation group's score rule asks resources.score
}
# A job given a GPU (resources.<rule>.gpu above 0) that finds none torch can use fails instead of
# running for days on the CPU (drct.device.gpu_allocation). Snakemake passes resources to no job's
# environment, and putting them on the shell lines would make Snakemake rerun every finished GPU
# job ("code has changed"), so each command's GPUs travel in one variable every job inherits (cluster
# jobs too: they parse this file again). A command two rules run counts what both ask for (min),
# so a rule set to the CPU never fails for lack of a GPU.
os.environ.update(
    DRCT_GPUS=",".join(
        f"{command}={min(rule_resources(name).get('gpu', 0) for name in rules)}"
        for command, rules in GPU_COMMANDS.items()
    )
)
