"""Snakemake's DAG and dvc.yaml agree, for the demo and for every paper preset (no data needed).

dvc.yaml is a second description of the pipeline, at the level of phases. These checks keep it
from drifting away from the Snakemake workflow, which stays the only description of the jobs:

- every file Snakemake's DAG writes lies under exactly one DVC stage's outs, and running DVC's
  stage targets builds the same files as Snakemake's default target;
- every stage's command calls Snakemake on targets that exist;
- DVC orders the phases as Snakemake's rules depend on each other;
- each experiment writes only under results/<experiment>/ and the shared data folders;
- every rule file and every drct module a stage's code imports is a dependency of that stage;
- DVC's metric and plot folders hold only files of their kind.

dvc.yaml takes the experiment from config.yaml, so a preset is checked by resolving dvc.yaml in a
scratch folder whose config.yaml is the preset, exactly as a clone running that preset does.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

#: four Snakemake DAG builds per experiment (7 experiments): part of the full suite, not of the fast set
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = shutil.which("snakemake", path=str(BIN)) or "snakemake"
CONFIGS = {"demo": (ROOT / "config.yaml", {})}
CONFIGS |= {p.stem: (p, {}) for p in sorted((ROOT / "presets").glob("*.yaml"))}
# Folders that only some settings fill: reconstruction in a published-mode preset, prefetched weights.
CONFIGS |= {
    "drct2m_intra+recompute": (ROOT / "presets" / "drct2m_intra.yaml", {"reconstruction": {"mode": "recompute"}}),
    "drct2m_intra+prefetch": (ROOT / "presets" / "drct2m_intra.yaml", {"weights": {"prefetch": True}}),
}
SHARED = ("results/data", "results/downloads")


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", HF_HUB_OFFLINE="1")


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]

    def snakemake_targets(self) -> list[str]:
        """Targets of the one `snakemake` call in the command (the tokens that are not options)."""
        calls = [shlex.split(part) for part in self.cmd.split("&&")]
        calls = [c for c in calls if c and Path(c[0]).name == "snakemake"]
        assert len(calls) == 1, f"stage {self.name}: expected one snakemake call in {self.cmd!r}"
        options_with_values = {"--cores", "-c", "--jobs", "-j", "--configfile", "--snakefile", "--directory"}
        targets, args = [], iter(calls[0][1:])
        for token in args:
            if token in options_with_values:
                next(args, None)
            elif not token.startswith("-"):
                targets.append(token)
        return targets

    def made_dirs(self) -> set[str]:
        """Folders the command creates before Snakemake runs (`mkdir -p ...`)."""
        made: set[str] = set()
        for part in self.cmd.split("&&"):
            words = shlex.split(part)
            if words[:2] == ["mkdir", "-p"]:
                made |= set(words[2:])
        return made


def _under(path: str, folder: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(folder) or PurePosixPath(folder) in PurePosixPath(path).parents


def _overlap(a: str, b: str) -> bool:
    return _under(a, b) or _under(b, a)


def dvc_stages(workdir: Path) -> dict[str, Stage]:
    """The stages of dvc.yaml as DVC resolves them in ``workdir`` (templating, foreach)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    shutil.copy(ROOT / "dvc.yaml", workdir / "dvc.yaml")
    Repo.init(str(workdir), no_scm=True)
    with Repo(str(workdir)) as repo:
        stages = {}
        for st in repo.index.stages:
            params = [f"{d.def_path}:{p}" for d in st.deps if isinstance(d, ParamsDependency) for p in d.params]
            deps = [d.def_path for d in st.deps if not isinstance(d, ParamsDependency)]
            stages[st.name] = Stage(st.name, st.cmd, tuple(deps), tuple(params),
                                          tuple(o.def_path for o in st.outs))
    return stages


def _snakemake(workdir: Path, *args: str) -> str:
    result = subprocess.run(
        [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), *args],
        cwd=workdir, env=_env(), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def dag_outputs(workdir: Path, *targets: str) -> dict[str, str]:
    """{output file: rule} of every job in the DAG of ``targets`` (`snakemake --summary`)."""
    lines = _snakemake(workdir, "--summary", *targets).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    rows = [line.split("\t") for line in lines[start + 1:] if "\t" in line]
    return {row[0]: row[2] for row in rows}


def rule_edges(workdir: Path, *targets: str) -> set[tuple[str, str]]:
    """(upstream rule, downstream rule) pairs of the rule graph (`snakemake --rulegraph`)."""
    dot = _snakemake(workdir, "--rulegraph", "dot", *targets)
    names = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M))
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)}


def target_rules(workdir: Path) -> set[str]:
    return {line.split()[0] for line in _snakemake(workdir, "--list-target-rules").splitlines() if line.strip()}


@dataclass(frozen=True)
class Views:
    experiment: str
    config: dict
    stages: dict[str, Stage]
    outputs: dict[str, str]
    default_outputs: dict[str, str]
    edges: set[tuple[str, str]]
    targets: set[str]
    top_level: dict
    #: each DAG file -> the (stage, out) pairs whose out holds it (built once: the presets write
    #: tens of thousands of files, and every check asks)
    holders: dict[str, list[tuple[str, str]]]


def _holders(files: list[str], stages: dict[str, Stage]) -> dict[str, list[tuple[str, str]]]:
    """For each file, the (stage, out) pairs with the file at or under the out: a lookup of the file's
    own path and each folder above it, instead of comparing every file with every out."""
    by_out: dict[str, list[tuple[str, str]]] = {}
    for st in stages.values():
        for out in st.outs:
            by_out.setdefault(str(PurePosixPath(out)), []).append((st.name, out))
    holders = {}
    for path in files:
        pure = PurePosixPath(path)
        holders[path] = [pair for folder in (pure, *pure.parents) for pair in by_out.get(str(folder), [])]
    return holders


def _merge(base: dict, overrides: dict) -> dict:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return merged


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def views(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Views:
    """Both descriptions of one experiment: dvc.yaml resolved with it as config.yaml, and Snakemake's DAG."""
    path, overrides = CONFIGS[request.param]
    workdir = tmp_path_factory.mktemp("config")
    config = _merge(yaml.safe_load(path.read_text()), overrides)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    stages = dvc_stages(workdir)
    dvc_targets = sorted({t for st in stages.values() for t in st.snakemake_targets()})
    top_level = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outputs = dag_outputs(workdir, *dvc_targets)
    return Views(
        experiment=config["experiment"],
        config=config,
        stages=stages,
        outputs=outputs,
        default_outputs=dag_outputs(workdir),
        edges=rule_edges(workdir, *dvc_targets),
        targets=target_rules(workdir),
        top_level={k: top_level.get(k, []) for k in ("metrics", "plots")},
        holders=_holders(list(outputs), stages),
    )


def _owners(path: str, stages: dict[str, Stage]) -> list[str]:
    return [st.name for st in stages.values() for out in st.outs if _under(path, out)]


def _ancestors(stages: dict[str, Stage]) -> dict[str, set[str]]:
    """For each stage, the stages whose outs it depends on, directly or not."""
    direct = {
        s.name: {t.name for t in stages.values() if t.name != s.name and any(_overlap(d, o) for d in s.deps for o in t.outs)}
        for s in stages.values()
    }
    closure = {name: set(ups) for name, ups in direct.items()}
    changed = True
    while changed:
        changed = False
        for name, ups in closure.items():
            more = set().union(*(closure[u] for u in ups)) - ups if ups else set()
            if more:
                ups |= more
                changed = True
    return closure


def test_every_dag_file_lies_under_exactly_one_stage(views: Views) -> None:
    problems = {f: owners for f in views.outputs if len(owners := [st for st, _ in views.holders[f]]) != 1}
    assert not problems, f"files under no stage or several: {dict(list(problems.items())[:10])}"


def test_dvc_targets_build_what_snakemake_builds_by_default(views: Views) -> None:
    assert set(views.outputs) == set(views.default_outputs), (
        f"only via DVC: {sorted(set(views.outputs) - set(views.default_outputs))[:10]}; "
        f"only via `all`: {sorted(set(views.default_outputs) - set(views.outputs))[:10]}"
    )


def test_every_stage_calls_existing_snakemake_targets(views: Views) -> None:
    for stage in views.stages.values():
        targets = stage.snakemake_targets()
        assert targets, f"stage {stage.name} names no Snakemake target"
        assert set(targets) <= views.targets, f"stage {stage.name}: {set(targets) - views.targets} are not target rules"


def test_every_out_holds_dag_files_or_is_created_by_its_stage(views: Views) -> None:
    """An out no job writes into must be made by the stage (DVC needs it to exist), and only then."""
    holding = {out for pairs in views.holders.values() for _, out in pairs}
    for stage in views.stages.values():
        for out in stage.outs:
            written = out in holding
            assert written or out in stage.made_dirs(), f"stage {stage.name}: nothing writes {out}"
        assert stage.made_dirs() <= set(stage.outs), f"stage {stage.name} creates folders it does not own"


def rule_stages(views: Views) -> dict[str, set[str]]:
    """The stages each rule writes into (train_run: one per backbone; any other rule: one)."""
    owners: dict[str, set[str]] = {}
    for path, rule in views.outputs.items():
        owners.setdefault(rule, set()).update(st for st, _ in views.holders[path])
    return owners


def test_each_stage_depends_on_the_outs_its_jobs_read(views: Views) -> None:
    """DVC reruns a stage only when its own deps change: when a rule of stage S reads files that a
    rule of stage T writes into out O, S must list O (or a folder above or inside it) as a dep."""
    owners = rule_stages(views)
    outs_written: dict[str, set[str]] = {}  # rule -> the outs its files lie in
    for path, rule in views.outputs.items():
        outs_written.setdefault(rule, set()).update(out for _, out in views.holders[path])
    for upstream, downstream in views.edges:
        for down in owners.get(downstream, set()) - owners.get(upstream, set()):
            for out in outs_written.get(upstream, set()):
                assert any(_overlap(dep, out) for dep in views.stages[down].deps), (
                    f"rule {downstream} (stage {down}) reads what rule {upstream} writes into {out}, "
                    f"but stage {down} does not depend on {out}"
                )


def test_dvc_orders_the_phases_as_snakemake_rules_depend(views: Views) -> None:
    owners = rule_stages(views)
    ancestors = _ancestors(views.stages)
    for upstream, downstream in views.edges:
        ups, downs = owners.get(upstream, set()), owners.get(downstream, set())
        if ups == downs:
            continue  # within one phase (aggregate rules write nothing: both empty)
        for up in ups:
            for down in downs:
                assert up == down or up in ancestors[down], (
                    f"rule {downstream} (stage {down}) reads rule {upstream}'s files (stage {up}), "
                    f"but stage {down} does not come after stage {up}"
                )
    assert not any(name in ups for name, ups in ancestors.items()), "the stages form a cycle"


def test_each_experiment_writes_only_its_own_folder(views: Views) -> None:
    own = f"results/{views.experiment}"
    for stage in views.stages.values():
        for out in stage.outs:
            assert _under(out, own) or out in SHARED, f"stage {stage.name} writes {out}, outside {own}"
    for path in views.outputs:
        assert _under(path, own) or any(_under(path, s) for s in SHARED), path


@functools.cache
def _module_files(module: str) -> list[str]:
    """Files that importing ``drct.x.y`` executes: each package's __init__.py and the module itself."""
    parts = module.split(".")
    files = [f"src/{'/'.join(parts[:i])}/__init__.py" for i in range(1, len(parts))]
    leaf = "/".join(parts)
    files.append(f"src/{leaf}/__init__.py" if (ROOT / "src" / leaf).is_dir() else f"src/{leaf}.py")
    return [f for f in files if (ROOT / f).exists()]


def _imports(source: str, package: str = "") -> set[str]:
    """drct modules a file imports, at any depth of the file (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "drct"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            if base.split(".")[0] == "drct":
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names if (ROOT / "src" / base.replace(".", "/") / a.name).is_dir()
                          or (ROOT / "src" / base.replace(".", "/") / f"{a.name}.py").exists()}
    return found


@functools.cache
def _file_modules(path: str) -> frozenset[str]:
    """The drct modules one file imports (parsed once per session: every stage of every experiment asks)."""
    if path.startswith("src/drct/cli/"):  # handlers import lazily: _cli_modules() counts them per command
        tree = ast.parse((ROOT / path).read_text())
        return frozenset(_imports(ast.unparse([n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))])))
    if path.startswith("src/drct") and path.endswith(".py"):
        package = ".".join(Path(path).relative_to("src").with_suffix("").parts)
        if not path.endswith("__init__.py"):
            package = package.rsplit(".", 1)[0]
        return frozenset(_imports((ROOT / path).read_text(), package))
    # Snakefile or rules/*.smk: the imports Snakemake runs when it parses them
    return frozenset(re.findall(r"^(?:from|import)\s+(drct[\w.]*)", (ROOT / path).read_text(), flags=re.M))


def _closure(files: set[str]) -> set[str]:
    """Every drct source file that running ``files`` imports, transitively."""
    seen, todo = set(), list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _file_modules(path):
            todo += _module_files(module)
    return {f for f in seen if f.startswith("src/")}


@functools.cache
def _cli_modules() -> dict[str, set[str]]:
    """``drct`` subcommand -> drct modules its handler imports (the CLI imports lazily, per command),
    with the imports of the module-level helpers the handler calls and of the CLI package itself."""
    commands = {}
    package = {"drct.cli", "drct.cli.arguments", "drct.errors"}
    for path in sorted((ROOT / "src/drct/cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        module = f"drct.cli.{path.stem}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "add_command" and len(node.args) >= 3
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[2], ast.Name)):
                handler = functions[node.args[2].id]
                called = {n.id for n in ast.walk(handler) if isinstance(n, ast.Name) and n.id in functions}
                body = "\n".join(ast.unparse(functions[name]) for name in {handler.name, *called})
                commands[node.args[1].value] = _imports(body, "drct") | package | {module}
    return commands


@functools.cache
def _rules() -> dict[str, tuple[str, set[str]]]:
    """Rule name -> (its rule file, the ``drct`` subcommands its shell command runs)."""
    rules: dict[str, tuple[str, set[str]]] = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        blocks = re.split(r"^rule (\w+):", smk.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            rules[name] = (f"rules/{smk.name}", set(re.findall(r"\bdrct ([a-z][a-z-]+)", body)))
    return rules


def test_code_dependencies_cover_the_rules_and_the_imports(views: Views) -> None:
    """Each stage depends on its rule files, on what Snakemake imports to parse them, and on the
    code of every `drct` subcommand its jobs run, with everything that code imports."""
    included = re.findall(r'^include:\s*"([^"]+)"', (ROOT / "Snakefile").read_text(), flags=re.M)
    all_deps = {d for st in views.stages.values() for d in st.deps}
    assert set(included) <= all_deps, f"rule files no stage depends on: {set(included) - all_deps}"
    base = {"Snakefile", "rules/common.smk", "rules/dvc.smk", "workflow/schemas/config.schema.yaml", "src/drct/cli"}
    parse_code = _closure({"Snakefile", *included})
    cli, rules, owners = _cli_modules(), _rules(), rule_stages(views)
    for stage in views.stages.values():
        own = {r for r, stages in owners.items() if stage.name in stages} | set(stage.snakemake_targets())
        needed = base | {rules[r][0] for r in own if r in rules}
        assert needed <= set(stage.deps), f"stage {stage.name} does not depend on {needed - set(stage.deps)}"
        run = {c for r in own if r in rules for c in rules[r][1]}
        run |= {w[1] for part in stage.cmd.split("&&") if (w := shlex.split(part))[0] == "drct"}  # its own cmd
        assert run <= set(cli), f"rules of stage {stage.name} call unknown drct subcommands {run - set(cli)}"
        code = parse_code | _closure({f for c in run for m in cli[c] for f in _module_files(m)})
        uncovered = {f for f in code if not any(_under(f, d) for d in stage.deps)}
        assert not uncovered, f"stage {stage.name} runs code it does not depend on: {sorted(uncovered)}"


def test_params_exist_in_the_config(views: Views) -> None:
    """DVC reads params from config.yaml as written (no schema defaults): a missing key stops `dvc status`."""
    for stage in views.stages.values():
        for param in stage.params:
            file, _, key = param.partition(":")
            assert file == "config.yaml", param
            node = views.config
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"stage {stage.name}: {key} is not in the config"
                node = node[part]


def test_metrics_and_plots_folders_hold_one_kind_of_file(views: Views) -> None:
    def resolve(path: str) -> str:
        resolved = path.replace("${experiment}", views.experiment)
        assert "${" not in resolved, resolved
        return resolved

    kinds = [(resolve(p), (".json",)) for p in views.top_level["metrics"]]
    kinds += [(resolve(next(iter(p)) if isinstance(p, dict) else p), (".csv", ".json")) for p in views.top_level["plots"]]
    for folder, suffixes in kinds:
        assert len(_owners(folder, views.stages)) == 1, f"{folder} is not inside one stage's outs"
        inside = [f for f in views.outputs if _under(f, folder)]
        assert inside, f"no job writes into {folder}"
        wrong = [f for f in inside if not f.endswith(suffixes)]
        assert not wrong, f"DVC would parse these as metrics/plot data: {wrong}"
