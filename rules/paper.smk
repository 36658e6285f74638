"""Paper outputs: tables in the paper's layout with its rows beside ours, and the accuracy figure.

Reads only metrics files, so it needs no GPU, no torch and no raw data.
"""


def _paper_inputs(wc):
    protocol = find(config["evaluation"]["protocols"], wc.protocol, "protocol")
    return [f"{eval_dir(wc.protocol, run.id)}/metrics.json" for run in runs_for_protocol(config, protocol)]


def _paper_params(wc):
    protocol = find(config["evaluation"]["protocols"], wc.protocol, "protocol")
    return {
        "paper_table": protocol["paper_table"],
        "title": protocol.get("title", protocol["name"]),
        "demo": config["demo"],
        "columns": protocol["columns"],
        "runs": [run_meta(config, run) for run in runs_for_protocol(config, protocol)],
    }


rule tables:
    """One protocol's table (Markdown, CSV) and per-generator accuracy figure, ours beside the paper's."""
    input:
        metrics=_paper_inputs,
    output:
        markdown=f"{OUT}/paper/{{protocol}}/table.md",
        csv=f"{OUT}/paper/{{protocol}}/table.csv",
        figure=f"{OUT}/paper/{{protocol}}/accuracy.png",
    params:
        spec=lambda wc: as_json(_paper_params(wc)),
        out_dir=lambda wc: f"{OUT}/paper/{wc.protocol}",
    log:
        f"logs/{EXPERIMENT}/tables/{{protocol}}.log",
    conda:
        "../envs/paper.yaml"
    shell:
        "drct tables --spec {params.spec:q} --metrics {input.metrics:q} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule paper:
    """Aggregate target: every protocol's table and figure."""
    input:
        [f"{OUT}/paper/{p['name']}/table.md" for p in config["evaluation"]["protocols"]],
