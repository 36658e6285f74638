"""Each `drct` command the DAG runs imports only the heavy packages its job needs (issue 14).

Every job is a new process, and on the 2-core reference machine `import torch` takes 5 s, `timm`
10 s, `open_clip` 13 s (it brings transformers), `diffusers` 10 s: a stray import is paid by every
job. So, per command (found in the rules' shell commands), this test runs in a fresh interpreter
what the job imports: the handler's import statements in src/drct/cli/ (and of the helpers it
calls), the real `drct metrics` / `drct perturbed-metrics` on tiny files, and for the model
commands the building of the demo config's backbones, one model family per process, then reads
`sys.modules`. Commands with the same forbidden set share a process (the union of their imports
must be clean, so each one is), which keeps the test to a few interpreters.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

#: the packages that cost seconds to import
HEAVY = ("torch", "torchvision", "timm", "open_clip", "diffusers", "transformers", "albumentations")
NO_TORCH = set(HEAVY)
#: each model family's job: its own backbone library only (open_clip imports timm itself)
NOT_FOR_TIMM = {"open_clip", "diffusers", "transformers"}
NOT_FOR_OPEN_CLIP = {"diffusers"}
NOT_FOR_RECONSTRUCTION = {"timm", "open_clip", "albumentations"}

#: commands that load a detector (one family per process below) or a diffusion model
MODEL_COMMANDS = {"train-run", "import-released", "score"}
#: and the BLIP captioner of De-fake (torch and transformers, in the reconstruct env too)
RECONSTRUCTION_COMMANDS = {"build-demo-model", "reconstruct-shard", "build-demo-captioner", "caption-shard"}


def dag_commands() -> set[str]:
    """Every `drct` subcommand a rule of rules/*.smk runs."""
    return {m for path in (ROOT / "rules").glob("*.smk") for m in re.findall(r'"drct ([a-z][a-z-]*)', path.read_text())}


def handler_imports() -> dict[str, list[str]]:
    """Subcommand -> the import statements of its handler and of the module-level helpers it calls."""
    imports: dict[str, list[str]] = {}
    for path in sorted((ROOT / "src/drct/cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "add_command"):
                continue
            name, handler = node.args[1], node.args[2]
            assert isinstance(name, ast.Constant) and isinstance(handler, ast.Name), ast.unparse(node)
            seen, todo = [], [functions[handler.id]]
            while todo:  # the handler and the helpers it calls, transitively
                function = todo.pop()
                if function in seen:
                    continue
                seen.append(function)
                todo += [functions[n.id] for n in ast.walk(function) if isinstance(n, ast.Name) and n.id in functions]
            statements = [ast.unparse(n) for f in seen for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))]
            imports[name.value] = [f"import drct.cli.{path.stem}", *dict.fromkeys(statements)]
    return imports


def demo_backbones(family: str) -> list[dict]:
    """The demo config's backbones of one family, as TrainSettings fields."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return [{k: b[k] for k in ("family", "model_name", "pretrained", "freeze_backbone", "batch_size")}
            for b in config["training"]["backbones"] if b["family"] == family]


def loaded_heavy(code: str, cwd: Path) -> list[str]:
    """The heavy packages in sys.modules after ``code`` ran in a fresh interpreter."""
    probe = code + f"\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    env = {"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _metrics_inputs(folder: Path) -> str:
    """Tiny predictions of one run and the real `drct metrics` / `drct perturbed-metrics` on them."""
    protocol = {"name": "p", "real_source": "shared", "real_generator": "real",
                "columns": [{"generator": "a", "label": "A"}]}
    rows = ["path,dataset,generator,split,label,score"]
    rows += [f"r{i}.png,d,real,test,0,{0.1 + 0.05 * i}" for i in range(4)]
    rows += [f"a{i}.png,d,a,test,1,{0.4 + 0.1 * i}" for i in range(4)]
    (folder / "predictions.csv").write_text("\n".join(rows) + "\n")
    perturbed = ["perturbation,kind,strength," + rows[0]]
    perturbed += [f"{p},{k},{s},{row}" for p, k, s in (("png", "png", ""), ("jpeg-60", "jpeg", 60)) for row in rows[1:]]
    (folder / "perturbed.csv").write_text("\n".join(perturbed) + "\n")
    metrics = [{"protocol": protocol, "predictions": "predictions.csv", "out": "metrics.json", "roc": "roc.csv",
                "pr": "pr.csv"}]
    perturbed_metrics = [{"protocol": protocol, "predictions": "perturbed.csv", "out": "perturbed_metrics.csv"}]
    return textwrap.dedent(f"""
        from drct.cli import main
        assert main(["metrics", "--protocols", {json.dumps(metrics)!r}, "--run", "r",
                     "--bootstrap", '{{"replicates": 20, "level": 0.95, "seed": 0}}']) == 0
        assert main(["perturbed-metrics", "--protocols", {json.dumps(perturbed_metrics)!r}, "--run", "r"]) == 0
    """)


def _build(family: str) -> str:
    """Build each demo backbone of ``family`` as a job does (no pretrained weights: the demo has none)."""
    return textwrap.dedent(f"""
        from drct.training.model import build_model
        from drct.training.settings import TrainSettings
        for fields in {demo_backbones(family)!r}:
            build_model(TrainSettings(**fields, real=("real",), fake=("fake",)), load_pretrained=False)
    """)


def test_every_dag_command_is_checked() -> None:
    commands, imports = dag_commands(), handler_imports()
    assert commands <= set(imports), f"rules run commands no handler registers: {sorted(commands - set(imports))}"
    assert MODEL_COMMANDS | RECONSTRUCTION_COMMANDS <= commands
    assert demo_backbones("timm") and demo_backbones("open_clip"), "the demo trains both model families"


@pytest.mark.slow
def test_each_command_imports_only_what_its_job_needs(tmp_path: Path) -> None:
    imports = handler_imports()
    commands = dag_commands()
    light = sorted(commands - MODEL_COMMANDS - RECONSTRUCTION_COMMANDS)

    def statements(names) -> str:
        return "\n".join(s for name in sorted(names) for s in imports[name])

    models = statements(MODEL_COMMANDS)
    checks = {  # name -> (code, forbidden packages)
        f"{', '.join(light)} (and metrics on tiny files)": (statements(light) + _metrics_inputs(tmp_path), NO_TORCH),
        "train-run, import-released, score of the timm backbones": (models + _build("timm"), NOT_FOR_TIMM),
        "train-run, import-released, score of the open_clip backbones": (models + _build("open_clip"),
                                                                         NOT_FOR_OPEN_CLIP),
        "build-demo-model, reconstruct-shard": (statements(RECONSTRUCTION_COMMANDS), NOT_FOR_RECONSTRUCTION),
        # the modules every model job imports, whichever family it builds, import neither library
        "drct.training.model, .checkpoint, drct.evaluation.score": (
            "import drct.training.model, drct.training.checkpoint, drct.evaluation.score", {"timm", "open_clip"}),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = dict(zip(checks, pool.map(lambda c: loaded_heavy(c[0], tmp_path), checks.values())))
    stray = {what: sorted(set(found[what]) & forbidden) for what, (_, forbidden) in checks.items()}
    assert not any(stray.values()), f"heavy packages imported by jobs that do not need them: {stray}"
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "perturbed_metrics.csv").is_file()
    # the checks are not vacuous: each model process did load its backbone library
    assert "timm" in found["train-run, import-released, score of the timm backbones"]
    assert "open_clip" in found["train-run, import-released, score of the open_clip backbones"]
